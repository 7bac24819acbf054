"""What every sigstack server shares: TLS, slow-client timeouts, rate limits, bounded
request bodies, redacted logs. The servers (log, CA, CT log, dev OIDC issuer,
admission webhook, Gatekeeper provider, ``sigstack serve``) are Starlette apps run by
uvicorn through :func:`uvicorn_config`/:func:`run` with one :class:`ServerOptions`.

**TLS** (:func:`tls_context`): TLS 1.2 at least (TLS 1.3 only where asked:
Gatekeeper's external-data providers must serve 1.3), TLS 1.2 suites limited to ECDHE
with AES-GCM or ChaCha20-Poly1305 (forward secret AEAD, as Mozilla's "intermediate"
profile), no compression, no renegotiation. Certificate and key are checked before
serving: readable, PEM, the key matching the certificate, and a warning when the key
file is readable by others or the certificate has expired. uvicorn builds its own
context with ``ssl_ciphers="TLSv1"`` by default, so sigstack replaces it with this one.

**Slow clients** (:func:`protocol_class`): uvicorn times out idle keep-alive
connections but not a request being read: a client that connects and sends nothing,
or sends a header byte every few seconds, or dribbles its body, holds its connection
(and, for the body, a handler) for ever; a few thousand of them exhaust file
descriptors (slowloris). uvicorn has no such option, so :class:`_ReadTimeout` (a
subclass of uvicorn's httptools protocol, whose parser callbacks mark where a request
begins and ends) gives each request ``read_timeout`` seconds from its first byte (from
the connection for the first request) to arrive whole, headers and body, as Go's
``http.Server.ReadTimeout``; past it the server answers 408 if it has not answered
yet and closes the connection. Handling of a request once read is not bounded here.
TLS handshakes are bounded by asyncio's ``ssl_handshake_timeout`` (60 s).

**Bodies** (:func:`read_body`): read as they stream, refused with
:class:`BodyTooLarge` as soon as they pass the limit (or declare more in
``Content-Length``), never buffered whole first as Starlette's ``request.body()`` does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigstack.errors import SigstackError, TLSConfigError

logger = logging.getLogger("sigstack.server")

#: TLS 1.2 suites: ECDHE key exchange, AEAD ciphers only (TLS 1.3's suites are all AEAD)
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!RSA+AESGCM"
LOG_LEVELS = ("warning", "info", "debug")


class BodyTooLarge(Exception):
    """A request body over its limit (the server answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class ClientGone(Exception):
    """The client went away (or was timed out) while sending its body."""


@dataclass(frozen=True)
class ServerOptions:
    """How a server listens: TLS files, per-client rate limit (requests a second, 0 off;
    ``burst`` requests at once), the time a client has to send one whole request,
    the keep-alive idle timeout, and the log level (``info`` adds the access log)."""

    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    tls13_only: bool = False
    rate_limit: float = 0.0
    rate_burst: int = 0
    read_timeout: float = 30.0
    keep_alive: int = 5
    log_level: str = "warning"

    @property
    def burst(self) -> int:
        return self.rate_burst or max(1, int(2 * self.rate_limit))


def _check_readable(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"reading the TLS {what} {path}: {exc.strerror or exc}") from None


def tls_context(cert: str, key: str, *, tls13_only: bool = False, client_ca: str | None = None) -> ssl.SSLContext:
    """A server context for ``cert`` (PEM chain, leaf first) and ``key`` (see module docstring)."""
    import datetime

    from cryptography import x509

    cert_pem = _check_readable(cert, "certificate")
    _check_readable(key, "key")
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise TLSConfigError(f"the TLS certificate {cert} is not a PEM certificate") from None
    if leaf.not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        logger.warning("the TLS certificate %s expired on %s", cert, leaf.not_valid_after_utc.isoformat())
    try:
        mode = os.stat(key).st_mode
    except OSError:
        mode = 0
    if mode & 0o077:
        logger.warning("the TLS key %s is readable by group or others (mode %o); 0600 is safer",
                       key, mode & 0o777)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls13_only else ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = "the key does not match the certificate" if "mismatch" in str(exc).lower() else \
            f"not a usable PEM key ({exc.reason or exc})"
        raise TLSConfigError(f"TLS key {key} with certificate {cert}: {reason}") from None
    if client_ca:
        _check_readable(client_ca, "client CA")
        try:
            ctx.load_verify_locations(client_ca)
        except ssl.SSLError as exc:
            raise TLSConfigError(f"the TLS client CA {client_ca} is not a PEM certificate ({exc.reason})") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def read_body(request: Any, limit: int) -> bytes:
    """The body of a Starlette ``request``, at most ``limit`` bytes (:class:`BodyTooLarge`)."""
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 19 or int(declared) > limit):
        raise BodyTooLarge(limit)
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                raise BodyTooLarge(limit)
    except ClientDisconnect:
        raise ClientGone() from None
    return bytes(buf)


def protocol_class(read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with the request read timeout (module docstring)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _ReadTimeout(HttpToolsProtocol):
        _read_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._read_timer is None and read_timeout > 0:
                self._read_timer = self.loop.call_later(read_timeout, self._read_timed_out)

        def _disarm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                msg = b"request not received within the read timeout\n"
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(msg), msg))
            self.transport.close()

    return _ReadTimeout


def _configure_logging(level: str) -> None:
    """sigstack's own loggers at ``level`` on stderr (uvicorn configures its own), then
    the redacting filter on every handler."""
    from sigstack._internal import redact

    top = logging.getLogger("sigstack")
    if level != "warning" and not top.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        top.addHandler(handler)
    top.setLevel(level.upper())
    if level == "debug":
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.DEBUG)
            if not logging.getLogger(name).handlers:
                logging.getLogger(name).addHandler(top.handlers[0])
    redact.install(("", "uvicorn", "uvicorn.error", "uvicorn.access", "sigstack", "httpx", "httpcore"))


def wrap_app(app: Any, options: ServerOptions, render: Any = None) -> Any:
    """``app`` behind the per-client rate limit, when one is set."""
    if options.rate_limit <= 0:
        return app
    from sigstack._internal.ratelimit import RateLimit, plain

    return RateLimit(app, options.rate_limit, options.burst, render or plain)


def uvicorn_config(app: Any, options: ServerOptions, host: str | None = None, port: int | None = None,
                   render: Any = None) -> Any:
    """A loaded ``uvicorn.Config`` for ``app`` with ``options`` (TLS context in place)."""
    import uvicorn

    if options.log_level not in LOG_LEVELS:
        raise SigstackError(f"log level {options.log_level!r}: use one of {', '.join(LOG_LEVELS)}")
    ctx = tls_context(options.tls_cert, options.tls_key, tls13_only=options.tls13_only,
                      client_ca=options.client_ca) if options.tls_cert and options.tls_key else None
    kwargs: dict[str, Any] = {"host": host, "port": port} if host is not None else {}
    config = uvicorn.Config(wrap_app(app, options, render), log_level=options.log_level,
                            access_log=options.log_level != "warning", timeout_graceful_shutdown=5,
                            timeout_keep_alive=options.keep_alive, http=protocol_class(options.read_timeout),
                            lifespan="on", **kwargs)
    config.load()
    if ctx is not None:
        config.ssl = ctx
    _configure_logging(options.log_level)
    return config


def run(app: Any, host: str, port: int, options: ServerOptions | None = None, render: Any = None) -> None:
    """Serve ``app`` on ``host:port`` until interrupted."""
    import uvicorn

    config = uvicorn_config(app, options or ServerOptions(), host, port, render)
    uvicorn.Server(config).run()
