"""Explorer search response time at 1 M entries (SQLite), p50/p99 per kind of query.

The log is filled fast by bulk-appending synthetic hashedrekord bodies straight into
the store (``Store.append`` in batches of 10,000, the server's own transaction, minus
HTTP and signature checks) with a realistic search index: each entry is filed under its
artifact digest, its signer's key fingerprint (5,000 signers), an identity (email or
workflow URI, 20,000 of them) and that identity's OIDC issuer (3 issuers), so the index
holds four rows per entry. Integrated times advance one second per 10 entries.

Then a `sigstack tlog serve` process answers GET /?q=... (the whole page: search, the
result rows, HTML) for a mix of queries, client-measured over loopback keep-alive, and
the same searches run in-process (``query.run``). The reference measured in the same
run is one bare indexed SQLite lookup (``SELECT idx FROM search WHERE key = ? LIMIT 51``)
on the same database: the floor every search is built from.

    .venv/bin/python bench/explorer_search.py [--size 1000000] [--samples 200]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))
import httpx
from _tlog_common import server, write_log_key

from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import canonical_json
from sigstack.tlog.explorer import query
from sigstack.tlog.log import Log
from sigstack.tlog.logkey import load_log_signer
from sigstack.tlog.store import open_store
from sigstack.tlog.store.base import NewEntry

SIG = "MEUCIQDNNXTDZAlP3DWYCcex6WBPTai0iTuvkIEsOGLEQAAiEgIgOSlrlJv3cuOBbvuuKXt/NwNoi1lkCP/0oqH6nbivGuE="
KEY = ("LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFSi9ZbHNDQ"
       "S9Qdm9SVEdTeDRXYTMzRGY2bm9mTgp4M0MwS3BpU251VjhlcHNMOWRSUkh1QTdvRWZVQ2ltL2dGdUFDMFVyS3pFVDZSSWlsZz"
       "hpUzZjOEhBPT0KLS0tLS1FTkQgUFVCTElDIEtFWS0tLS0tCg==")
T0 = 1_780_000_000
ISSUERS = ["https://token.actions.githubusercontent.com", "https://accounts.google.com",
           "https://oauth2.sigstore.dev/auth"]
SIGNERS, IDENTITIES = 5_000, 20_000


def digest(i: int) -> str:
    return hashlib.sha256(i.to_bytes(8, "big")).hexdigest()


def fpr(s: int) -> str:
    return hashlib.sha256(b"signer %d" % s).hexdigest()


def ident(n: int) -> str:
    if n % 2:
        return f"user{n}@example{n % 97}.com"
    return f"https://github.com/org{n % 500}/repo{n}/.github/workflows/release.yml@refs/heads/main"


def keys(i: int) -> tuple[str, ...]:
    n = (i * 7919) % IDENTITIES
    return (f"sha256:{digest(i)}", fpr(i % SIGNERS), ident(n), "issuer:" + ISSUERS[n % 3])


def body(i: int) -> bytes:
    return canonical_json({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest(i)}},
        "signature": {"content": SIG, "publicKey": {"content": KEY}}}})


def build(db: str, size: int) -> float:
    store = open_store(db)
    start = time.perf_counter()
    for lo in range(store.size, size, 10_000):
        batch = []
        for i in range(lo, min(lo + 10_000, size)):
            b = body(i)
            batch.append(NewEntry(merkle.leaf_hash(b), b, keys(i)))
        store.append(batch, T0 + lo // 10)
    took = time.perf_counter() - start
    store.close()
    return took


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def queries(size: int, rng: random.Random) -> dict[str, list[str]]:
    """Query texts by kind; each kind's list is drawn at random over the whole log."""
    def idx() -> int:
        return rng.randrange(size)

    def day(i: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + i // 10))

    def n() -> int:
        return rng.randrange(IDENTITIES)

    leaf = lambda i: merkle.leaf_hash(body(i)).hex()  # noqa: E731
    return {
        "artifact sha256:<hex>": [f"sha256:{digest(idx())}" for _ in range(1000)],
        "log index": [str(idx()) for _ in range(1000)],
        "entry UUID (64 hex)": [leaf(idx()) for _ in range(1000)],
        "UUID prefix (10 hex)": [leaf(idx())[:10] for _ in range(1000)],
        "key fingerprint": [fpr(rng.randrange(SIGNERS)) for _ in range(1000)],
        "email / workflow URI (exact)": [ident(n()) for _ in range(1000)],
        "identity prefix": [ident(n())[:14] for _ in range(1000)],
        "OIDC issuer (prefix, ~333k hits)": ["issuer:" + rng.choice(ISSUERS) for _ in range(1000)],
        "time range (1 h)": [f"after:{day(i)} before:{day(i + 36_000)}" for i in (idx() for _ in range(1000))],
        "identity + time range": [f"{ident(n())} after:{day(i)}" for i in (idx() for _ in range(1000))],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200, help="requests per kind of query")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        db = str(Path(d) / "log.db")
        key = write_log_key(Path(d) / "log.key")
        took = build(db, args.size)
        print(f"filled {args.size:,} entries (4 search rows each) in {took:.1f} s "
              f"({args.size / took:,.0f} entries/s)")
        qs = queries(args.size, rng)

        # reference: one bare indexed lookup on the same database
        conn = sqlite3.connect(db)
        ref = []
        for text in qs["artifact sha256:<hex>"][: args.samples * 5]:
            t0 = time.perf_counter()
            conn.execute("SELECT idx FROM search WHERE key = ? LIMIT 51", (text,)).fetchall()
            ref.append(time.perf_counter() - t0)
        conn.close()
        ref50, ref99 = pct(ref, .5), pct(ref, .99)
        print(f"reference: bare SQLite indexed lookup p50 {ref50:.3f} ms, p99 {ref99:.3f} ms")

        store = open_store(db)
        log = Log(store, load_log_signer(str(key), "bench.test"), "bench.test")
        inproc: dict[str, list[float]] = {}
        for kind, texts in qs.items():
            lat = []
            for text in texts[: args.samples]:
                t0 = time.perf_counter()
                query.run(log, query.parse(text))
                lat.append(time.perf_counter() - t0)
            inproc[kind] = lat
        store.close()

        rows = []
        every: list[float] = []
        with server(db, key) as (url, _pid), httpx.Client(timeout=30) as http:
            http.get(url + "/")  # warm up templates
            for kind, texts in qs.items():
                lat = []
                hits = 0
                for text in texts[: args.samples]:
                    t0 = time.perf_counter()
                    r = http.get(f"{url}/?q={quote(text)}")
                    lat.append(time.perf_counter() - t0)
                    assert r.status_code == 200, (text, r.status_code)
                    hits += r.text.count('<td><a href="/entry/')
                every += lat
                rows.append((kind, lat, hits / len(lat)))
        print()
        print(f"{'query':34} {'rows':>5} {'in-process p50/p99 ms':>22} {'HTTP page p50/p99 ms':>21} "
              f"{'p99 / ref p99':>13}")
        for kind, lat, hits in rows:
            ip = inproc[kind]
            print(f"{kind:34} {hits:5.1f} {pct(ip, .5):10.2f} / {pct(ip, .99):7.2f}  "
                  f"{pct(lat, .5):9.2f} / {pct(lat, .99):7.2f}  {pct(lat, .99) / ref99:11.0f}x")
        print(f"\nall {len(every)} searches over HTTP: p50 {pct(every, .5):.2f} ms, p99 {pct(every, .99):.2f} ms "
              f"(target p99 < 50 ms); reference p99 {ref99:.3f} ms")


if __name__ == "__main__":
    main()
