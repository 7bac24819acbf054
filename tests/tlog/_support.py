"""Helpers for the transparency log tests: a `sigstack tlog serve` child process, log
keys, free ports, and an artifact signer that builds hashedrekord proposals."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.tlog.client import hashedrekord
from tests.tiers import slow_resource

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
        slow_resource("a transparency log server (sigstack tlog serve)")
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


class Signer:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def proposal(self, data: bytes) -> dict[str, Any]:
        sig = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return hashedrekord(sig, hashlib.sha256(data).digest(), "sha256", self.pem)


