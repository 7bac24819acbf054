"""Inclusion-proof latency and memory at large log sizes; build time and bytes per entry.

The log is built quickly by bulk-appending synthetic hashedrekord bodies straight into
the store (``Store.append`` in batches of 10,000: the same code path and transaction
the server's group commit uses, minus HTTP and signature checks). Then:

* server-side latency: in-process time to answer a GET for a random entry
  (read the entry, build its inclusion proof, sign its SET), p50/p99;
* over HTTP: a `sigstack tlog serve` process answering GET /api/v1/log/entries?logIndex=N
  for random N, p50/p99, and that process's resident memory afterwards -- compared
  with the same on a small log, to show memory does not grow with the log;
* build rate (entries/s) and database bytes per entry.

The reference printed alongside is the time for one raw SQLite primary-key read on the
same database, the floor any proof (about log2(n) node reads) is built from.

    .venv/bin/python bench/tlog_proofs.py [--sizes 10000,1000000] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import httpx
from _tlog_common import postgres, rss_kib, server, write_log_key

from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import canonical_json
from sigstack.tlog.log import Log
from sigstack.tlog.logkey import load_log_signer
from sigstack.tlog.store import open_store
from sigstack.tlog.store.base import NewEntry

SIG = "MEUCIQDNNXTDZAlP3DWYCcex6WBPTai0iTuvkIEsOGLEQAAiEgIgOSlrlJv3cuOBbvuuKXt/NwNoi1lkCP/0oqH6nbivGuE="
KEY = ("LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFSi9ZbHNDQ"
       "S9Qdm9SVEdTeDRXYTMzRGY2bm9mTgp4M0MwS3BpU251VjhlcHNMOWRSUkh1QTdvRWZVQ2ltL2dGdUFDMFVyS3pFVDZSSWlsZz"
       "hpUzZjOEhBPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==")


def body(i: int) -> bytes:
    digest = hashlib.sha256(i.to_bytes(8, "big")).hexdigest()
    return canonical_json({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest}},
        "signature": {"content": SIG, "publicKey": {"content": KEY}}}})


def build(db: str, size: int) -> float:
    store = open_store(db)
    start = time.perf_counter()
    for lo in range(store.size, size, 10_000):
        batch = []
        for i in range(lo, min(lo + 10_000, size)):
            b = body(i)
            batch.append(NewEntry(merkle.leaf_hash(b), b, (f"sha256:{i}",)))
        store.append(batch, 1_700_000_000 + lo)
    took = time.perf_counter() - start
    store.close()
    return size / took


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def measure(db: str, key: Path, size: int, samples: int = 2000) -> None:
    store = open_store(db)
    log = Log(store, load_log_signer(str(key), "bench.test"), "bench.test")
    rng = random.Random(1)
    raw, lat = [], []
    for _ in range(samples):
        i = rng.randrange(size)
        t0 = time.perf_counter()
        store.entry_by_index(i)
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stored = store.entry_by_index(i)
        assert stored is not None
        doc = log.log_entry(stored)
        lat.append(time.perf_counter() - t0)
    assert len(next(iter(doc.values()))["verification"]["inclusionProof"]["hashes"]) >= size.bit_length() - 2
    disk = store.disk_bytes()
    store.close()
    print(f"  server-side GET entry (read + inclusion proof + SET): p50 {pct(lat, .5):.2f} ms, "
          f"p99 {pct(lat, .99):.2f} ms  (reference: one primary-key read p50 {pct(raw, .5):.3f} ms)")
    print(f"  database: {disk / size:,.0f} bytes per entry ({disk / 1e6:,.0f} MB)")
    with server(db, key) as (url, pid), httpx.Client() as http:
        http_lat = []
        for _ in range(samples):
            i = rng.randrange(size)
            t0 = time.perf_counter()
            r = http.get(f"{url}/api/v1/log/entries", params={"logIndex": i})
            http_lat.append(time.perf_counter() - t0)
            assert r.status_code == 200
        print(f"  over HTTP (client-measured): p50 {pct(http_lat, .5):.2f} ms, "
              f"p99 {pct(http_lat, .99):.2f} ms;"
              f" server RSS after {samples} GETs: {rss_kib(pid) / 1024:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        key = write_log_key(Path(d) / "log.key")
        for size in (int(s) for s in args.sizes.split(",")):
            if args.backend == "postgres":
                with postgres() as url:
                    run_one(url, key, size)
            else:
                run_one(str(Path(d) / f"log-{size}.db"), key, size)


def run_one(db: str, key: Path, size: int) -> None:
    rate = build(db, size)
    print(f"{size:,} entries: built at {rate:,.0f} entries/s ({size / rate:.1f} s)")
    measure(db, key, size)


if __name__ == "__main__":
    main()
