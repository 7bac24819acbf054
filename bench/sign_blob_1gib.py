"""Benchmark: ``sigstack sign-blob`` of a 1 GiB file against ``openssl dgst -sha256``.

Both are whole processes run from a warm page cache, interleaved, several times; we
report the median wall time, the ratio sigstack/openssl, and each one's peak resident
memory (from ``wait4``). The reference is measured in the same run on the same file,
so the ratio is meaningful on any machine. Also reports ``sigstack --version``
start-up time, which every CI step pays.

Targets (issue 3): ratio <= 1.15, peak memory < 100 MiB, start-up < 0.15 s.

``--baseline REV`` also times the sign-blob of an earlier commit (a temporary worktree run
by the same interpreter), interleaved with the others, and prints its ratio.

Usage: .venv/bin/python bench/sign_blob_1gib.py [--size-mib 1024] [--runs 5] [--json] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGSTACK = ROOT / ".venv" / "bin" / "sigstack"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        sys.exit(f"benchmark command failed: {' '.join(cmd)}: {err}")
    return wall, usage.ru_maxrss / 1024


def make_file(path: Path, size_mib: int) -> None:
    chunk = 1 << 20
    with path.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(chunk))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--baseline", metavar="REV", help="also time the sigstack of this git revision")
    args = ap.parse_args()
    if shutil.which("openssl") is None:
        sys.exit("openssl is required as the reference (apt-get install openssl)")

    with tempfile.TemporaryDirectory(prefix="sigstack-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "COSIGN_PASSWORD": "bench"}
        subprocess.run([str(SIGSTACK), "generate-key-pair", "--output-key-prefix", str(work / "k")],
                       env=env, check=True, capture_output=True)
        blob = work / "blob"
        make_file(blob, args.size_mib)
        timed(["cat", str(blob)])  # warm the page cache for both contenders

        old: list[str] = []
        old_env = env
        if args.baseline:
            tree = work / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.baseline],
                           check=True)
            py = str(ROOT / ".venv" / "bin" / "python")
            subprocess.run([py, "-m", "compileall", "-q", str(tree / "src")], check=True)
            old, old_env = [py, "-m", "sigstack.cli.main"], {**env, "PYTHONPATH": str(tree / "src")}
        old_t: list[float] = []
        ours_t, ours_m, ref_t, ref_m = [], [], [], []
        for _ in range(args.runs):
            if old:
                old_t.append(timed([*old, "sign-blob", "--key", str(work / "k.key"), "--tlog-upload=false",
                                    str(blob)], old_env)[0])
            t, m = timed(["openssl", "dgst", "-sha256", str(blob)])
            ref_t.append(t)
            ref_m.append(m)
            t, m = timed([str(SIGSTACK), "sign-blob", "--key", str(work / "k.key"), "--tlog-upload=false",
                          str(blob)], env)
            ours_t.append(t)
            ours_m.append(m)

        starts = [timed([str(SIGSTACK), "--version"])[0] for _ in range(15)]
        if args.baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "baseline")],
                           check=False)

    figures = {
        "size_mib": args.size_mib,
        "runs": args.runs,
        "sigstack_sign_blob_s": round(statistics.median(ours_t), 3),
        "openssl_dgst_s": round(statistics.median(ref_t), 3),
        "ratio": round(statistics.median(ours_t) / statistics.median(ref_t), 3),
        "sigstack_peak_mib": round(max(ours_m), 1),
        "openssl_peak_mib": round(max(ref_m), 1),
        "startup_median_s": round(statistics.median(starts), 3),
        "startup_best_s": round(min(starts), 3),
    }
    if old_t:
        figures["baseline_sign_blob_s"] = round(statistics.median(old_t), 3)
        figures["baseline_ratio"] = round(statistics.median(old_t) / statistics.median(ref_t), 3)
    figures["pass"] = (figures["ratio"] <= 1.15 and figures["sigstack_peak_mib"] < 100
                       and figures["startup_median_s"] < 0.15)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"sign-blob of {args.size_mib} MiB, median of {args.runs} runs (warm cache)")
        print(f"  sigstack sign-blob : {figures['sigstack_sign_blob_s']:.3f} s, "
              f"peak {figures['sigstack_peak_mib']:.1f} MiB")
        print(f"  openssl dgst       : {figures['openssl_dgst_s']:.3f} s, "
              f"peak {figures['openssl_peak_mib']:.1f} MiB")
        print(f"  ratio              : {figures['ratio']:.3f}  (target <= 1.15)")
        if old_t:
            print(f"  baseline {args.baseline[:10]:10}: {figures['baseline_sign_blob_s']:.3f} s, "
                  f"ratio {figures['baseline_ratio']:.3f}")
        print(f"  sigstack --version : median {figures['startup_median_s']:.3f} s, "
              f"best {figures['startup_best_s']:.3f} s  (target < 0.15 s)")
        print(f"  targets met        : {figures['pass']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
