"""Certificates issued per second by `sigstack ca serve` with its CT log (SCT embedded).

The CA runs as its own process with the CT log in process (SQLite, synchronous=FULL:
each certificate is issued only after its precertificate's entry is durable); the
development OIDC issuer runs beside it for discovery/JWKS. This process is the load
generator (raw HTTP/1.1 keep-alive connections, from _tlog_common). Every request is
the public-key form with a fresh key and proof of possession, as cosign sends it; the
CA verifies the token (RS256), the proof (ECDSA), signs the precertificate, the SCT
and the final certificate (three ECDSA P-256 signatures) and commits the CT entry.

No Go Fulcio is available here, so the reference is the cryptographic floor measured
in the same run on one core: the time of exactly those signatures and verifications
done back to back through OpenSSL (cryptography), with no parsing, X.509 building,
HTTP or storage. ratio = measured rate / floor rate (1.0 would mean everything but the
raw cryptography is free).

``--postgres`` puts the in-process CT log on a private PostgreSQL; ``--remote-ct`` runs it
as its own ``sigstack ct serve`` process (the CA submits over HTTP).

    .venv/bin/python bench/ca_issue.py [--requests 6000] [--concurrency 32] [--postgres] [--remote-ct]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

sys.path.insert(0, str(Path(__file__).parent))
from _tlog_common import SIGSTACK, _worker, free_port, postgres


def start(args: list[str], probe: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([SIGSTACK, *args, "--port", str(port)], stderr=subprocess.DEVNULL, cwd=cwd,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + probe, timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{args[0]} server did not start")


def bodies(n: int, issuer: str, state: Path, distinct: int = 400) -> list[bytes]:
    """``distinct`` requests (own key, token and proof each), repeated to ``n``."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "src"))
    from sigstack.oidc.issuer import DevIssuer, load_or_create_key

    dev = DevIssuer(issuer, load_or_create_key(state))
    out = []
    for i in range(distinct):
        email = f"bench{i}@example.com"
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        proof = base64.b64encode(key.sign(email.encode(), ec.ECDSA(hashes.SHA256()))).decode()
        out.append(json.dumps({"credentials": {"oidcIdentityToken": dev.mint(email=email, ttl=3600)},
                               "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem},
                                                    "proofOfPossession": proof}}).encode())
    return [out[i % distinct] for i in range(n)]


def post_all(url: str, reqs: list[bytes], concurrency: int) -> tuple[float, list[int], list[float]]:
    host, port = url.removeprefix("http://").split(":")
    statuses: list[int] = []
    latencies: list[float] = []
    chunks = [reqs[i::concurrency] for i in range(concurrency)]

    async def main() -> None:
        await asyncio.gather(*(_worker(host, int(port), "/api/v2/signingCert", c, statuses, latencies)
                               for c in chunks))

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0, statuses, latencies


def floor_rate(seconds: float = 1.5) -> tuple[float, float]:
    """(per-certificate cryptographic floor in certificates/s, raw P-256 signs/s), one core."""
    ca = ec.generate_private_key(ec.SECP256R1())
    leaf = ec.generate_private_key(ec.SECP256R1())
    tok = rsa.generate_private_key(65537, 2048)
    msg = b"x" * 300
    rsa_sig = tok.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    pop = leaf.sign(b"a@example.com", ec.ECDSA(hashes.SHA256()))
    tpub, lpub = tok.public_key(), leaf.public_key()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        tpub.verify(rsa_sig, msg, padding.PKCS1v15(), hashes.SHA256())
        lpub.verify(pop, b"a@example.com", ec.ECDSA(hashes.SHA256()))
        for _ in range(3):
            ca.sign(msg, ec.ECDSA(hashes.SHA256()))
        n += 1
    per_cert = n / (time.perf_counter() - t0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        ca.sign(msg, ec.ECDSA(hashes.SHA256()))
        n += 1
    return per_cert, n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--postgres", action="store_true", help="the CT log on a private PostgreSQL instead of SQLite")
    ap.add_argument("--remote-ct", action="store_true", help="the CT log as its own `sigstack ct serve` process")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sigstack-bench-ca-"))
    procs = []
    stack = contextlib.ExitStack()
    try:
        extra = ["--ct-db", stack.enter_context(postgres())] if args.postgres else []
        if args.remote_ct:
            # the CA's root must exist before the log that accepts it starts
            from sigstack.ca.state import ensure_state

            ensure_state(work / "ca")
            db = ["--db", stack.enter_context(postgres())] if args.postgres else []
            ct, ct_url = start(["ct", "serve", "--state", str(work / "ct"), "--root", str(work / "ca" / "root.pem"),
                                *db], "/ct/v1/get-sth", work)
            procs.append(ct)
            extra = ["--ct-url", ct_url]
        oidc, issuer = start(["oidc", "serve", "--state", str(work / "oidc")], "/.well-known/openid-configuration",
                             work)
        procs.append(oidc)
        ca, url = start(["ca", "serve", "--state", str(work / "ca"), "--oidc-issuer", issuer, *extra],
                        "/api/v2/trustBundle", work)
        procs.append(ca)
        print(f"preparing {args.requests} certificate requests...", file=sys.stderr)
        reqs = bodies(args.requests + 500, issuer, work / "oidc")
        per_cert, signs = floor_rate()
        print(f"reference (one core, same run): raw ECDSA P-256 sign {signs:,.0f}/s; cryptographic floor of one "
              f"certificate (RS256 token verify + PoP verify + 3 P-256 signs) {per_cert:,.0f}/s")
        post_all(url, reqs[:500], args.concurrency)  # warm-up: imports, JWKS fetch, first pages
        seconds, statuses, lat = post_all(url, reqs[500:], args.concurrency)
        bad = [s for s in statuses if s != 200]
        if bad:
            raise SystemExit(f"{len(bad)} requests failed, e.g. HTTP {bad[0]}")
        lat.sort()
        rate = len(statuses) / seconds
        print(f"ca+ct: {rate:,.0f} certificates/s with embedded SCT (ratio to the floor {rate / per_cert:.3f}; "
              f"{rate / signs * 3:.3f} of raw sign throughput)  latency p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, concurrency {args.concurrency}, "
              f"CT {'remote' if args.remote_ct else 'in process'} on "
              f"{'PostgreSQL' if args.postgres else 'SQLite'}, "
              f"{os.cpu_count()} cores shared with the load generator")
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
