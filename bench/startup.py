"""Benchmark: CLI start-up, the cost every CI step pays before doing anything.

Fresh processes of ``sigstack --version``, ``sigstack verify --help`` and a key-only
``sigstack verify-blob`` (a real verification, no log), interleaved so a change in the
machine's load hits them all alike, beside ``python -c pass`` (the interpreter's own
floor) measured in the same run. Reports best and median wall time, and best and median
CPU time (user + system of the child, from ``wait4``): on a shared machine the wall
median follows the load, the CPU time much less, so it is what to compare across runs.

The start-up tricks were each measured with this (turned off temporarily, one at a
time); see "Start-up tricks" in BENCHMARKS.md.

Usage: .venv/bin/python bench/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGSTACK = str(ROOT / ".venv" / "bin" / "sigstack")


def run(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    opts = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    with tempfile.TemporaryDirectory() as d:
        setup = {**env, "COSIGN_PASSWORD": "pw"}
        subprocess.run([SIGSTACK, "generate-key-pair"], cwd=d, env=setup, check=True, capture_output=True)
        Path(d, "blob").write_bytes(b"hello\n")
        sig = subprocess.run([SIGSTACK, "sign-blob", "--key", "cosign.key", "--tlog-upload=false", "blob"],
                             cwd=d, env=setup, check=True, capture_output=True).stdout
        Path(d, "blob.sig").write_bytes(sig)
        commands = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "sigstack --version": [SIGSTACK, "--version"],
            "sigstack verify --help": [SIGSTACK, "verify", "--help"],
            "sigstack verify-blob (key only)": [SIGSTACK, "verify-blob", "--key", "cosign.pub",
                                                "--insecure-ignore-tlog", "--signature", "blob.sig", "blob"],
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(opts.runs):
            for name, argv in commands.items():
                results[name].append(run(argv, d, env))
    print(f"{opts.runs} runs each, load average {os.getloadavg()[0]:.1f}")
    for name, samples in results.items():
        wall = [w for w, _ in samples]
        cpu = [c for _, c in samples]
        print(f"{name:34s} wall best {min(wall) * 1000:6.1f} ms, median {statistics.median(wall) * 1000:6.1f} ms"
              f" | cpu best {min(cpu) * 1000:6.1f} ms, median {statistics.median(cpu) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
