"""``sigstack policy test`` against policy-controller's own ``policy-tester`` on the case
table of tests/policy/tester_cases.py (69 cases: key authorities with images signed by
sigstack, cosign v3 and cosign v2; keyless authorities with a TrustRoot listing our CA,
CT log and transparency log (as sigstoreKeys, and as a TUF repository built with
python-tuf: served on 127.0.0.1 as ``remote``, serialized as ``repository``), the image
signed keylessly by cosign v3 in both layouts (legacy ``.sig``/``.att`` and bundles); static; warn;
globs; no-match; several policies; attestations with Rego; CIP-level policies; match on
resources; invalid policies).

The tester's verdicts are recorded (tests/policy/data/policy_tester_verdicts.json, by
``python -m tests.policy.record_policy_tester``); each case checks sigstack's exit code,
JSON output and error line against the recording, byte for byte after normalising the
run's random parts. When the real tester is installed (``../shared/peers/build-policy-tester``)
the recording itself is re-checked against a live run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.ocihelpers import Registry
from tests.policy.tester_cases import (
    CASES,
    RECORDING,
    Case,
    Outcome,
    World,
    build_world,
    keyless_services,
    run_policy_tester,
    run_sigstack,
)

TESTER = Path.home() / "go" / "bin" / "policy-tester"


@pytest.fixture(scope="module")
def world(registry: Registry, cosign: str, cosign_v2: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    with keyless_services(tmp_path_factory.mktemp("keyless")) as services:
        yield build_world(registry, tmp_path_factory.mktemp("world"), cosign, cosign_v2, services)


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, object]]:
    doc = json.loads(RECORDING.read_text())
    assert doc["policy_tester_version"] == "v0.15.1"
    verdicts: dict[str, dict[str, object]] = doc["verdicts"]
    return verdicts


def test_the_table_is_large_and_recorded(recorded: dict[str, dict[str, object]]) -> None:
    assert len(CASES) >= 30
    assert {c.name for c in CASES} == set(recorded)
    codes = {c.name: recorded[c.name]["code"] for c in CASES}
    assert 0 in codes.values() and 1 in codes.values()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sigstack_matches_policy_tester(case: Case, world: World, recorded: dict[str, dict[str, object]],
                                        tmp_path: Path) -> None:
    ours = run_sigstack(case, world, tmp_path)
    theirs = Outcome(**recorded[case.name])  # type: ignore[arg-type]
    if case.divergence:
        assert ours.code == case.sigstack_code, ours
        if case.sigstack_out:
            assert ours.out == case.sigstack_out
        assert (theirs.code, theirs.out) != (ours.code, ours.out)
        return
    if case.random_order:  # which warnings the tester prints beside its error varies by run
        assert (ours.code, json.loads(ours.out)["errors"]) == (theirs.code, json.loads(theirs.out)["errors"])
        return
    assert ours == theirs


@pytest.mark.interop
@pytest.mark.skipif(shutil.which(str(TESTER)) is None, reason="policy-tester is not built "
                    "(../shared/peers/build-policy-tester); the recording stands in for it")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_recording_matches_live_policy_tester(case: Case, world: World, recorded: dict[str, dict[str, object]],
                                              tmp_path: Path) -> None:
    live = run_policy_tester(str(TESTER), case, world, tmp_path)
    want = Outcome(**recorded[case.name])  # type: ignore[arg-type]
    if case.random_order:
        assert (live.code, json.loads(live.out)["errors"]) == (want.code, json.loads(want.out)["errors"])
        return
    assert live == want
