"""The long fuzz budget: ``scripts/fuzz [--executions N] [--minutes M] [--target NAME ...]``.

Two engines over the same mutation families (tests/fuzz/mutate.py):

* ``random`` (the default): :class:`~tests.fuzz.mutate.RandomMutator`, one
  ``random.Random`` per task, 7,000-20,000 mutants/s on the cheap parsers where
  hypothesis drew 170-1,000/s. Mutants the parser accepted join a small pool that later
  mutants are drawn from, so mutations stack on inputs that got past the first checks.
  A finding is not shrunk: it is printed (exception, the frame in src/, the mutant's
  start) and the whole mutant saved under ``--findings`` (``.fuzz-findings/``), to
  replay with ``scripts/fuzz --replay FILE --target NAME``.
* ``hypothesis``: random (not derandomized) hypothesis draws in chunks, findings shrunk.
* ``atheris``: coverage-guided (libFuzzer, tests/fuzz/guided.py), one process per task,
  the same structured mutations applied to the inputs that reached new branches; the
  table adds the branches (libFuzzer's ``cov``) reached. Needs the ``fuzz`` extra.

``--jobs`` (default 2, the machine's cores) runs the tasks in that many processes: each
target is split into ``--jobs`` tasks with their own random seed (and their own keys,
made per process). Each execution runs under a ``--timeout`` alarm (10 s): a parser
that does not finish in time is a finding (a hang), and the slowest execution of each
target is reported. ``--executions N`` runs until every target has N executions;
``--minutes M`` instead splits M minutes of wall time evenly over the targets (with
both, whichever ends first). The summary table is what docs/reliability.md reports.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tests.fuzz.targets import BY_NAME, TARGETS, Target, attempt

CHUNK = 2000
#: relative cost of an execution (measured: random engine, per process), to start the slow first
SLOW = {"registry": 30, "keys": 20, "tuf": 25, "log-audit": 15, "oci-layout": 5, "admission": 6,
        "gatekeeper": 3, "trustroot": 3, "x509": 3, "bundle": 2, "jwt": 2}
FINDINGS = Path(__file__).resolve().parents[2] / ".fuzz-findings"


class Hang(Exception):
    """An execution ran past the ``--timeout`` alarm."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"the parser ran for more than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Task:
    target: str
    engine: str
    executions: int | None  # None: until the time is spent
    seconds: float | None
    seed: int
    timeout: float
    shrink: bool = True
    findings_dir: Path = FINDINGS


@dataclass
class Result:
    target: str
    runs: int = 0
    seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    slowest: float = 0.0
    coverage: int = 0  # atheris: branches of sigstack's code reached


def describe(exc: BaseException, data: bytes) -> str:
    """One line: the exception, the innermost frame in src/ (else the last), the mutant."""
    frames = traceback.extract_tb(exc.__traceback__)
    frame = next((f for f in reversed(frames) if "/src/" in f.filename), frames[-1] if frames else None)
    where = f"{frame.filename.split('src/')[-1]}:{frame.lineno}" if frame else "?"
    more = "..." if len(data) > 200 else ""
    return f"{type(exc).__name__}: {str(exc)[:200]} at {where} | mutant: {data[:200]!r}{more}"


def _key(exc: BaseException) -> str:
    """Findings are told apart by exception type and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    return f"{type(exc).__name__}@{last.filename}:{last.lineno}" if last else type(exc).__name__


def _save(task: Task, data: bytes) -> Path:
    task.findings_dir.mkdir(parents=True, exist_ok=True)
    path = task.findings_dir / f"{task.target}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    return path


def run_random(task: Task) -> Result:
    from tests.fuzz.mutate import RandomMutator

    target = BY_NAME[task.target]
    target.stats.clear()
    res = Result(task.target)
    mutator = RandomMutator(target.seeds(), text=target.text, seed=task.seed)
    seen: set[str] = set()
    started = time.monotonic()
    while True:
        if task.executions is not None and res.runs >= task.executions:
            break
        if task.seconds is not None and time.monotonic() - started >= task.seconds:
            break
        data = mutator()
        accepted = target.stats.get("accepted", 0)
        t0 = time.perf_counter()
        try:
            with alarm(task.timeout):
                attempt(target, data)
        except Exception as exc:  # a finding: report it once, keep fuzzing
            key = _key(exc)
            if key not in seen:
                seen.add(key)
                line = f"{describe(exc, data)} (saved: {_save(task, data)})"
                res.findings.append(line)
                print(f"  FINDING {task.target}: {line}", flush=True)
        res.slowest = max(res.slowest, time.perf_counter() - t0)
        res.runs += 1
        if target.stats.get("accepted", 0) > accepted:
            mutator.keep(data)
    res.seconds = time.monotonic() - started
    res.stats = dict(target.stats)
    return res


def run_hypothesis(task: Task) -> Result:
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.fuzz.mutate import mutants

    target = BY_NAME[task.target]
    target.stats.clear()
    res = Result(task.target)
    seeds = target.seeds()
    phases = [Phase.generate, Phase.shrink] if task.shrink else [Phase.generate]
    started = time.monotonic()

    def spent() -> bool:
        return ((task.seconds is not None and time.monotonic() - started > task.seconds)
                or (task.executions is not None and res.runs >= task.executions))

    n = 0
    while not spent():
        n += 1

        left = CHUNK if task.executions is None else max(1, min(CHUNK, task.executions - res.runs))

        @seed(task.seed * 100_003 + n)
        @settings(max_examples=left, deadline=None, database=None, phases=phases,
                  suppress_health_check=list(HealthCheck))
        @given(mutants(seeds, text=target.text))
        def chunk(data: bytes) -> None:
            if spent():
                return  # the budget is spent: the rest of the chunk is skipped, not counted
            res.runs += 1
            t0 = time.perf_counter()
            try:
                with alarm(task.timeout):
                    attempt(target, data)
            except Exception as exc:
                exc.add_note(f"mutant: {data[:300]!r}{'...' if len(data) > 300 else ''}")
                raise
            finally:
                res.slowest = max(res.slowest, time.perf_counter() - t0)

        try:
            chunk()
        except Exception as exc:  # a finding (shrunk): report it, keep fuzzing
            line = f"{describe(exc, b'')} {' '.join(getattr(exc, '__notes__', []))[:400]}"
            if line not in res.findings:
                res.findings.append(line)
                print(f"  FINDING {task.target}: {line}", flush=True)
    res.seconds = time.monotonic() - started
    res.stats = dict(target.stats)
    return res


def run_atheris(task: Task) -> Result:
    import json
    import re
    import subprocess
    import tempfile

    res = Result(task.target)
    with tempfile.TemporaryDirectory(prefix="sigstack-fuzz-guided-") as tmp:
        stats, log = Path(tmp) / "stats.json", Path(tmp) / "libfuzzer.log"
        cmd = [sys.executable, "-m", "tests.fuzz.guided", "--target", task.target, "--seed", str(task.seed),
               "--timeout", str(task.timeout), "--stats", str(stats), "--findings", str(task.findings_dir)]
        cmd += ["--runs", str(task.executions)] if task.executions else []
        cmd += ["--seconds", str(max(1, int(task.seconds)))] if task.seconds else []
        with log.open("wb") as err:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, cwd=Path(__file__).resolve().parents[2],
                                  check=False)
        sys.stdout.write(proc.stdout.decode(errors="replace"))
        text = log.read_text(errors="replace")
        if not stats.is_file():
            res.findings.append(f"the fuzzer did not start (exit {proc.returncode}): {text[-500:]}")
            return res
        doc = json.loads(stats.read_text())
        res.runs, res.seconds, res.slowest = doc["runs"], doc["seconds"], doc["slowest"]
        res.stats, res.findings = doc["stats"], doc["findings"]
        done = re.findall(r"cov: (\d+)", text)
        res.coverage = int(done[-1]) if done else 0
        if proc.returncode != 0:  # libFuzzer itself stopped: out of memory, a crash of the interpreter
            errors = [line for line in text.splitlines() if "ERROR" in line or "==" in line]
            res.findings.append(f"libFuzzer exit {proc.returncode}: {' | '.join(errors)[:500]}")
    return res


def run_task(task: Task) -> Result:
    if task.engine == "atheris":
        return run_atheris(task)
    return run_random(task) if task.engine == "random" else run_hypothesis(task)


def replay(target: Target, path: Path, timeout: float) -> int:
    data = path.read_bytes()
    try:
        with alarm(timeout):
            attempt(target, data)
    except Exception:
        traceback.print_exc()
        return 1
    print(f"{target.name}: {path} ({len(data)} bytes): {target.stats}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/fuzz")
    ap.add_argument("--executions", type=int, help="run until every target has this many executions")
    ap.add_argument("--minutes", type=float, help="wall time, split over the targets (default 1 without "
                                                  "--executions)")
    ap.add_argument("--target", action="append", choices=sorted(BY_NAME), help="only these (repeatable)")
    ap.add_argument("--engine", choices=["random", "hypothesis", "atheris"], default="random")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=int(time.time()), help="random seed of the run")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one execution may take")
    ap.add_argument("--no-shrink", action="store_true", help="hypothesis engine: report findings unshrunk")
    ap.add_argument("--findings", type=Path, default=FINDINGS, help="where mutants that found something go")
    ap.add_argument("--replay", type=Path, help="run one saved mutant through --target and show the traceback")
    args = ap.parse_args(argv)
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            ap.error("the atheris engine needs atheris: .venv/bin/pip install -e '.[fuzz]'")
    targets = [BY_NAME[n] for n in args.target] if args.target else TARGETS
    if args.replay:
        if len(targets) != 1:
            ap.error("--replay needs exactly one --target")
        return replay(targets[0], args.replay, args.timeout)
    minutes = args.minutes if args.minutes is not None or args.executions else 1.0
    jobs = max(1, args.jobs)
    per_task = -(-args.executions // jobs) if args.executions else None
    share = minutes * 60 / len(targets) if minutes is not None else None  # wall seconds per target
    tasks = [Task(t.name, args.engine, per_task, share, args.seed + 7919 * i + j, args.timeout,
                  not args.no_shrink, args.findings)
             for i, t in enumerate(targets) for j in range(jobs)]
    tasks.sort(key=lambda task: -SLOW.get(task.target, 1))  # the slowest first: the wall time is shorter
    print(f"engine {args.engine}, seed {args.seed}, {jobs} job(s), "
          + (f"{args.executions} executions a target" if args.executions else "")
          + (", " if args.executions and share else "") + (f"{share:.0f} s a target" if share else ""), flush=True)
    results: dict[str, Result] = {t.name: Result(t.name) for t in targets}
    started = time.monotonic()
    if jobs == 1:
        done: Iterator[Result] = map(run_task, tasks)
    else:
        pool = multiprocessing.get_context("fork").Pool(jobs, maxtasksperchild=1)
        done = pool.imap_unordered(run_task, tasks)
    for r in done:
        agg = results[r.target]
        agg.runs += r.runs
        agg.seconds += r.seconds
        agg.slowest = max(agg.slowest, r.slowest)
        agg.coverage = max(agg.coverage, r.coverage)
        for k, v in r.stats.items():
            agg.stats[k] = agg.stats.get(k, 0) + v
        agg.findings += [f for f in r.findings if f not in agg.findings]
    wall = time.monotonic() - started
    guided = args.engine == "atheris"
    print(f"{'target':16} {'executions':>10} {'seconds':>8} {'per s':>7} {'accepted':>9} {'rejected':>9} "
          f"{'slowest':>8} {'branches ' if guided else ''}findings")
    total = found = 0
    for t in targets:
        r = results[t.name]
        total += r.runs
        found += len(r.findings)
        print(f"{t.name:16} {r.runs:>10} {r.seconds:>8.1f} {r.runs / max(r.seconds, 1e-9):>7.0f} "
              f"{r.stats.get('accepted', 0):>9} {r.stats.get('rejected', 0):>9} {r.slowest * 1000:>6.0f}ms "
              f"{f'{r.coverage:>8} ' if guided else ''}{len(r.findings)}", flush=True)
    print(f"total executions: {total}; findings: {found}; wall time {wall:.0f} s "
          f"(seconds above are per process, {jobs} at once)")
    for t in targets:
        for f in results[t.name].findings:
            print(f"  {t.name}: {f}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
