"""An httpx transport that sends each request direct or through the proxy Go would pick.

httpx's own proxy support (``trust_env``, ``mounts``) chooses by URL pattern and
cannot express Go's rules (loopback never proxied, CIDR and port-specific
``NO_PROXY`` entries), so clients turn it off and use this transport instead:
it asks :class:`~sigstack._internal.proxy.ProxySettings` for every request --
including each redirect hop, as Go's transport does -- and hands the request to
a direct transport or to one proxied transport per proxy URL, made on first use
and kept for its pooled connections.

When no proxy variable is set, :func:`transport` returns the plain direct
transport: nothing changes for users without a proxy.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable

import httpx

from sigstack._internal.proxy import ProxyConfigError, ProxySettings, redact


def _make(verify: ssl.SSLContext | bool, trust_env: bool, proxy: str | None,
          source: str) -> httpx.HTTPTransport:
    try:
        return httpx.HTTPTransport(verify=verify, trust_env=trust_env, proxy=proxy)
    except ImportError:  # socks5 without httpx's optional SOCKS support
        raise ProxyConfigError(f"{source}={redact(proxy or '')} is a SOCKS proxy, which needs "
                               "httpx's SOCKS support: pip install 'httpx[socks]'") from None


class DirectTransport(httpx.BaseTransport):
    """Direct connections, with the TLS context made on the first ``https`` request.

    Building an SSL context (loading the CA bundle) costs 40-70 ms, more than a whole
    keyless signature against local services; a plain-``http`` request (loopback
    services, a private log) never needs one, so it goes through a transport without
    certificate loading. ``verify`` only ever applies to TLS, so nothing is weakened."""

    def __init__(self, verify: ssl.SSLContext | bool, trust_env: bool) -> None:
        self._verify, self._trust_env = verify, trust_env
        self._plain: httpx.HTTPTransport | None = None
        self._tls: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _for(self, scheme: str) -> httpx.HTTPTransport:
        with self._lock:
            if scheme == "http":
                if self._plain is None:
                    self._plain = httpx.HTTPTransport(verify=False, trust_env=False)
                return self._plain
            if self._tls is None:
                self._tls = _make(self._verify, self._trust_env, None, "")
            return self._tls

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request.url.scheme).handle_request(request)

    def close(self) -> None:
        with self._lock:
            made = [t for t in (self._plain, self._tls) if t is not None]
            self._plain = self._tls = None
        for t in made:
            t.close()


class ProxyRoutingTransport(httpx.BaseTransport):
    """Direct or proxied, decided per request by ``settings``."""

    def __init__(self, settings: ProxySettings, verify: ssl.SSLContext | bool, trust_env: bool,
                 debug: Callable[[str], None] | None = None) -> None:
        self._settings = settings
        self._verify = verify
        self._trust_env = trust_env
        self._debug = debug
        self._direct = DirectTransport(verify, trust_env)
        self._proxied: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def _for(self, request: httpx.Request) -> httpx.BaseTransport:
        url = request.url
        proxy = self._settings.proxy_for_parts(url.scheme, url.host, url.port)
        if proxy is None:
            return self._direct
        with self._lock:
            transport = self._proxied.get(proxy)
            if transport is None:
                source = self._settings.source(url.scheme)
                transport = _make(self._verify, self._trust_env, proxy, source)
                self._proxied[proxy] = transport
                if self._debug is not None:
                    self._debug(f"proxy: {redact(proxy)} (from {source}) for {url.scheme}://{url.netloc.decode()}")
        return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request).handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports: list[httpx.BaseTransport] = [self._direct, *self._proxied.values()]
            self._proxied.clear()
        for transport in transports:
            transport.close()


def transport(settings: ProxySettings, verify: ssl.SSLContext | bool, *, trust_env: bool = False,
              debug: Callable[[str], None] | None = None) -> httpx.BaseTransport:
    """The transport for a client: plain and direct when ``settings`` names no proxy.

    ``trust_env`` only governs TLS settings from the environment (``SSL_CERT_FILE``,
    ``SSL_CERT_DIR``); proxies always come from ``settings``."""
    if not settings.active:
        return DirectTransport(verify, trust_env)
    return ProxyRoutingTransport(settings, verify, trust_env, debug)
