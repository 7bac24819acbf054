"""Shared pieces of the log benchmarks: a private PostgreSQL, a log server process,
signed proposals, and a small HTTP/1.1 keep-alive load generator.

The load generator speaks raw HTTP/1.1 over asyncio streams because a general client
(httpx) costs more CPU per request than the server under test, and the benchmark must
measure the server, not the generator.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGSTACK = str(Path(sys.executable).with_name("sigstack"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_log_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@contextmanager
def postgres() -> Iterator[str]:
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="sigstack-bench-pg-"))
    os.chmod(root, 0o755)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres",
                    "--auth=trust", "--no-instructions"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"),
                    "-w", "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server(db: str, key: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen([SIGSTACK, "tlog", "serve", "--db", db, "--key", str(key), "--port", str(port),
                             "--hostname", "bench.test"], stderr=subprocess.DEVNULL, start_new_session=True)
    import httpx

    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/log", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)


def proposals(n: int, keys: int = 64) -> list[bytes]:
    """``n`` distinct, validly signed hashedrekord proposals as JSON request bodies."""
    signers = [ec.generate_private_key(ec.SECP256R1()) for _ in range(keys)]
    pems = [base64.b64encode(k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
        for k in signers]
    out = []
    for i in range(n):
        data = b"bench artifact %d" % i
        k = i % keys
        sig = signers[k].sign(data, ec.ECDSA(hashes.SHA256()))
        out.append(json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(data).hexdigest()}},
            "signature": {"content": base64.b64encode(sig).decode(), "publicKey": {"content": pems[k]}}}})
            .encode())
    return out


def verify_rate(seconds: float = 1.0) -> float:
    """Raw single-core ECDSA P-256 verifications per second (the reference)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key()
    sig = key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            pub.verify(sig, b"x", ec.ECDSA(hashes.SHA256()))
        n += 100
    return n / (time.perf_counter() - start)


async def _worker(host: str, port: int, path: str, bodies: list[bytes], statuses: list[int],
                  latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    for body in bodies:
        t0 = time.perf_counter()
        writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        statuses.append(int(status_line.split()[1]))
        latencies.append(time.perf_counter() - t0)
    writer.close()


def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[int], list[float]]:
    """POST every body with ``concurrency`` keep-alive connections; (seconds, statuses, latencies)."""
    host, port = url.removeprefix("http://").split(":")
    statuses: list[int] = []
    latencies: list[float] = []
    chunks = [bodies[i::concurrency] for i in range(concurrency)]

    async def main() -> None:
        await asyncio.gather(*(_worker(host, int(port), "/api/v1/log/entries", c, statuses, latencies)
                               for c in chunks))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start, statuses, latencies


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
