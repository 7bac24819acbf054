"""Assemble and run the CA (with its CT log in process, or a remote one) and the CT log."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from sigstack.ca.authority import CertificateAuthority, CTSubmitter
from sigstack.ca.config import CAConfig
from sigstack.ca.ctlog import CTLog
from sigstack.ca.service import CAService
from sigstack.ca.state import CAMaterial, ensure_ct_key, ensure_state, load_pem_chain
from sigstack.keys.base import PasswordProvider


@dataclass
class BuiltCA:
    app: Starlette
    material: CAMaterial
    ct: CTLog | None


def build_ca(state: Path, config: CAConfig, ca_key: str | None = None, ca_chain: Path | None = None,
             ct_url: str | None = None, password: PasswordProvider | None = None,
             material: CAMaterial | None = None) -> BuiltCA:
    """The CA app; ``material`` when the caller loaded it already (else from ``state``)."""
    from sigstack.ca.api import create_app
    from sigstack.tlog.store import open_store

    material = material or ensure_state(state, ca_key, ca_chain, password)
    ct: CTLog | None = None
    submitter: CTSubmitter
    on_shutdown: Callable[[], Awaitable[None]] | None = None
    if ct_url is None:
        from sigstack.ca.submit import LocalCT

        ct = CTLog(open_store(str(material.ct_db)), material.ct_signer, [material.root])
        submitter = LocalCT(ct)
    else:
        from sigstack.ca.submit import RemoteCT

        remote = RemoteCT(ct_url)
        submitter = remote
        on_shutdown = remote.close
    authority = CertificateAuthority(material.signer, material.chain, submitter)
    return BuiltCA(create_app(CAService(authority, config), ct, on_shutdown), material, ct)


def build_ct(state: Path, roots: list[Path], db: str | None = None) -> tuple[Starlette, CTLog]:
    from sigstack.ca.ct_api import create_ct_app
    from sigstack.tlog.store import open_store

    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    signer = ensure_ct_key(state)
    accepted = []
    for path in roots:
        try:
            accepted.extend(load_pem_chain(path.read_bytes(), str(path)))
        except OSError as exc:
            from sigstack.ca.errors import ConfigError

            raise ConfigError(f"reading {path}: {exc.strerror or exc}") from None
    ct = CTLog(open_store(db or str(state / "ct.db")), signer, accepted)
    return create_ct_app(ct), ct


def run(app: Starlette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)


def run_workers(make_app: Callable[[], Starlette], host: str, port: int, workers: int) -> None:
    """Serve with ``workers`` pre-forked processes sharing one listening socket.

    One asyncio process uses one core; issuing is CPU-bound, so more cores need more
    processes. Each child builds its own app after the fork (its own database
    connection and event loop); the CT store is safe with several writers (each batch
    is decided under the database's write lock) and every process's reads catch up with
    the durable head. The parent only forwards SIGINT/SIGTERM and waits.
    """
    import os
    import signal
    import socket

    import uvicorn

    if workers <= 1:
        run(make_app(), host, port)
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child
            try:
                config = uvicorn.Config(make_app(), fd=sock.fileno(), log_level="warning", access_log=False,
                                        timeout_graceful_shutdown=5)
                uvicorn.Server(config).run()
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
    sock.close()
