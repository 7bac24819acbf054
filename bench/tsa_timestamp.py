"""Timestamps per second from `sigstack tsa serve`, and in process.

Each request is what sigstore-python and our client send: a DER ``TimeStampReq`` with
a SHA-256 imprint of a signature and a nonce (half of them asking for the certificate).
The server runs as its own process (uvicorn, one worker); this process is the load
generator (keep-alive HTTP/1.1 connections, raw asyncio streams, so the client costs
little). The in-process rate is ``TimestampAuthority.respond`` alone (parse the
request, build the TSTInfo and the CMS SignedData, sign).

The references, measured in the same run: the real sigstore/timestamp-authority
(``timestamp-server`` from scripts/install-peers, in-memory signer, NTP monitoring
off) under the same load, when it is built; and the cryptographic floor on one core:
one ECDSA P-256 signature over a buffer of the signed attributes' size, through OpenSSL
(cryptography), with no ASN.1 or HTTP.

    .venv/bin/python bench/tsa_timestamp.py [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _tlog_common import SIGSTACK, free_port


def requests(n: int) -> list[bytes]:
    import os

    from rfc3161_client import TimestampRequestBuilder
    from rfc3161_client.base import HashAlgorithm

    return [TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(os.urandom(72)).nonce(nonce=True)
            .cert_request(cert_request=bool(i % 2)).build().as_bytes() for i in range(n)]


def floor_rate(seconds: float = 1.0) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    data = b"\x31" * 240
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.sign(data, ec.ECDSA(hashes.SHA256()))
        n += 1
    return n / (time.perf_counter() - start)


def in_process_rate(bodies: list[bytes], state: Path) -> float:
    from sigstack.tsa.authority import TimestampAuthority, parse_der_request
    from sigstack.tsa.state import ensure_state

    tsa = TimestampAuthority(ensure_state(state))
    start = time.perf_counter()
    for body in bodies:
        tsa.respond(parse_der_request(body))
    return len(bodies) / (time.perf_counter() - start)


async def _worker(host: str, port: int, bodies: list[bytes], statuses: list[int], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST /api/v1/timestamp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/timestamp-query\r\n"
    for body in bodies:
        t0 = time.perf_counter()
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        statuses.append(int(status.split()[1]))
        latencies.append(time.perf_counter() - t0)
    writer.close()


def http_rate(bodies: list[bytes], concurrency: int, command: list[str]) -> tuple[float, float]:
    """Timestamps per second and p99 latency (ms) of the server ``command`` starts
    (``{port}`` in it is replaced by a free port)."""
    import httpx

    port = free_port()
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in command],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/timestamp/certchain", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start")
            time.sleep(0.05)
        statuses: list[int] = []
        latencies: list[float] = []

        async def main() -> None:
            await asyncio.gather(*(_worker("127.0.0.1", port, bodies[i::concurrency], statuses, latencies)
                                   for i in range(concurrency)))

        start = time.perf_counter()
        asyncio.run(main())
        elapsed = time.perf_counter() - start
        assert set(statuses) == {200}, set(statuses)
        return len(bodies) / elapsed, statistics.quantiles(latencies, n=100)[98] * 1000
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    bodies = requests(a.requests)
    real = Path.home() / "go" / "bin" / "timestamp-server"
    with tempfile.TemporaryDirectory() as d:
        floor = floor_rate()
        local = in_process_rate(bodies[: min(len(bodies), 2000)], Path(d) / "state")
        rate, p99 = http_rate(bodies, a.concurrency, [SIGSTACK, "tsa", "serve", "--state", str(Path(d) / "state"),
                                                       "--port", "{port}"])
        theirs = http_rate(bodies, a.concurrency, [str(real), "serve", "--host", "127.0.0.1", "--port", "{port}",
                                                   "--disable-ntp-monitoring"]) if real.exists() else None
    print(f"crypto floor (one ECDSA P-256 signature, one core): {floor:8.0f}/s")
    print(f"in process (TimestampAuthority.respond):            {local:8.0f}/s   {local / floor:.3f} of the floor")
    print(f"sigstack tsa serve over HTTP ({a.concurrency} connections):     {rate:8.0f}/s   p99 {p99:.1f} ms")
    if theirs is not None:
        print(f"timestamp-authority over HTTP ({a.concurrency} connections):    {theirs[0]:8.0f}/s   "
              f"p99 {theirs[1]:.1f} ms   ratio sigstack/timestamp-authority {rate / theirs[0]:.2f}")
    else:
        print("timestamp-authority is not built (scripts/install-peers timestamp-server): no ratio")


if __name__ == "__main__":
    main()
