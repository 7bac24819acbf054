"""The fast fuzz budget: every target with a fixed, derandomized draw of mutants.

A few seconds in all (``FAST_EXAMPLES`` per target); the long budget is
``scripts/fuzz --minutes N`` (tests/fuzz/run.py), and its figures are in
docs/reliability.md. A finding here fails with the mutant that caused it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.mutate import mutants
from tests.fuzz.targets import TARGETS, Target, attempt

FAST_EXAMPLES = 60


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_target(target: Target) -> None:
    seeds = target.seeds()
    assert seeds, f"{target.name} has no seeds"
    target.stats.clear()
    for s in seeds:  # mutants start from accepted input (a few seeds are known-bad vectors)
        attempt(target, s)
    assert target.stats.get("accepted", 0) >= 1, f"no seed of {target.name} is accepted"

    @settings(max_examples=FAST_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutants(seeds, text=target.text))
    def fuzz(data: bytes) -> None:
        attempt(target, data)

    fuzz()
