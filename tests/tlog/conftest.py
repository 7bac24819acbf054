"""Fixtures for the transparency log tests: log keys, a real `sigstack tlog serve`
process on a free loopback port, and a throwaway PostgreSQL server (Debian's
`postgresql` binaries: initdb into a temporary directory, pg_ctl on a free port,
as the `postgres` user when the tests run as root), all torn down afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tiers import slow_resource
from tests.tlog._support import Signer, TlogServer, free_port, write_key


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


@dataclass
class PostgresServer:
    url: str  # base URL, no database name
    ctl: list[str]  # pg_ctl -D DATA (as the postgres user when root)
    start_opts: list[str]

    def crash_and_restart(self) -> None:
        """Kill the server without a clean shutdown (crash recovery on start), start it again."""
        subprocess.run([*self.ctl, "-m", "immediate", "stop"], check=True, capture_output=True)
        subprocess.run([*self.ctl, *self.start_opts, "start"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole session."""
    slow_resource("PostgreSQL")
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
    server = PostgresServer(
        f"postgresql://postgres@127.0.0.1:{port}",
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data)],
        ["-l", str(root / "pg.log"), "-w",
         "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200"],
    )
    subprocess.run([*server.ctl, *server.start_opts, "start"], check=True, capture_output=True)
    try:
        yield server
    finally:
        subprocess.run([*server.ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(postgres_server: PostgresServer) -> str:
    """The private PostgreSQL server's base URL (no database name)."""
    return postgres_server.url


def new_database(postgres: str) -> str:
    """The URL of a fresh, empty database on the server at ``postgres``."""
    import psycopg

    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres}/{name}"


@pytest.fixture
def pg_url(postgres: str) -> str:
    """A fresh, empty database on the private server."""
    return new_database(postgres)


@pytest.fixture
def signer() -> Signer:
    """An artifact signer (ECDSA P-256) that builds hashedrekord proposals."""
    return Signer()
