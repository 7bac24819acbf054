"""Assemble and run the CA (with its CT log in process, or a remote one) and the CT log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from sigstack._internal.serving import ServerOptions
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
             material: CAMaterial | None = None, ct_db: str | None = None) -> BuiltCA:
    """The CA app; ``material`` when the caller loaded it already (else from ``state``);
    ``ct_db`` is the in-process CT log's database (default: SQLite in ``state``)."""
    from sigstack.ca.api import create_app
    from sigstack.tlog.store import open_store

    material = material or ensure_state(state, ca_key, ca_chain, password)
    ct: CTLog | None = None
    submitter: CTSubmitter
    on_shutdown: Callable[[], Awaitable[None]] | None = None
    if ct_url is None:
        from sigstack.ca.submit import LocalCT

        ct = CTLog(open_store(ct_db or str(material.ct_db)), material.ct_signer, [material.root])
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


def run(app: Starlette, host: str, port: int, options: ServerOptions | None = None, ct_only: bool = False) -> None:
    """Serve the CA (or, ``ct_only``, the CT log: plain-text errors as CTFE's) until interrupted."""
    from sigstack._internal.ratelimit import plain
    from sigstack._internal.serving import run as serve
    from sigstack.ca.api import grpc_error

    serve(app, host, port, options, render=plain if ct_only else grpc_error)

