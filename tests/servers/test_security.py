"""The security review of every server, tested (docs/security.md has the table):
TLS versions and suites, bounded request bodies, per-client rate limits, no secret in
the logs at the most verbose level, state files 0600 in 0700 directories, and
constant-time secret checks. Servers are the real ``sigstack ... serve`` processes
on loopback (tests/servers/_support.py); the file-mode and unit checks run in
process."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sigstack._internal import redact
from sigstack._internal.ratelimit import TokenBuckets
from sigstack._internal.serving import TLS12_CIPHERS, tls_context
from sigstack.errors import TLSConfigError
from tests.keys_backends._http import Tls, make_tls
from tests.servers import _support as s
from tests.servers._support import Proc, raw_connect, review_json


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


# ---- TLS ------------------------------------------------------------------------------------

def test_tls_context_refuses_unusable_files(tls: Tls, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")
    with pytest.raises(TLSConfigError, match="the key does not match the certificate"):
        tls_context(str(tls.cert_file), str(other.key_file))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(TLSConfigError, match="is not a PEM certificate"):
        tls_context(str(tmp_path / "junk.pem"), str(tls.key_file))
    with pytest.raises(TLSConfigError, match=r"reading the TLS key .*No such file"):
        tls_context(str(tls.cert_file), str(tmp_path / "missing.key"))


def test_tls_context_versions_and_suites(tls: Tls) -> None:
    ctx = tls_context(str(tls.cert_file), str(tls.key_file))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls_context(str(tls.cert_file), str(tls.key_file), tls13_only=True).minimum_version == \
        ssl.TLSVersion.TLSv1_3
    for cipher in ctx.get_ciphers():
        if cipher["protocol"] == "TLSv1.3":
            continue
        assert cipher["kea"] == "kx-ecdhe" and cipher["aead"], cipher["name"]  # forward secret AEAD only
    assert "CBC" not in TLS12_CIPHERS and ctx.options & ssl.OP_NO_COMPRESSION


def _handshake(proc: Proc, version: ssl.TLSVersion) -> str:
    """The version negotiated by a client capped at ``version``; raises when refused."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(proc.tls.ca_file) if proc.tls else None)
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old versions: the refusal is the server's
    ctx.minimum_version, ctx.maximum_version = ssl.TLSVersion.MINIMUM_SUPPORTED, version
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock, \
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls_sock:
        return str(tls_sock.version())


@pytest.mark.needs_server
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_every_tls_server_refuses_clients_below_its_minimum(tls: Tls, tmp_path: Path) -> None:
    oidc = s.oidc(tmp_path)
    with s.running(oidc, s.tlog(tmp_path, tls=tls), s.admission(tmp_path, tls),
                   s.gatekeeper(tmp_path, tls)) as (_, log, hook, gk):
        ca = s.ca(tmp_path, oidc.url, tls=tls)
        with s.running(ca):
            for proc in (log, ca, hook):
                with pytest.raises(ssl.SSLError):
                    _handshake(proc, ssl.TLSVersion.TLSv1_1)
                assert _handshake(proc, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
                assert _handshake(proc, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
                with proc.client() as c:
                    assert c.get(proc.probe).status_code == 200
            with pytest.raises(ssl.SSLError):  # Gatekeeper's providers: TLS 1.3 only
                _handshake(gk, ssl.TLSVersion.TLSv1_2)
            assert _handshake(gk, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_a_key_that_does_not_match_is_one_clean_error(tls: Tls, tmp_path: Path) -> None:
    from tests.helpers import assert_clean_error, sigstack

    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")
    key = s.write_key(tmp_path / "log.key")
    r = sigstack("tlog", "serve", "--db", tmp_path / "log.db", "--key", key, "--port", str(s.free_port()),
                 "--tls-cert", tls.cert_file, "--tls-key", other.key_file)
    assert_clean_error(r, f"Error: TLS key {other.key_file} with certificate {tls.cert_file}: the key does not "
                          "match the certificate")
    r = sigstack("tlog", "serve", "--db", tmp_path / "log.db", "--key", key, "--tls-cert", tls.cert_file)
    assert_clean_error(r, "Error: give both --tls-cert and --tls-key, or neither")
    r = sigstack("ca", "serve", "--state", tmp_path / "ca", "--read-timeout", "5x")
    assert_clean_error(r, 'Error: invalid argument "5x" for "--read-timeout" flag: time: invalid duration "5x"')
    r = sigstack("oidc", "serve", "--state", tmp_path / "oidc", "--rate-limit", "-1")
    assert_clean_error(r, "Error: --rate-limit and --rate-burst must not be negative")


# ---- request bodies -------------------------------------------------------------------------

def _oversized_chunked(proc: Proc, path: str, limit: int, content_type: str = "application/json") -> bytes:
    """POST a chunked body past ``limit`` and *never finish it*: a server that reads the
    whole body before checking would wait for ever; a bounded one answers 413 at once."""
    sock = raw_connect(proc)
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 16384
        sent = 0
        sock.settimeout(1)  # a send blocks once the server stops reading (it has answered by then)
        while sent <= limit + len(chunk):
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                break  # the server answered and stopped reading or closed while we were still sending
            sent += len(chunk)
        sock.settimeout(30)
        return _read_response(sock)
    finally:
        sock.close()


def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response (head and its Content-Length body) from ``sock``."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(65536)
        if not data:
            return answer
        answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    return head + b"\r\n\r\n" + body


def _declared(proc: Proc, path: str, length: int) -> httpx.Response:
    """A request that declares ``length`` bytes in Content-Length and sends none."""
    sock = raw_connect(proc)
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        head, _, body = _read_response(sock).partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return httpx.Response(status, content=body)
    finally:
        sock.close()


@pytest.mark.needs_server
def test_every_body_is_bounded_and_never_buffered_whole(tls: Tls, tmp_path: Path) -> None:
    oidc = s.oidc(tmp_path)
    with s.running(oidc, s.tlog(tmp_path, "--max-body", "65536"),
                   s.admission(tmp_path, tls, "--max-body", "65536"), s.gatekeeper(tmp_path, tls)) as \
            (_, log, hook, gk):
        ca = s.ca(tmp_path, oidc.url)
        with s.running(ca):
            cases = [
                (log, "/api/v1/log/entries", 65536, b'"message":"request body larger than 65536 bytes"'),
                (log, "/api/v1/log/entries/retrieve", 65536, b"request body larger than 65536 bytes"),
                (log, "/api/v1/index/retrieve", 65536, b"request body larger than 65536 bytes"),
                (ca, "/api/v2/signingCert", 1 << 20, b'"message":"request body larger than 1048576 bytes"'),
                (ca, "/api/v1/signingCert", 1 << 20, b"request body larger than 1048576 bytes"),
                (ca, "/ct/v1/add-chain", 1 << 20, b"request body larger than 1048576 bytes"),
                (ca, "/ct/v1/add-pre-chain", 1 << 20, b"request body larger than 1048576 bytes"),
                (oidc, "/token", 65536, b"request body larger than 65536 bytes"),
                (oidc, "/github/token", 65536, b"request body larger than 65536 bytes"),
                (oidc, "/device/code", 65536, b"request body larger than 65536 bytes"),
                (hook, "/validations", 65536, b"request body over the 65536-byte limit"),
                (hook, "/mutations", 65536, b"request body over the 65536-byte limit"),
                (gk, "/verify", 1 << 20, b"request body over the 1048576-byte limit"),
                (gk, "/resolve", 1 << 20, b"request body over the 1048576-byte limit"),
            ]
            for proc, path, limit, message in cases:
                answer = _oversized_chunked(proc, path, limit)
                assert answer.startswith(b"HTTP/1.1 413 "), (proc.name, path, answer[:200])
                assert message in answer, (proc.name, path, answer[-300:])
                r = _declared(proc, path, limit + 1)  # refused on Content-Length alone, before any byte
                assert r.status_code == 413, (proc.name, path)
                with proc.client() as c:  # and the server still answers
                    assert c.get(proc.probe).status_code == 200


# ---- rate limits ----------------------------------------------------------------------------

def test_token_buckets_refill_and_are_per_client() -> None:
    now = [100.0]
    buckets = TokenBuckets(rate=2.0, burst=3, max_clients=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: half a second to the next token
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    now[0] += 10  # refills up to the burst, no further
    assert [buckets.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    buckets.take("c")  # a third client evicts the least recently seen
    assert len(buckets._buckets) == 2


def _until_limited(client: httpx.Client, method: str, path: str, **kw: object) -> tuple[int, httpx.Response]:
    for i in range(1, 50):
        r = client.request(method, path, **kw)  # type: ignore[arg-type]
        if r.status_code == 429:
            return i, r
    raise AssertionError(f"{path}: never limited")


@pytest.mark.needs_server
def test_rate_limit_answers_429_with_retry_after_and_recovers(tls: Tls, tmp_path: Path) -> None:
    flags = ("--rate-limit", "0.5", "--rate-burst", "3")  # slow refill: a loaded machine cannot earn a token
    oidc = s.oidc(tmp_path)
    with s.running(oidc, s.tlog(tmp_path, *flags), s.admission(tmp_path, tls, *flags)) as (_, log, hook):
        ca = s.ca(tmp_path, oidc.url, *flags)
        with s.running(ca):
            time.sleep(6.5)  # the readiness probes spent tokens: let the buckets refill
            with log.client() as c:
                n, r = _until_limited(c, "GET", "/api/v1/log")
                assert n == 4  # the burst of 3, then 429
                assert r.json()["code"] == 429 and "rate limit exceeded" in r.json()["message"]
                retry = int(r.headers["retry-after"])
                assert retry >= 1
                time.sleep(retry)
                assert c.get("/api/v1/log").status_code == 200  # a token is back
            with ca.client() as c:
                _, r = _until_limited(c, "GET", "/api/v2/trustBundle")
                assert r.json() == {"code": 8, "message": r.json()["message"], "details": []}
                assert int(r.headers["retry-after"]) >= 1
            with hook.client() as c:
                _, r = _until_limited(c, "POST", "/validations", content=review_json())
                assert r.text.startswith("rate limit exceeded for this client: retry after ")
                assert all(c.get("/healthz").status_code == 200 for _ in range(10))  # probes are never limited


@pytest.mark.needs_server
def test_no_rate_limit_by_default(tmp_path: Path) -> None:
    with s.running(s.tlog(tmp_path)) as (log,), log.client() as c:
        assert {c.get("/api/v1/log").status_code for _ in range(60)} == {200}


# ---- secrets in logs ------------------------------------------------------------------------

def test_redaction_patterns() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    cases = {
        f"Authorization: Bearer {jwt}": "Authorization: [REDACTED]",
        "authorization=Basic YWxpY2U6czNjcjN0": "authorization=[REDACTED]",
        "(b'authorization', b'token abcdefgh')": "(b'authorization', b'[REDACTED]')",
        f"GET /x?access_token=abc123&audience=sigstore&id_token={jwt} HTTP/1.1":
            "GET /x?access_token=[REDACTED]&audience=sigstore&id_token=[REDACTED] HTTP/1.1",
        "grant_type=password&password=hunter2&user=alice": "grant_type=password&password=[REDACTED]&user=alice",
        '{"oidcIdentityToken": "xyz", "email": "a@b"}': '{"oidcIdentityToken": "[REDACTED]", "email": "a@b"}',
        f"token was {jwt}.": "token was [REDACTED].",
        "calling bearer xyzxyzxyz": "calling bearer [REDACTED]",
    }
    for text, want in cases.items():
        assert redact.redact(text) == want
    plain = 'GET /api/v1/log/entries?logIndex=3 HTTP/1.1" 200 the token issuer https://a.example'
    assert redact.redact(plain) == plain


def _secrets_sent(proc: Proc, secrets: dict[str, str]) -> None:
    """Requests carrying every kind of secret to ``proc``, whatever it answers."""
    jwt, bearer, password = secrets["jwt"], secrets["bearer"], secrets["password"]
    basic = base64.b64encode(f"alice:{password}".encode()).decode()
    with proc.client() as c:
        for path in ("/", proc.probe, "/api/v1/log", "/github/actions-token", "/healthz"):
            c.get(path, headers={"Authorization": f"Bearer {jwt}"})
            c.get(path, headers={"Authorization": f"bearer {bearer}", "Cookie": f"session={bearer}"})
            c.get(path, headers={"Authorization": f"Basic {basic}"})
            c.get(f"{path}?access_token={bearer}&id_token={jwt}&password={password}&audience=sigstore")
        c.post("/token", data={"grant_type": "password", "password": password, "client_secret": bearer})
        c.post("/api/v2/signingCert", json={"credentials": {"oidcIdentityToken": jwt}},
               headers={"Authorization": f"Bearer {jwt}"})
        c.post("/api/v1/log/entries", content=b"{not json " + bearer.encode(),
               headers={"Authorization": f"Bearer {jwt}"})
        c.post("/validations", content=b'{"token": "' + bearer.encode() + b'"}')
        c.get(f"/auth?response_type=code&code_challenge={bearer}&code_challenge_method=S256"
              "&redirect_uri=http://127.0.0.1:1/cb")


@pytest.fixture
def secrets(tmp_path: Path) -> dict[str, str]:
    from sigstack.oidc.issuer import DevIssuer, load_or_create_key

    jwt = DevIssuer("http://127.0.0.1:1", load_or_create_key(tmp_path / "signer")).mint(email="alice@example.com")
    return {"jwt": jwt, "bearer": "brr-" + os.urandom(12).hex(), "password": "pw-" + os.urandom(12).hex()}


@pytest.mark.needs_server
def test_no_secret_in_any_server_log_at_debug_level(tls: Tls, tmp_path: Path, secrets: dict[str, str]) -> None:
    debug = ("--log-level", "debug")
    oidc = s.oidc(tmp_path, *debug)
    stack, urls = s.stack(tmp_path / "st", *debug)
    (tmp_path / "st").mkdir()
    with s.running(oidc, s.tlog(tmp_path, *debug), s.admission(tmp_path, tls, *debug),
                   s.gatekeeper(tmp_path, tls, *debug), stack) as procs:
        ca = s.ca(tmp_path, oidc.url, *debug)
        with s.running(ca):
            request_token = (tmp_path / "oidc" / "actions-request-token").read_text().strip()
            stack_token = (tmp_path / "st" / "stack" / "oidc" / "actions-request-token").read_text().strip()
            for proc in (*procs, ca):
                _secrets_sent(proc, secrets)
            for url in urls.values():  # the stack's other two servers
                other = Proc("serve", [], tmp_path, "/", port=int(url.rsplit(":", 1)[1]))
                _secrets_sent(other, secrets)
            # the real Actions bearer, accepted (and so logged as a 200 if anything is)
            with oidc.client() as c:
                r = c.get("/github/actions-token?audience=sigstore",
                          headers={"Authorization": f"bearer {request_token}"})
                assert r.status_code == 200
                issued = r.json()["value"]
            with httpx.Client(timeout=30) as c:
                assert c.get(urls["oidc"] + "/github/actions-token?audience=x",
                             headers={"Authorization": f"bearer {stack_token}"}).status_code == 200
            time.sleep(0.5)  # let the servers flush
            logs = {p.name: p.log() for p in (*procs, ca)}
    for name, text in logs.items():
        assert '"GET ' in text or "GET /" in text, f"{name}: no access log at --log-level debug:\n{text[-2000:]}"
        for what, value in {**secrets, "request token": request_token, "stack request token": stack_token,
                            "issued token": issued}.items():
            assert value not in text, f"{name} logged the {what}"
        assert base64.b64encode(f"alice:{secrets['password']}".encode()).decode() not in text
        assert "eyJ" not in text, f"{name} logged something JWT-shaped"


# ---- state files ----------------------------------------------------------------------------

@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: the modes must come from sigstack, not from a careful umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_temporaries(directory: Path) -> None:
    assert not [p for p in directory.rglob(".*.tmp")], "a temporary file was left behind"


def test_state_files_are_private(tmp_path: Path, open_umask: None) -> None:
    from sigstack.ca.config import load_config
    from sigstack.ca.server import build_ca
    from sigstack.oidc.issuer import load_or_create_key, load_or_create_request_token
    from sigstack.stack.serve import _log_key
    from sigstack.tlog.logkey import generate_log_key
    from sigstack.tlog.store.sqlite import SQLiteStore

    # the log's database and its WAL files (opening it writes the tree's metadata)
    store = SQLiteStore(str(tmp_path / "log.db"))
    assert (tmp_path / "log.db-wal").exists()
    for name in ("log.db", "log.db-wal", "log.db-shm"):
        assert _mode(tmp_path / name) == 0o600, name
    store.close()
    generate_log_key(tmp_path / "gen.key")
    assert _mode(tmp_path / "gen.key") == 0o600
    # the CA: keys 0600, directory 0700, CT database 0600
    built = build_ca(tmp_path / "ca", load_config(None))
    ca = tmp_path / "ca"
    assert _mode(ca) == 0o700
    for name in ("root.key", "intermediate.key", "ct.key", "ct.db"):
        assert _mode(ca / name) == 0o600, name
    assert built.ct is not None
    built.ct.store.close()
    # the dev OIDC issuer: key and Actions bearer 0600, directory 0700
    load_or_create_key(tmp_path / "oidc")
    load_or_create_request_token(tmp_path / "oidc")
    assert _mode(tmp_path / "oidc") == 0o700
    assert _mode(tmp_path / "oidc" / "oidc.key") == _mode(tmp_path / "oidc" / "actions-request-token") == 0o600
    # sigstack serve's log key
    _log_key(tmp_path / "stack" / "tlog")
    assert _mode(tmp_path / "stack" / "tlog") == 0o700 and _mode(tmp_path / "stack" / "tlog" / "log.key") == 0o600
    _no_temporaries(tmp_path)


@pytest.mark.needs_server
def test_sigstack_serve_state_directory_is_private(tmp_path: Path, open_umask: None) -> None:
    stack, _ = s.stack(tmp_path)
    with s.running(stack):
        d = tmp_path / "stack"
        assert _mode(d) == 0o700
        for sub in ("oidc", "ca", "tlog"):
            assert _mode(d / sub) == 0o700, sub
        for key in ("oidc/oidc.key", "oidc/actions-request-token", "ca/root.key", "ca/intermediate.key",
                    "ca/ct.key", "ca/ct.db", "tlog/log.key", "tlog/log.db"):
            assert _mode(d / key) == 0o600, key
        _no_temporaries(d)


# ---- constant-time secret checks -----------------------------------------------------------

def test_actions_bearer_and_pkce_checks_refuse_cleanly(tmp_path: Path) -> None:
    """The Actions bearer and the PKCE verifier are compared with hmac.compare_digest on
    bytes: wrong, empty and non-ASCII values are a clean refusal (str compare_digest would
    raise TypeError on non-ASCII, a 500)."""
    import asyncio

    from sigstack.oidc.api import create_app
    from sigstack.oidc.issuer import DevIssuer, load_or_create_key, load_or_create_request_token

    issuer = DevIssuer("http://testserver", load_or_create_key(tmp_path),
                       request_token=load_or_create_request_token(tmp_path))

    async def check() -> None:
        transport = httpx.ASGITransport(app=create_app(issuer))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for bearer in ("", "wrong", issuer.request_token[:-1], "é" + issuer.request_token):
                r = await client.get("/github/actions-token",
                                     headers={"Authorization": f"bearer {bearer}".encode("latin-1")})
                assert r.status_code == 401 and r.json() == {"message": "Bad credentials"}
            r = await client.get("/github/actions-token", headers={"Authorization": f"bearer {issuer.request_token}"})
            assert r.status_code == 200
            verifier = "v" * 43
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            for sent in (challenge, "é" + challenge):
                r = await client.get("/auth", params={
                    "response_type": "code", "code_challenge": sent, "code_challenge_method": "S256",
                    "redirect_uri": "http://127.0.0.1:9/cb"})
                code = r.headers["location"].split("code=")[1].split("&")[0]
                r = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                      "code_verifier": verifier if sent == challenge else "é",
                                                      "redirect_uri": "http://127.0.0.1:9/cb"})
                assert r.status_code == (200 if sent == challenge else 400), r.text

    asyncio.run(check())
