"""Coverage-guided fuzzing of one target with atheris (libFuzzer), in its own process.

``scripts/fuzz --engine atheris`` runs this once per task (``python -m
tests.fuzz.guided``): libFuzzer keeps the inputs that reach new branches of sigstack's
code (its modules are instrumented as the target first imports them) and mutates
those, so mutants stack on the inputs that got furthest, where the random engine
draws from the seeds and a small pool of accepted mutants. The mutations are the same
structured families (tests/fuzz/mutate.py, seeded by libFuzzer so a run is
reproducible), with one in five left to libFuzzer's own byte-level mutator.

A finding does not stop the run: it is printed, its mutant saved (as the random
engine does), and fuzzing goes on; so a libFuzzer "crash" here is a crash of the
fuzzer itself. The counts are written to ``--stats`` (JSON) as the run goes, since
libFuzzer ends the process with ``exit()`` when ``-runs`` is reached.

atheris ships libFuzzer in its wheel (manylinux, CPython 3.11): no clang is needed.
It is the optional ``fuzz`` extra; the random and hypothesis engines need nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fuzz.mutate import MAX_MUTANT, RandomChooser, _parsed, mutate
from tests.fuzz.targets import BY_NAME, attempt


def main(argv: list[str] | None = None) -> int:
    import atheris

    from tests.fuzz.run import FINDINGS, Task, _key, _save, alarm, describe

    ap = argparse.ArgumentParser(prog="tests.fuzz.guided")
    ap.add_argument("--target", required=True, choices=sorted(BY_NAME))
    ap.add_argument("--runs", type=int, default=0, help="executions (0: until --seconds)")
    ap.add_argument("--seconds", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--stats", type=Path, required=True)
    ap.add_argument("--findings", type=Path, default=FINDINGS)
    args = ap.parse_args(argv)
    target = BY_NAME[args.target]
    task = Task(target.name, "atheris", args.runs or None, args.seconds or None, args.seed, args.timeout,
                findings_dir=args.findings)

    with atheris.instrument_imports(include=["sigstack"]):
        seeds = target.seeds()  # imports the target's sigstack modules: instrumented
        for s in seeds:
            attempt(target, s)
    target.stats.clear()

    rng = random.Random(args.seed)
    chooser = RandomChooser(rng)
    state: dict[str, Any] = {"runs": 0, "slowest": 0.0, "findings": [], "started": time.monotonic()}
    seen: set[str] = set()

    def write_stats() -> None:
        args.stats.write_text(json.dumps({**state, "seconds": time.monotonic() - state["started"],
                                          "stats": target.stats}))

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng.seed(seed)
        if rng.random() < 0.2:
            out: bytes = atheris.Mutate(data, max_size)
            return out
        return mutate(chooser, data, _parsed(data), text=target.text)[:max_size]

    def one_input(data: bytes) -> None:
        state["runs"] += 1
        t0 = time.perf_counter()
        try:
            with alarm(args.timeout):
                attempt(target, data)
        except Exception as exc:  # a finding: report it once, keep fuzzing
            key = _key(exc)
            if key not in seen:
                seen.add(key)
                line = f"{describe(exc, data)} (saved: {_save(task, data)})"
                state["findings"].append(line)
                print(f"  FINDING {target.name}: {line}", flush=True)
        state["slowest"] = max(state["slowest"], time.perf_counter() - t0)
        if state["runs"] % 50 == 0 or (args.runs and state["runs"] >= args.runs - 50):
            write_stats()

    with tempfile.TemporaryDirectory(prefix=f"sigstack-fuzz-corpus-{target.name}-") as corpus:
        for i, s in enumerate(seeds):
            (Path(corpus) / f"seed-{i}").write_bytes(s)
        # -len_control=0: the length limit is max_len from the start (it grows slowly otherwise, and
        # the structured mutants cut to it would be mostly truncated JSON)
        flags = [f"-seed={args.seed}", f"-max_len={MAX_MUTANT}", "-len_control=0", "-timeout=0", "-rss_limit_mb=4096",
                 "-print_final_stats=1", "-print_pcs=0"]
        flags += [f"-runs={args.runs}"] if args.runs else []
        flags += [f"-max_total_time={args.seconds}"] if args.seconds else []
        write_stats()
        atheris.Setup([sys.argv[0], *flags, corpus], one_input, custom_mutator=custom_mutator)
        atheris.Fuzz()
    return 0  # not reached: libFuzzer exits


if __name__ == "__main__":
    sys.exit(main())
