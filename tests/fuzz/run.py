"""The long fuzz budget: ``scripts/fuzz --minutes N [--target NAME ...]``.

Splits the minutes evenly over the targets and, for each, runs chunks of random
(not derandomized) hypothesis draws until its share is spent. A finding is shrunk by
hypothesis, printed with its traceback's last frame and the mutant, and the run goes
on with the next chunk. The summary (executions, rate, accepted/rejected, findings)
is what docs/reliability.md reports.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.mutate import mutants
from tests.fuzz.targets import BY_NAME, TARGETS, Target, attempt

CHUNK = 2000


def fuzz_target(target: Target, seconds: float, shrink: bool) -> tuple[int, float, list[str]]:
    seeds = target.seeds()
    findings: list[str] = []
    runs = 0
    started = time.monotonic()
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    while time.monotonic() - started < seconds:
        @settings(max_examples=CHUNK, deadline=None, database=None, phases=phases,
                  suppress_health_check=list(HealthCheck))
        @given(mutants(seeds, text=target.text))
        def chunk(data: bytes) -> None:
            nonlocal runs
            if time.monotonic() - started > seconds:
                return  # the budget is spent: the rest of the chunk is skipped, not counted
            runs += 1
            try:
                attempt(target, data)
            except Exception as exc:
                exc.add_note(f"mutant: {data[:300]!r}{'...' if len(data) > 300 else ''}")
                raise

        try:
            chunk()
        except Exception as exc:  # a finding: report it, keep fuzzing
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            line = (f"{type(exc).__name__}: {str(exc)[:200]} at {frame.filename.split('src/')[-1]}:"
                    f"{frame.lineno} | {' '.join(getattr(exc, '__notes__', []))[:400]}")
            if line not in findings:
                findings.append(line)
                print(f"  FINDING {target.name}: {line}", flush=True)
    return runs, time.monotonic() - started, findings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz")
    ap.add_argument("--minutes", type=float, default=1.0, help="total budget, split over the targets")
    ap.add_argument("--target", action="append", choices=sorted(BY_NAME), help="only these (repeatable)")
    ap.add_argument("--no-shrink", action="store_true", help="report findings unshrunk (faster)")
    args = ap.parse_args(argv)
    targets = [BY_NAME[n] for n in args.target] if args.target else TARGETS
    share = args.minutes * 60 / len(targets)
    print(f"{'target':16} {'executions':>10} {'seconds':>8} {'per s':>7} {'accepted':>9} {'rejected':>9} findings")
    total = 0
    found = 0
    for t in targets:
        t.stats.clear()
        runs, secs, findings = fuzz_target(t, share, not args.no_shrink)
        total += runs
        found += len(findings)
        print(f"{t.name:16} {runs:>10} {secs:>8.1f} {runs / secs:>7.0f} {t.stats.get('accepted', 0):>9} "
              f"{t.stats.get('rejected', 0):>9} {len(findings)}", flush=True)
    print(f"total executions: {total}; findings: {found}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
