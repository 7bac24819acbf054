"""``sigstack serve``: the development OIDC issuer, the CA (with its CT log), the
transparency log (with its explorer) and the RFC 3161 timestamp authority in one
process on loopback, and the files that make stock clients use them.

State lives in one directory, so a restart keeps the keys, the CA, both logs and
hence every signature made before it valid:

* ``oidc/`` (the issuer's key, the GitHub request token), ``ca/`` (CA keys and chain,
  the CT log), ``tlog/`` (``log.key``/``log.pub``, ``log.db``), ``tsa/`` (the TSA's
  key and ``chain.pem``);
* ``trusted_root.json`` (TrustedRoot with the CA, the CT log, the log and the TSA under
  ``timestampAuthorities``), ``signing_config.json`` (SigningConfig v0.2; ``oidcUrls``
  name the dev issuer, ``tsaUrls`` the TSA's timestamp endpoint, so clients that
  follow the config, cosign v3 and sigstore-python among them, timestamp every
  signature: the signature's time is then vouched for by the TSA, not only the log),
  ``trust_config.json`` (ClientTrustConfig for ``sigstore --trust-config``), and ``env``
  (shell lines that point sigstack and the real cosign at it).

The four apps share one asyncio loop (four uvicorn servers on sockets bound before
anything starts, so the URLs written into the trust material are the ones served); a
SIGINT or SIGTERM asks every server to finish its requests and stop. NOT FOR
PRODUCTION: the OIDC issuer mints tokens for anyone who can reach it.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigstack._internal.fs import atomic_write_files
from sigstack._internal.serving import ServerOptions
from sigstack.errors import SigstackError
from sigstack.oidc.issuer import DEFAULT_LOGIN_EMAIL


@dataclass(frozen=True)
class Ports:
    oidc: int = 8080
    ca: int = 5555
    tlog: int = 3000
    tsa: int = 3004


@dataclass(frozen=True)
class Stack:
    """What is served and where its trust material is."""

    dir: Path
    host: str
    oidc_url: str
    ca_url: str
    tlog_url: str
    tsa_url: str = ""

    @property
    def timestamp_url(self) -> str:
        """The TSA's timestamp endpoint (what signing configs and cosign name)."""
        return self.tsa_url + "/api/v1/timestamp"

    @property
    def files(self) -> dict[str, Path]:
        return {name: self.dir / name for name in
                ("trusted_root.json", "signing_config.json", "trust_config.json", "env")}


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SigstackError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _log_key(state: Path) -> Path:
    """The log's ECDSA P-256 key (``log.key``, 0600) and ``log.pub``, made on first start."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_path, pub_path = state / "log.key", state / "log.pub"
    if not key_path.exists():
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        atomic_write_files([(key_path, pem, 0o600), (pub_path, pub, 0o644)])
    return key_path


def write_trust_material(stack: Stack, chain: list[Any], ct_public: Any, log_public: Any,
                         tsa_chain: Sequence[Any] = ()) -> None:
    """trusted_root.json, signing_config.json, trust_config.json and env in ``stack.dir``;
    ``tsa_chain`` (leaf first) is the timestamp authority's, when one is served."""
    from sigstack.ca import trustdoc

    start = trustdoc.rfc3339(chain[-1].not_valid_before_utc)
    tsas = [trustdoc.AuthoritySpec(stack.timestamp_url, tsa_chain)] if tsa_chain else []
    root = trustdoc.trusted_root(cas=[trustdoc.AuthoritySpec(stack.ca_url, chain, start)],
                                 tlogs=[trustdoc.LogSpec(stack.tlog_url, log_public, start)],
                                 ctlogs=[trustdoc.LogSpec(stack.ca_url, ct_public, start)], tsas=tsas)

    def service(url: str) -> trustdoc.ServiceSpec:
        return trustdoc.ServiceSpec(url, 1, start, "sigstack-serve")

    config = trustdoc.signing_config(cas=[service(stack.ca_url)], oidcs=[service(stack.oidc_url)],
                                     rekors=[service(stack.tlog_url)], rekor_config="ANY",
                                     tsas=[service(stack.timestamp_url)] if tsa_chain else [])
    d = stack.dir
    env = "\n".join([
        "# sigstack serve: source this file (set -a; . ./env; set +a) to sign and verify keylessly",
        "# against the local services, with sigstack and with the real cosign v3.",
        f"COSIGN_SIGNING_CONFIG={d / 'signing_config.json'}",
        f"COSIGN_TRUSTED_ROOT={d / 'trusted_root.json'}",
        f"COSIGN_CERTIFICATE_OIDC_ISSUER={stack.oidc_url}",
        "# The signing config names the CA, the log and the OIDC issuer; cosign refuses service",
        "# URLs beside it, so these stay comments (for --use-signing-config=false or cosign v2):",
        f"# COSIGN_FULCIO_URL={stack.ca_url} COSIGN_REKOR_URL={stack.tlog_url} COSIGN_OIDC_ISSUER={stack.oidc_url}",
        *([f"# COSIGN_TIMESTAMP_SERVER_URL={stack.timestamp_url}",
           f"# SIGSTORE_TSA_CERTIFICATE_FILE={d / 'tsa' / 'chain.pem'}"] if tsa_chain else []),
        "# cosign v2 reads the trust material from these instead of a trusted root:",
        f"SIGSTORE_ROOT_FILE={d / 'ca' / 'chain.pem'}",
        f"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE={d / 'ca' / 'ct.pub'}",
        f"SIGSTORE_REKOR_PUBLIC_KEY={d / 'tlog' / 'log.pub'}",
        "",
    ])
    atomic_write_files([
        (d / "trusted_root.json", trustdoc.dumps(root), 0o644),
        (d / "signing_config.json", trustdoc.dumps(config), 0o644),
        (d / "trust_config.json", trustdoc.dumps(trustdoc.client_trust_config(root, config)), 0o644),
        (d / "env", env.encode(), 0o644),
    ])


class _Server:
    """A uvicorn server that leaves signals to :func:`serve` (uvicorn would install its
    own handlers per server, and only the last one installed would hear them)."""

    def __init__(self, app: Any, sock: socket.socket, options: ServerOptions, render: Any = None) -> None:
        import uvicorn

        from sigstack._internal.serving import uvicorn_config

        class Quiet(uvicorn.Server):
            def install_signal_handlers(self) -> None:  # uvicorn < 0.29
                pass

            def capture_signals(self) -> Any:  # uvicorn >= 0.29
                import contextlib

                return contextlib.nullcontext()

        self.sock = sock
        self.server = Quiet(uvicorn_config(app, options, render=render))

    async def run(self) -> None:
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True


def serve(state: Path, host: str = "127.0.0.1", ports: Ports | None = None,
          ready: Callable[[Stack], None] | None = None, *, login_email: str = DEFAULT_LOGIN_EMAIL,
          options: ServerOptions | None = None) -> Stack:
    """Serve until SIGINT/SIGTERM; ``ready(stack)`` runs once the sockets listen and
    the trust material is written. ``login_email`` is who the dev issuer's browser and
    device logins sign in as; ``options`` (rate limit, read timeout, log level) apply
    to the three servers alike."""
    from cryptography.hazmat.primitives import serialization

    from sigstack.ca.config import load_config
    from sigstack.ca.server import build_ca
    from sigstack.oidc.api import create_app as oidc_app
    from sigstack.oidc.issuer import (
        DevIssuer,
        GitHubWorkflow,
        Logins,
        load_or_create_key,
        load_or_create_request_token,
    )
    from sigstack.tlog.api import create_app as tlog_app
    from sigstack.tlog.server import build_log
    from sigstack.tsa.api import create_app as tsa_app
    from sigstack.tsa.authority import TimestampAuthority
    from sigstack.tsa.state import ensure_state as ensure_tsa_state

    ports = ports or Ports()
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    socks = {name: _bind(host, getattr(ports, name)) for name in ("oidc", "ca", "tlog", "tsa")}
    shown = f"[{host}]" if ":" in host else host
    urls = {name: f"http://{shown}:{s.getsockname()[1]}" for name, s in socks.items()}
    stack = Stack(state.resolve(), host, urls["oidc"], urls["ca"], urls["tlog"], urls["tsa"])

    oidc_state = state / "oidc"
    issuer = DevIssuer(stack.oidc_url, load_or_create_key(oidc_state), GitHubWorkflow(),
                       load_or_create_request_token(oidc_state), Logins(login_email))
    atomic_write_files([(oidc_state / "issuer-url", stack.oidc_url.encode() + b"\n", 0o644)])
    config = load_config(None)
    config.add(stack.oidc_url, "email", "sigstore")
    config.add(stack.oidc_url + "/github", "ci-provider", "sigstore", "github-workflow")
    ca = build_ca(state / "ca", config)
    key_path = _log_key(state / "tlog")
    log = build_log(str(state / "tlog" / "log.db"), str(key_path), stack.tlog_url.split("://", 1)[1])
    log_public = serialization.load_pem_public_key((state / "tlog" / "log.pub").read_bytes())
    tsa = TimestampAuthority(ensure_tsa_state(state / "tsa"))
    write_trust_material(stack, ca.material.chain, ca.material.ct_signer.public_key(), log_public,
                         tsa.material.chain)

    from sigstack._internal.ratelimit import plain
    from sigstack.ca.api import grpc_error
    from sigstack.tlog.server import rekor_error

    options = options or ServerOptions()
    servers = [_Server(oidc_app(issuer), socks["oidc"], options), _Server(ca.app, socks["ca"], options, grpc_error),
               _Server(tlog_app(log), socks["tlog"], options, rekor_error),
               _Server(tsa_app(tsa), socks["tsa"], options, plain)]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        def stop_all() -> None:
            for s in servers:
                s.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_all)
        tasks = [asyncio.ensure_future(s.run()) for s in servers]
        await asyncio.sleep(0)
        while not all(s.server.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.01)
        else:
            if ready is not None:
                ready(stack)
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        log.store.close()
        for s in socks.values():
            s.close()
    return stack
