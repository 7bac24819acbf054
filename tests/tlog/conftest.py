"""Fixtures for the transparency log tests: log keys, a real `sigstack tlog serve`
process on a free loopback port, and a throwaway PostgreSQL server (Debian's
`postgresql` binaries: initdb into a temporary directory, pg_ctl on a free port,
as the `postgres` user when the tests run as root), all torn down afterwards.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.tlog.client import hashedrekord

SIGSTACK = str(Path(sys.executable).with_name("sigstack"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_key(path: Path, kind: str = "ecdsa") -> Path:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.with_suffix(".pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


class TlogServer:
    """`sigstack tlog serve` as a child process."""

    def __init__(self, db: str, key: Path, workdir: Path, hostname: str = "tlog.test") -> None:
        self.db, self.key, self.workdir, self.hostname = db, key, workdir, hostname
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def public_key(self) -> Path:
        return self.key.with_suffix(".pub")

    def start(self, extra: list[str] | None = None) -> TlogServer:
        self.port = free_port()
        log = open(self.workdir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [SIGSTACK, "tlog", "serve", "--db", self.db, "--key", str(self.key), "--port", str(self.port),
             "--hostname", self.hostname, *(extra or [])],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tlog server exited: {(self.workdir / log.name).read_text()}")
            try:
                if httpx.get(self.url + "/api/v1/log", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("tlog server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def log_key(tmp_path: Path) -> Path:
    return write_key(tmp_path / "log.key")


@pytest.fixture
def tlog_server(tmp_path: Path, log_key: Path) -> Iterator[TlogServer]:
    server = TlogServer(str(tmp_path / "log.db"), log_key, tmp_path).start()
    yield server
    server.stop()


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL binaries not found: install the Debian package 'postgresql' "
                    "(scripts/bootstrap does)")
    return Path(found[-1]).parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A private PostgreSQL server; yields its base URL (no database name)."""
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="sigstack-pg-"))
    os.chmod(root, 0o755)
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-instructions"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-w",
                    "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: str) -> str:
    """A fresh, empty database on the private server."""
    import psycopg

    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres}/{name}"


class Signer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def proposal(self, data: bytes) -> dict[str, Any]:
        sig = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return hashedrekord(sig, hashlib.sha256(data).digest(), "sha256", self.pem)


@pytest.fixture
def signer() -> Signer:
    """An artifact signer (ECDSA P-256) that builds hashedrekord proposals."""
    return Signer()
