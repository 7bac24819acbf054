"""The fast fuzz budget: every target with a fixed, derandomized draw of mutants.

A few seconds in all: ``FAST_EXAMPLES`` hypothesis draws per target, then
``FAST_RANDOM`` mutants of the random engine (the long budget's) from a fixed seed, so
both engines run in the suite and stay deterministic. The long budget is
``scripts/fuzz --executions N`` (tests/fuzz/run.py), and its figures are in
docs/reliability.md. A finding here fails with the mutant that caused it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.mutate import RandomMutator, mutants
from tests.fuzz.targets import TARGETS, Target, attempt

FAST_EXAMPLES = 50
FAST_RANDOM = 80


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


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_target_random_engine(target: Target) -> None:
    mutator = RandomMutator(target.seeds(), text=target.text, seed=20261201)
    target.stats.clear()
    for _ in range(FAST_RANDOM):
        data = mutator()
        accepted = target.stats.get("accepted", 0)
        try:
            attempt(target, data)
        except Exception as exc:
            exc.add_note(f"mutant: {data[:300]!r}")
            raise
        if target.stats.get("accepted", 0) > accepted:
            mutator.keep(data)
    assert sum(target.stats.values()) == FAST_RANDOM
