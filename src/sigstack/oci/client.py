"""A small OCI distribution client over httpx: manifests, blobs, tags, referrers.

Why hand-written: no maintained pure-Python OCI client gives the controls this
project needs together (ggcr-compatible scheme fallback, Docker's keychain, bearer
scopes, strict digest checks, hard size bounds and retry policy), and the API
surface we use is a dozen endpoints.

Safety rules, applied to every request:

* Everything fetched by digest is hashed while it streams in and refused unless it
  matches (``DigestMismatchError``); a manifest fetched by tag is checked against
  ``Docker-Content-Digest`` when the registry sends one.
* Reads are bounded (manifests 4 MiB, blobs ``COSIGN_MAX_ATTACHMENT_SIZE`` or
  128 MiB by default) before and while reading, so a hostile registry cannot make
  us allocate gigabytes; redirects are capped.
* 429 and 5xx (and dropped connections) are retried with exponential backoff,
  honouring a short ``Retry-After``, then reported in one line.
* Proxies: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are honoured with Go's rules
  (as cosign does; loopback registries are never proxied), decided per request and
  per redirect hop by ``sigstack._internal.proxy``; httpx's own ``trust_env`` rules
  stay off.
* Blobs are uploaded before the manifest that names them, the manifest last: a
  failure midway leaves no new tag and no manifest behind. Streams are uploaded
  in chunks and never held whole in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Protocol

import httpx

from sigstack._internal import bounded as _bounded
from sigstack._internal import proxy as _proxy
from sigstack._internal import proxy_transport as _proxy_transport
from sigstack._internal import safejson
from sigstack.errors import (
    AuthError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    TooLargeError,
)
from sigstack.oci import auth as _auth
from sigstack.oci.reference import DOCKER_HUB, Reference, Repository

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024  # registry tokens are JWTs of a few kB
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
DEFAULT_MAX_BLOB_BYTES = 128 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = "sigstack"


def parse_size(text: str, what: str = "size") -> int:
    """A byte count as cosign writes sizes (``512``, ``100MB``, ``1GiB``; k8s quantity units);
    empty means the default attachment limit."""
    text = text.strip()
    if not text:
        return DEFAULT_MAX_BLOB_BYTES
    m = re.fullmatch(r"(\d+)\s*([KMGT]i?B?|B)?", text, re.IGNORECASE)
    if not m:
        raise RegistryError(f"invalid {what}: {text!r}")
    unit = (m.group(2) or "B").upper().rstrip("B")
    power = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "KI": 1, "MI": 2, "GI": 3, "TI": 4}[unit]
    base = 1024 if "I" in unit else 1000
    return int(m.group(1)) * int(base**power)


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to registries; cosign's flag names in the comments."""

    allow_insecure: bool = False  # --allow-insecure-registry: skip TLS verification
    allow_http: bool = False  # --allow-http-registry: plain HTTP to any host
    ca_file: str | None = None  # --registry-cacert, added to the system roots
    docker_config: str | None = None  # else $DOCKER_CONFIG, else ~/.docker
    timeout: float = 180.0
    max_manifest_bytes: int = MAX_MANIFEST_BYTES
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES  # cosign's COSIGN_MAX_ATTACHMENT_SIZE
    max_redirects: int = 5
    attempts: int = 4
    backoff: float = 0.25
    chunk_bytes: int = CHUNK_BYTES
    # Read-modify-write of a shared tag (.sig/.att, the referrers fallback index): how many
    # rounds of write-then-read-back, and the least wait before reading back (layouts/merge.py)
    write_attempts: int = 10
    write_settle: float = 0.05
    # writers of one tag on this machine take turns (a per-user flock, _internal/hostlock.py);
    # None: the user's cache directory; write_lock=False: rely on the read-back alone
    write_lock: bool = True
    write_lock_dir: str | None = None
    write_lock_timeout: float = 120.0
    debug: Callable[[str], None] | None = None  # receives one line per HTTP request/response (-d)
    # HTTP(S)_PROXY / NO_PROXY with Go's rules; None reads them from the environment
    proxies: _proxy.ProxySettings | None = None
    # credentials by registry host, tried before the docker config (the admission
    # webhook passes a pod's imagePullSecrets here, as k8schain does)
    credentials: Mapping[str, _auth.Credentials] | None = None


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    size: int
    digest: str
    artifact_type: str | None = None
    annotations: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out


@dataclass(frozen=True)
class Manifest:
    """Raw manifest bytes as served (never re-serialised), with their digest."""

    data: bytes
    media_type: str
    digest: str

    @property
    def size(self) -> int:
        return len(self.data)

    def json(self) -> dict[str, Any]:
        try:
            value = safejson.loads(self.data)
        except ValueError:
            raise RegistryError(f"manifest {self.digest} is not valid JSON") from None
        if not isinstance(value, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return value

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.size, self.digest)


class RegistryReader(Protocol):
    """The read calls verification needs. :class:`RegistryClient` is one; an OCI
    image layout directory opened by :mod:`sigstack.oci.ocilayout` is another, so
    ``verify --local-image`` runs the very same verification code."""

    options: RegistryOptions

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES) -> Manifest: ...

    def head_manifest(self, ref: Reference) -> Descriptor: ...

    def get_blob(self, repo: Repository, digest: str, limit: int | None = None) -> bytes: ...

    def referrers(self, repo: Repository, digest: str, artifact_type: str | None = None
                  ) -> dict[str, Any] | None: ...


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hasher(digest: str) -> Any:
    alg, _, _hex = digest.partition(":")
    if alg not in ("sha256", "sha384", "sha512"):
        raise RegistryError(f"unsupported digest algorithm in {digest}")
    return hashlib.new(alg)


def _tls_context(extra: str | None) -> ssl.SSLContext:
    """System roots plus ``extra``. The roots come from the hashed certificate
    directory when there is one: OpenSSL then reads only the CA it needs, where
    ``create_default_context`` parses the whole bundle (~20 ms on every start)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    paths = ssl.get_default_verify_paths()
    capath: str | None = os.environ.get("SSL_CERT_DIR") or paths.capath
    if capath and os.path.isdir(capath) and any(
            re.fullmatch(r"[0-9a-f]{8}\.\d+", n) for n in os.listdir(capath)[:4096]):
        ctx.load_verify_locations(capath=capath)
    else:
        capath = None
        ctx.load_default_certs()
    same_as_system = bool(extra and capath and os.path.exists(paths.openssl_cafile)
                          and os.path.realpath(extra) == os.path.realpath(paths.openssl_cafile))
    if extra and not same_as_system:  # SSL_CERT_FILE naming the system bundle adds nothing
        try:
            ctx.load_verify_locations(cafile=extra)
        except (OSError, ssl.SSLError) as exc:
            raise RegistryError(f"loading CA certificates from {extra}: {exc}") from None
    return ctx


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    return name in ("localhost", "::1") or name.startswith("127.") or name.endswith(".local")


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _registry_errors(resp: httpx.Response, timeout: float) -> str:
    """The distribution-spec ``{"errors": [{"code", "message"}]}`` of an error answer,
    read within 64 KiB and ``timeout`` (it was read whole, then cut); anything else
    gives the status line. ``"errors": 1.5`` was a TypeError (found by the fuzzer)."""
    try:
        body = safejson.loads(_bounded.read_body(resp, 65536, timeout, "error body", RegistryError))
        errs = body.get("errors") if isinstance(body, dict) else None
        parts = [f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                 for e in (errs if isinstance(errs, list) else []) if isinstance(e, dict)]
        if parts:
            return "; ".join(parts)[:1000]
    except (ValueError, RegistryError, httpx.HTTPError, httpx.StreamError):
        pass
    return f"unexpected status code {resp.status_code} {resp.reason_phrase}".strip()


def _release(resp: httpx.Response) -> None:
    """Close ``resp`` so that its connection can carry the next request. A kept-alive
    connection is reusable only once its response was read to the end, so a small
    unread body (HEAD answers, 404s, upload replies) is drained first; a large one
    is dropped with its connection. Without this every request paid a new TCP
    connection."""
    try:
        if not resp.is_stream_consumed:
            length = resp.headers.get("content-length", "")
            if resp.request.method == "HEAD" or (length.isascii() and length.isdigit() and int(length) <= 65536):
                resp.read()
    except (httpx.HTTPError, RuntimeError):
        pass
    finally:
        resp.close()


@contextlib.contextmanager
def _released(resp: httpx.Response) -> Iterator[httpx.Response]:
    try:
        yield resp
    finally:
        _release(resp)


class RegistryClient:
    """One client for any number of registries; reuse it across a command."""

    def __init__(self, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        verify: ssl.SSLContext | bool = False if self.options.allow_insecure else _tls_context(
            self.options.ca_file or os.environ.get("SSL_CERT_FILE"))
        hooks: dict[str, list[Callable[[Any], None]]] = {}
        log = self.options.debug
        if log is not None:
            hooks = {"request": [lambda r: log(f"--> {r.method} {r.url}")],
                     "response": [lambda r: log(f"<-- {r.status_code} {r.request.method} {r.url}")]}
        self._proxies = self.options.proxies or _proxy.ProxySettings.from_env()
        self._http = httpx.Client(
            event_hooks=hooks,
            transport=_proxy_transport.transport(self._proxies, verify, debug=log),
            follow_redirects=True,
            max_redirects=self.options.max_redirects,
            timeout=self.options.timeout,
            headers={"User-Agent": _USER_AGENT, **_bounded.IDENTITY},
            trust_env=False,
        )
        self._base: dict[str, str] = {}
        self._challenge: dict[str, tuple[str, dict[str, str]]] = {}
        self._auth: dict[tuple[str, str], str] = {}
        self._creds: dict[str, _auth.Credentials] = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------

    def _credentials(self, host: str) -> _auth.Credentials:
        if host not in self._creds:
            given = _auth.lookup(self.options.credentials, host) if self.options.credentials else None
            self._creds[host] = given or _auth.resolve(host, self.options.docker_config)
        return self._creds[host]

    def _api_host(self, host: str) -> str:
        return "registry-1.docker.io" if host == DOCKER_HUB else host

    def base_url(self, host: str) -> str:
        """``scheme://host`` after ggcr's ping: HTTPS first, plain HTTP only for
        loopback hosts or with --allow-http-registry."""
        if host in self._base:
            return self._base[host]
        api = self._api_host(host)
        schemes = ["https"]
        if self.options.allow_http or _is_loopback(api):
            schemes.append("http")
        errors: list[str] = []
        for scheme in schemes:
            try:
                resp = self._send("GET", f"{scheme}://{api}/v2/", {}, None)
            except RegistryError as exc:
                errors.append(exc.message)
                continue
            with _released(resp):
                if resp.status_code == 407:
                    errors.append(f"GET {scheme}://{api}/v2/: the proxy asks for credentials (HTTP 407)"
                                  f"{self._via(f'{scheme}://{api}/v2/')}; give them in the proxy URL "
                                  "(http://USER:PASSWORD@HOST:PORT)")
                    continue
                if resp.status_code not in (200, 401, 403):
                    errors.append(f"GET {scheme}://{api}/v2/: unexpected status {resp.status_code}")
                    continue
                if resp.status_code == 401 and resp.headers.get("www-authenticate"):
                    self._challenge[host] = _parse_challenge(resp.headers["www-authenticate"])
            self._base[host] = f"{scheme}://{api}"
            return self._base[host]
        if "CERTIFICATE_VERIFY_FAILED" in errors[0]:
            raise RegistryError(f"cannot reach registry {host}: its TLS certificate is not trusted",
                                hint="registry_ca")
        raise RegistryError(f"cannot reach registry {host}: {errors[-1]}",
                            hint=None if self.options.allow_http else "registry_http")

    def _send(self, method: str, url: str, headers: Mapping[str, str], content: Any,
              *, stream: bool = True) -> httpx.Response:
        """One request, retried on 429/5xx and dropped connections when ``content``
        can be re-sent (bytes or nothing)."""
        retryable = content is None or isinstance(content, bytes)
        attempts = self.options.attempts if retryable else 1
        for attempt in range(attempts):
            try:
                req = self._http.build_request(method, url, headers=dict(headers), content=content)
                resp = self._http.send(req, stream=stream)
            except httpx.TooManyRedirects:
                raise RegistryError(
                    f"{method} {url}: too many redirects (more than {self.options.max_redirects})"
                ) from None
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt + 1 < attempts and not isinstance(exc, httpx.ConnectError):
                    time.sleep(self.options.backoff * 2**attempt)
                    continue
                raise RegistryError(f"{method} {url}: {exc}{self._via(url)}") from None
            except httpx.TimeoutException:
                raise RegistryError(f"{method} {url}: timed out{self._via(url)}") from None
            except httpx.HTTPError as exc:
                raise RegistryError(f"{method} {url}: {exc}{self._via(url)}") from None
            except httpx.InvalidURL as exc:  # no HTTPError: a URL made from what a registry sent
                raise RegistryError(f"{method} {url[:300]!r}: not a valid URL: {exc}") from None
            if resp.status_code in _RETRY_STATUS and attempt + 1 < attempts:
                delay = self.options.backoff * 2**attempt
                after = resp.headers.get("retry-after", "")
                if after.isascii() and after.isdigit():  # "²" passes isdigit, not float()
                    delay = min(float(after), 5.0)
                _release(resp)
                time.sleep(delay)
                continue
            return resp
        raise AssertionError("unreachable")

    def _via(self, url: str) -> str:
        return _proxy.describe(self._proxies, url) if self._proxies.active else ""

    def _token(self, host: str, repo: str, actions: str, *, refresh: bool = False) -> str | None:
        key = (host, f"{repo}:{actions}")
        if key in self._auth and not refresh:
            return self._auth[key]
        if not refresh and actions == "pull" and (host, f"{repo}:pull,push") in self._auth:
            return self._auth[(host, f"{repo}:pull,push")]
        challenge = self._challenge.get(host)
        if challenge is None:
            return None
        scheme, params = challenge
        creds = self._credentials(host)
        header: str | None = None
        if scheme == "basic":
            if creds.anonymous:
                return None
            import base64

            header = "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        elif scheme == "bearer":
            header = "Bearer " + self._fetch_token(host, params, f"repository:{repo}:{actions}", creds)
        self._auth[key] = header or ""
        return header

    def _fetch_token(self, host: str, params: dict[str, str], scope: str,
                     creds: _auth.Credentials) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"registry {host} sent a bearer challenge without a realm")
        try:  # the realm is the registry's word: an absolute http(s) URL, or nothing is fetched
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise AuthError(f"registry {host} sent a bearer challenge whose realm is not an http(s) URL: "
                            f"{realm[:200]!r}")
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        # streamed and bounded like every other answer (a token server is as remote as
        # the registry); safejson, since json.loads raises RecursionError on a deep nest
        try:
            if creds.identity_token:
                form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                        "client_id": "sigstack", **query}
                resp = self._http.send(self._http.build_request("POST", realm, data=form), stream=True)
            else:
                basic = None if creds.anonymous else (creds.username, creds.password)
                resp = self._http.send(self._http.build_request("GET", realm, params=query), auth=basic,
                                       stream=True)
            with _released(resp):
                if resp.status_code in (401, 403):
                    raise AuthError(self._login_hint(host, resp.status_code))
                if resp.status_code != 200:
                    raise AuthError(f"fetching a token from {realm}: HTTP {resp.status_code}")
                data = _bounded.read_body(resp, MAX_TOKEN_BYTES, self.options.timeout, f"the token from {realm}",
                                          AuthError)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL is no HTTPError
            raise AuthError(f"fetching a token from {realm}: {exc}{self._via(realm)}") from None
        try:
            body = safejson.loads(data)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthError(f"token server {realm} returned no token")
        if not (token.isascii() and token.isprintable()):  # it goes into a header line as it is
            raise AuthError(f"token server {realm} returned a token that is not printable ASCII")
        return token

    def _login_hint(self, host: str, status: int) -> str:
        creds = self._credentials(host)
        where = _auth.config_dir(self.options.docker_config) / "config.json"
        if status == 401 and creds.anonymous:
            return (f"authentication required by {host} (HTTP 401): run `sigstack login {host} -u USER` "
                    f"(or `docker login {host}`) to store credentials in {where}")
        if status == 401:
            return (f"the registry {host} rejected the stored credentials (HTTP 401): run "
                    f"`sigstack login {host} -u USER` to update them in {where}")
        return (f"access denied by {host} (HTTP 403): the credentials in {where} lack permission; "
                f"log in as a user with access (`sigstack login {host} -u USER`)")

    def request(self, method: str, repo: Repository, path: str, *, push: bool = False,
                headers: Mapping[str, str] | None = None, content: Any = None,
                ok: tuple[int, ...] = (200,), absolute: str | None = None) -> httpx.Response:
        """An authenticated API request; raises unless the status is in ``ok``.
        The caller must close the (streamed) response."""
        host = repo.registry
        base = self.base_url(host)
        url = absolute or f"{base}{path}"
        actions = "pull,push" if push else "pull"
        hdrs = dict(headers or {})
        for attempt in range(2):
            token = self._token(host, repo.path, actions, refresh=attempt > 0)
            if token:
                hdrs["Authorization"] = token
            resp = self._send(method, url, hdrs, content)
            if resp.status_code == 401 and attempt == 0 and resp.headers.get("www-authenticate") \
                    and (content is None or isinstance(content, bytes)):
                self._challenge[host] = _parse_challenge(resp.headers["www-authenticate"])
                _release(resp)
                continue
            break
        if resp.status_code in ok:
            return resp
        with _released(resp):
            if resp.status_code in (401, 403):
                raise AuthError(self._login_hint(host, resp.status_code), status=resp.status_code)
            detail = _registry_errors(resp, self.options.timeout) if method != "HEAD" else f"HTTP {resp.status_code}"
            text = f"{method} {url}: {detail}"
            if resp.status_code in _RETRY_STATUS and (content is None or isinstance(content, bytes)):
                text += f" (gave up after {self.options.attempts} attempts)"
            if resp.status_code == 404:
                raise NotFoundError(text, status=404)
            raise RegistryError(text, status=resp.status_code)

    # ---- bounded reads ---------------------------------------------------------------

    def _read_bounded(self, resp: httpx.Response, limit: int, what: str, digest: str | None) -> bytes:
        """At most ``limit`` bytes within the timeout (a registry that streams forever or
        trickles is cut off), never a Content-Encoding we did not ask for, and checked
        against ``digest`` when given."""
        hasher = _hasher(digest) if digest else None
        data = _bounded.read_body(resp, limit, self.options.timeout, what, RegistryError, TooLargeError,
                                  hasher.update if hasher is not None else None)
        if digest and hasher is not None and f"{digest.split(':')[0]}:{hasher.hexdigest()}" != digest:
            raise DigestMismatchError(f"{what}: the registry served content that does not match {digest}")
        return data

    # ---- manifests -------------------------------------------------------------------

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES) -> Manifest:
        repo = ref.repository
        resp = self.request("GET", repo, f"/v2/{repo.path}/manifests/{ref.identifier}",
                            headers={"Accept": ", ".join(accept)})
        with _released(resp):
            data = self._read_bounded(resp, self.options.max_manifest_bytes, f"manifest {ref}", ref.digest)
            media = resp.headers.get("content-type", "").split(";")[0].strip()
            served = resp.headers.get("docker-content-digest")
        if ref.digest:
            digest = ref.digest
        else:
            digest = sha256_digest(data)
            if served and served.startswith("sha256:") and served != digest:
                raise DigestMismatchError(
                    f"manifest {ref}: the registry's Docker-Content-Digest {served} does not match "
                    f"the content ({digest})")
        if not media or media in ("application/json", "application/octet-stream", "text/plain"):
            try:
                media = str(safejson.loads(data).get("mediaType") or OCI_MANIFEST)
            except (ValueError, AttributeError):
                raise RegistryError(f"manifest {ref} is not valid JSON") from None
        return Manifest(data, media, digest)

    def head_manifest(self, ref: Reference) -> Descriptor:
        """The descriptor of ``ref``; falls back to GET when HEAD lacks the digest."""
        repo = ref.repository
        resp = self.request("HEAD", repo, f"/v2/{repo.path}/manifests/{ref.identifier}",
                            headers={"Accept": ", ".join(MANIFEST_TYPES)})
        with _released(resp):
            digest = resp.headers.get("docker-content-digest", "")
            media = resp.headers.get("content-type", "").split(";")[0].strip()
            size = resp.headers.get("content-length", "")
        # a well-formed digest only (ggcr's v1.NewHash): it names the .sig/.att tags and later URLs
        matches = digest == ref.digest if ref.digest else _SHA256.fullmatch(digest) is not None
        if matches and size.isascii() and size.isdigit() and len(size) < 20 and media in MANIFEST_TYPES:
            return Descriptor(media, int(size), digest)
        return self.get_manifest(ref).descriptor()

    def resolve(self, ref: Reference) -> Descriptor:
        return self.head_manifest(ref)

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        repo = ref.repository
        digest = sha256_digest(data)
        if ref.digest and ref.digest != digest:
            raise RegistryError(f"refusing to push a manifest to {ref}: its digest is {digest}")
        if len(data) > self.options.max_manifest_bytes:
            raise TooLargeError(f"manifest is {len(data)} bytes, over the limit")
        resp = self.request("PUT", repo, f"/v2/{repo.path}/manifests/{ref.identifier}", push=True,
                            headers={"Content-Type": media_type}, content=data, ok=(200, 201, 202))
        _release(resp)
        return digest

    def delete_manifest(self, ref: Reference) -> None:
        repo = ref.repository
        resp = self.request("DELETE", repo, f"/v2/{repo.path}/manifests/{ref.identifier}", push=True,
                            ok=(200, 202))
        _release(resp)

    def manifest_exists(self, ref: Reference) -> Descriptor | None:
        try:
            return self.head_manifest(ref)
        except NotFoundError:
            return None

    # ---- blobs -----------------------------------------------------------------------

    def blob_exists(self, repo: Repository, digest: str) -> bool:
        try:
            _release(self.request("HEAD", repo, f"/v2/{repo.path}/blobs/{digest}"))
            return True
        except NotFoundError:
            return False

    def get_blob(self, repo: Repository, digest: str, limit: int | None = None) -> bytes:
        resp = self.request("GET", repo, f"/v2/{repo.path}/blobs/{digest}")
        with _released(resp):
            return self._read_bounded(resp, limit or self.options.max_blob_bytes, f"blob {digest}", digest)

    def stream_blob(self, repo: Repository, digest: str, out: IO[bytes]) -> int:
        """Copy a blob of any size to ``out``, checking its digest at the end
        (``out`` must be discarded by the caller on error)."""
        resp = self.request("GET", repo, f"/v2/{repo.path}/blobs/{digest}")
        hasher = _hasher(digest)
        total = 0
        with _released(resp):
            encoding = resp.headers.get("content-encoding", "").strip().lower()
            if encoding not in ("", "identity"):  # asked for identity: a bomb is refused unread
                raise RegistryError(f"blob {digest} came {encoding}-encoded, which was not asked for")
            for chunk in resp.iter_raw(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
                total += len(chunk)
        if f"{digest.split(':')[0]}:{hasher.hexdigest()}" != digest:
            raise DigestMismatchError(f"blob {digest}: the registry served content that does not match")
        return total

    def _location(self, resp: httpx.Response, repo: Repository) -> str:
        loc = resp.headers.get("location")
        if not loc:
            raise RegistryError(f"registry {repo.registry} gave no upload location")
        return str(urllib.parse.urljoin(str(resp.url), loc))

    @staticmethod
    def _with_digest(url: str, digest: str) -> str:
        return url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})

    def upload_blob(self, repo: Repository, data: bytes | IO[bytes], digest: str,
                    size: int | None = None) -> Descriptor:
        """Upload a blob unless it exists: bytes go in one PUT; streams go in
        PATCH chunks of ``chunk_bytes`` and are hashed on the way. The registry
        only creates the blob at the final PUT, after checking the digest; on any
        failure the upload session is cancelled."""
        length = len(data) if isinstance(data, bytes) else size
        if length is None:
            raise RegistryError("upload_blob needs the size of a stream")
        if self.blob_exists(repo, digest):
            return Descriptor("application/octet-stream", length, digest)
        resp = self.request("POST", repo, f"/v2/{repo.path}/blobs/uploads/", push=True, ok=(202,))
        with _released(resp):
            url = self._location(resp, repo)
        try:
            if isinstance(data, bytes) and len(data) <= self.options.chunk_bytes:
                _release(self.request("PUT", repo, "", push=True, absolute=self._with_digest(url, digest),
                                      headers={"Content-Type": "application/octet-stream"},
                                      content=data, ok=(201, 204)))
            else:
                url = self._upload_chunks(repo, url, data, digest)
                _release(self.request("PUT", repo, "", push=True, absolute=self._with_digest(url, digest),
                                      ok=(201, 204)))
        except BaseException:
            with contextlib.suppress(RegistryError):
                _release(self._send("DELETE", url, self._auth_headers(repo), None))
            raise
        return Descriptor("application/octet-stream", length, digest)

    def _auth_headers(self, repo: Repository) -> dict[str, str]:
        token = self._token(repo.registry, repo.path, "pull,push")
        return {"Authorization": token} if token else {}

    def _chunks(self, data: bytes | IO[bytes]) -> Iterator[bytes]:
        step = self.options.chunk_bytes
        if isinstance(data, bytes):
            for i in range(0, len(data), step):
                yield data[i : i + step]
            return
        while chunk := data.read(step):
            yield chunk

    def _upload_chunks(self, repo: Repository, url: str, data: bytes | IO[bytes], digest: str) -> str:
        hasher = _hasher(digest)
        offset = 0
        for chunk in self._chunks(data):
            hasher.update(chunk)
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                       "Content-Length": str(len(chunk))}
            resp = self.request("PATCH", repo, "", push=True, absolute=url, headers=headers,
                                content=chunk, ok=(202, 204))
            with _released(resp):
                url = self._location(resp, repo)
            offset += len(chunk)
        if f"{digest.split(':')[0]}:{hasher.hexdigest()}" != digest:
            raise DigestMismatchError(f"the uploaded stream does not match {digest}")
        return url

    # ---- listings --------------------------------------------------------------------

    def list_tags(self, repo: Repository, page_size: int = 1000) -> list[str]:
        """Every tag, following the ``Link: <...>; rel="next"`` pagination."""
        tags: list[str] = []
        path: str | None = f"/v2/{repo.path}/tags/list?n={page_size}"
        pages = 0
        while path and pages < 1000:
            pages += 1
            resp = self.request("GET", repo, path)
            with _released(resp):
                data = self._read_bounded(resp, self.options.max_manifest_bytes, "tag list", None)
                link = resp.headers.get("link", "")
            try:
                found = safejson.loads(data).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"tag list of {repo} is not valid JSON") from None
            if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
                raise RegistryError(f"tag list of {repo}: tags is not a list of strings")
            tags.extend(found)
            m = re.match(r"<([^>]+)>", link)
            path = self._next_page(repo, m.group(1)) if m else None
        return tags

    def _next_page(self, repo: Repository, link: str) -> str:
        """The path of a ``Link: <...>; rel="next"`` page: relative to the registry, or
        absolute on the registry itself (its token is sent there, so never elsewhere)."""
        if link.startswith("/") and not link.startswith("//"):
            return link
        base = self.base_url(repo.registry)
        if link.startswith(base + "/"):
            return link[len(base):]
        raise RegistryError(f"tag list of {repo}: the next page {link[:200]!r} is not on the registry")

    def referrers(self, repo: Repository, digest: str, artifact_type: str | None = None
                  ) -> dict[str, Any] | None:
        """The OCI 1.1 referrers index of ``digest``, or None when the registry
        has no referrers API (404/400), as ggcr decides."""
        path = f"/v2/{repo.path}/referrers/{digest}"
        if artifact_type:
            path += "?" + urllib.parse.urlencode({"artifactType": artifact_type})
        try:
            resp = self.request("GET", repo, path, headers={"Accept": OCI_INDEX})
        except NotFoundError:
            return None
        except RegistryError as exc:
            if exc.status == 400:
                return None
            raise
        with _released(resp):
            media = resp.headers.get("content-type", "").split(";")[0].strip()
            data = self._read_bounded(resp, self.options.max_manifest_bytes, "referrers index", None)
        if media and media != OCI_INDEX:
            return None
        try:
            value = safejson.loads(data)
        except ValueError:
            raise RegistryError(f"referrers index of {digest} is not valid JSON") from None
        if not isinstance(value, dict):
            raise RegistryError(f"referrers index of {digest} is not a JSON object")
        return value
