"""Sustained appends per second over HTTP with durable commit, SQLite and PostgreSQL.

The server (`sigstack tlog serve`) runs as its own process; this process is the load
generator (raw HTTP/1.1 keep-alive, many connections). Every entry's signature is
verified by the server and every 201 is sent only after the batch holding it is
committed (SQLite WAL synchronous=FULL / PostgreSQL synchronous_commit=on). The
figure is printed next to the raw single-core ECDSA P-256 verify rate measured in
the same run, since verifying is the per-entry work no log can skip.

    .venv/bin/python bench/tlog_append.py [--entries 20000] [--concurrency 64]
        [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _tlog_common import post_all, postgres, proposals, server, verify_rate, write_log_key


def run(db: str, key: Path, bodies: list[bytes], concurrency: int) -> tuple[float, float, float]:
    with server(db, key) as (url, _pid):
        post_all(url, bodies[:500], concurrency)  # warm-up (imports, caches, first pages)
        seconds, statuses, lat = post_all(url, bodies[500:], concurrency)
    bad = [s for s in statuses if s != 201]
    if bad:
        raise SystemExit(f"{len(bad)} uploads failed, e.g. HTTP {bad[0]}")
    lat.sort()
    return len(statuses) / seconds, statistics.median(lat) * 1000, lat[int(len(lat) * 0.99)] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    print(f"preparing {args.entries} signed hashedrekord proposals...", file=sys.stderr)
    bodies = proposals(args.entries + 500)
    ref = verify_rate()
    print(f"reference: raw ECDSA P-256 verify, one core: {ref:,.0f}/s")
    with tempfile.TemporaryDirectory() as d:
        key = write_log_key(Path(d) / "log.key")
        if args.backend in ("sqlite", "both"):
            rate, p50, p99 = run(str(Path(d) / "log.db"), key, bodies, args.concurrency)
            print(f"sqlite:   {rate:,.0f} entries/s  (ratio to raw verify {rate / ref:.3f})  "
                  f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        if args.backend in ("postgres", "both"):
            with postgres() as url:
                rate, p50, p99 = run(url, key, bodies, args.concurrency)
            print(f"postgres: {rate:,.0f} entries/s  (ratio to raw verify {rate / ref:.3f})  "
                  f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
