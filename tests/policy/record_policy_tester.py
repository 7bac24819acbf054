"""Record policy-controller's ``policy-tester`` verdicts on the case table.

    python -m tests.policy.record_policy_tester [--tester ~/go/bin/policy-tester]

Starts a docker-registry on a free loopback port, builds the world of
tests/policy/tester_cases.py (signing with sigstack, cosign and cosign-v2 from
~/go/bin), runs every case through the real tester, and writes the normalised
outcomes to tests/policy/data/policy_tester_verdicts.json (with the tester's
version), so the table test needs no 15-minute Go build. It also runs
``sigstack policy test`` on each case and prints where the two differ.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from tests.oci.ocihelpers import start_registry
from tests.policy.tester_cases import (
    CASES,
    RECORDING,
    World,
    build_world,
    keyless_services,
    run_policy_tester,
    run_sigstack,
)


def record(world: World, tester: str, version: str, tmp: Path) -> None:
    verdicts = {}
    differ = 0
    for case in CASES:
        theirs = run_policy_tester(tester, case, world, tmp)
        ours = run_sigstack(case, world, tmp)
        verdicts[case.name] = theirs.to_json()
        if ours != theirs:
            differ += 1
            print(f"DIFF {case.name}{' (divergence: ' + case.divergence + ')' if case.divergence else ''}\n"
                  f"  policy-tester: {theirs}\n  sigstack:      {ours}")
    RECORDING.parent.mkdir(parents=True, exist_ok=True)
    RECORDING.write_text(json.dumps({"policy_tester_version": version, "verdicts": verdicts},
                                    indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(verdicts)} cases in {RECORDING}; {differ} differ")


def main() -> int:
    bin_dir = Path.home() / "go" / "bin"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tester", default=str(bin_dir / "policy-tester"))
    args = parser.parse_args()
    version = (bin_dir / ".policy-tester-version").read_text().strip() \
        if (bin_dir / ".policy-tester-version").exists() else "unknown"
    tmp = Path(tempfile.mkdtemp(prefix="record-policy-tester-"))
    registry = start_registry(tmp / "registry", "")
    (tmp / "keyless").mkdir()
    try:
        with keyless_services(tmp / "keyless") as services:
            world = build_world(registry, tmp, str(bin_dir / "cosign"), str(bin_dir / "cosign-v2"), services)
            record(world, args.tester, version, tmp)
    finally:
        registry.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
