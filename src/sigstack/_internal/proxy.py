"""Which HTTP(S) proxy a request goes through, decided as Go decides it.

cosign reaches registries through go-containerregistry, whose transport asks
``http.ProxyFromEnvironment`` (golang.org/x/net/http/httpproxy) for every
request. Users behind corporate proxies set the same variables for both tools,
so this module reproduces Go's rules rather than httpx's (``trust_env``), which
differ: httpx also reads ``ALL_PROXY``, proxies loopback addresses, and has no
CIDR or port-specific ``NO_PROXY`` entries.

The rules (Go's):

* ``HTTPS_PROXY`` for ``https://`` URLs, ``HTTP_PROXY`` for ``http://`` URLs,
  each read upper-case first, lower-case when the upper-case one is unset or
  empty. ``ALL_PROXY`` is not read. A value without a scheme means ``http://``.
  In a CGI process (``REQUEST_METHOD`` set) ``HTTP_PROXY`` is refused, because
  there a client can set it with a ``Proxy:`` header ("httpoxy").
* ``localhost`` and loopback addresses are never proxied, whatever is set.
* ``NO_PROXY`` is a comma-separated list: ``*`` (no proxy at all); an IP
  address or ``[IPv6]``, optionally with ``:port``; a CIDR block; a host name,
  which matches itself and its subdomains (``.example.com`` and
  ``*.example.com`` match only subdomains), optionally with ``:port``. Host
  names are compared case-insensitively; a request to an IP address is matched
  by the address and CIDR entries only (``*.0.0.0`` does not match ``0.0.0.0``).

One deliberate difference: Go silently ignores a proxy value it cannot parse
and connects directly; we raise :class:`ProxyConfigError` naming the variable,
because a typo in a proxy setting otherwise surfaces as a baffling timeout.
The error is raised only when that proxy would be used for a request.

Only the standard library is imported, and ``ipaddress`` only once ``NO_PROXY``
or a host needs it, so the CLI pays nothing for this when no variable is set.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sigstack.errors import ProxyConfigError

if TYPE_CHECKING:
    import ipaddress

__all__ = ["ProxyConfigError", "ProxySettings", "describe", "proxy_for", "redact"]

_DEFAULT_PORTS = {"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")




_USERINFO = r"(^|//)([^/:@]*):[^/@]*@"  # compiled on first use, not at import


def redact(proxy: str) -> str:
    """``proxy`` (a URL or a raw variable value) with its password shown as ``xxxxx``,
    for messages and logs."""
    return re.sub(_USERINFO, r"\1\2:xxxxx@", proxy, count=1)


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    """(name, value) of the first non-empty variable among ``names`` (Go's ``getEnvAny``)."""
    for name in names:
        value = env.get(name, "")
        if value:
            return name, value
    return names[0], ""


def _parse_proxy(name: str, value: str) -> str:
    """Normalise a proxy setting to a URL, as Go's ``parseProxy`` does (no scheme means
    ``http://``), plus the checks Go leaves to the dialer: a host, a numeric port, and no
    unknown scheme (Go would take ``ftp://x`` as the host ``ftp`` of an HTTP proxy)."""
    text = value.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in _PROXY_SCHEMES:
            if parts.scheme and text[len(parts.scheme):].startswith("://"):
                raise ProxyConfigError(f"invalid {name} value {redact(value)!r}: the scheme must be "
                                       f"one of {', '.join(_PROXY_SCHEMES)}")
            text = "http://" + text
            parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ProxyConfigError(f"invalid {name} value {redact(value)!r}: expected a URL such as "
                               f"http://proxy.example:3128 ({exc})") from None
    if not parts.hostname:
        raise ProxyConfigError(f"invalid {name} value {redact(value)!r}: it names no host")
    return text


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort`` for NO_PROXY entries: ``host:port`` or ``[v6]:port``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            return None
        return text[1:end], text[end + 2 :]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress

    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # Go compares ::ffff:a.b.c.d as the IPv4 address
    return ip


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host.lower()


class _NoProxy:
    """A parsed ``NO_PROXY`` (a plain class: dataclass processing costs start-up time)."""

    __slots__ = ("domains", "everything", "ips", "networks")

    def __init__(self, everything: bool = False,
                 ips: tuple[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str], ...] = (),
                 networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
                 domains: tuple[tuple[str, str, bool], ...] = ()) -> None:
        self.everything = everything
        self.ips = ips
        self.networks = networks
        self.domains = domains  # (".suffix", port, also the bare name)

    @classmethod
    def parse(cls, value: str) -> _NoProxy:
        import ipaddress

        ips: list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str]] = []
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        domains: list[tuple[str, str, bool]] = []
        for raw in value.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(everything=True)
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    pass
            split = _split_host_port(entry)
            host, port = split if split is not None else (entry, "")
            if not host:
                continue  # ":80" names no host: ignored, as Go does
            ip = _ip(host)
            if ip is not None:
                ips.append((ip, port))
                continue
            if host.startswith("*."):
                host = host[1:]
            exact = not host.startswith(".")
            suffix = _ascii_host(host if not exact else "." + host)
            domains.append((suffix, port, exact))
        return cls(False, tuple(ips), tuple(networks), tuple(domains))

    def excludes(self, host: str, port: str,
                 ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        """True when a request to ``host:port`` must not use the proxy."""
        if self.everything:
            return True
        if ip is not None:  # an address is matched by address entries only (Go 1.26 does so)
            return (any(ip == want and (not p or p == port) for want, p in self.ips)
                    or any(ip.version == net.version and ip in net for net in self.networks))
        return any((host.endswith(suffix) or (exact and host == suffix[1:])) and (not p or p == port)
                   for suffix, p, exact in self.domains)


class ProxySettings:
    """The proxy variables of one environment; :meth:`proxy_for` decides per URL.

    Build it once per client (``from_env``) and ask it for every request, as Go's
    transport does, so redirects to another host get their own decision. Treat it
    as immutable once built.
    """

    __slots__ = (
        "_no",
        "_parsed",
        "cgi",
        "http_name",
        "http_proxy",
        "https_name",
        "https_proxy",
        "no_proxy",
    )

    def __init__(self, http_proxy: str = "", https_proxy: str = "", no_proxy: str = "",
                 http_name: str = "HTTP_PROXY", https_name: str = "HTTPS_PROXY",
                 cgi: bool = False) -> None:
        self.http_proxy = http_proxy
        self.https_proxy = https_proxy
        self.no_proxy = no_proxy
        self.http_name = http_name  # the variable each value came from, for messages
        self.https_name = https_name
        self.cgi = cgi
        self._parsed: dict[str, str] = {}
        self._no: _NoProxy | None = None

    def __repr__(self) -> str:
        return (f"ProxySettings(http_proxy={redact(self.http_proxy)!r}, "
                f"https_proxy={redact(self.https_proxy)!r}, no_proxy={self.no_proxy!r})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProxySettings:
        env = os.environ if env is None else env
        http_name, http = _first(env, "HTTP_PROXY", "http_proxy")
        https_name, https = _first(env, "HTTPS_PROXY", "https_proxy")
        _, no_proxy = _first(env, "NO_PROXY", "no_proxy")
        return cls(http, https, no_proxy, http_name, https_name, bool(env.get("REQUEST_METHOD")))

    @property
    def active(self) -> bool:
        """Whether any request could be proxied (else a client needs no routing at all)."""
        return bool(self.http_proxy or self.https_proxy)

    def _no_proxy(self) -> _NoProxy:
        if self._no is None:
            self._no = _NoProxy.parse(self.no_proxy)
        return self._no

    def source(self, scheme: str) -> str:
        """The variable that supplies the proxy for ``scheme`` (for messages)."""
        return self.https_name if scheme == "https" else self.http_name

    def proxy_for_parts(self, scheme: str, host: str, port: int | str | None) -> str | None:
        """The proxy URL for a request to ``scheme://host:port``, or None to go direct."""
        scheme = scheme.lower()
        if scheme == "https":
            value, name = self.https_proxy, self.https_name
        elif scheme == "http":
            value, name = self.http_proxy, self.http_name
        else:
            return None
        if not value:
            return None
        if scheme == "http" and self.cgi:
            raise ProxyConfigError(f"refusing to use {name} in a CGI environment (REQUEST_METHOD is set): "
                                   "a client could have set it with a Proxy header")
        host = _ascii_host(host.strip("[]"))
        if host == "localhost":
            return None
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return None
        port_text = str(port) if port not in (None, "") else _DEFAULT_PORTS.get(scheme, "")
        if self._no_proxy().excludes(host, port_text, ip):
            return None
        if name not in self._parsed:
            self._parsed[name] = _parse_proxy(name, value)
        return self._parsed[name]

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for ``url`` (``http``/``https``), or None to go direct."""
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return None  # not a URL any request could be sent to
        return self.proxy_for_parts(parts.scheme, parts.hostname or "", port)


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The proxy a request to ``url`` goes through under ``env`` (default ``os.environ``),
    or None for a direct connection. Raises :class:`ProxyConfigError` when the proxy
    that applies is not a usable URL."""
    return ProxySettings.from_env(env).proxy_for(url)


def describe(settings: ProxySettings, url: str) -> str:
    """`` (through proxy P from VAR)`` when ``url`` goes through a proxy, else ``""``:
    appended to connection errors so that a user sees which hop failed."""
    try:
        proxy = settings.proxy_for(url)
    except ProxyConfigError:
        return ""
    if proxy is None:
        return ""
    return f" (through proxy {redact(proxy)} from {settings.source(urllib.parse.urlsplit(url).scheme)})"
