"""HTTP(S) proxies with Go's rules (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``), as cosign
honours them through go-containerregistry.

The rules are a parametrised table against ``sigstack._internal.proxy``; the behaviour
is proven end to end with a REAL forward proxy (Debian's tinyproxy, whose log says which
requests it carried) in front of the real registries: ``0.0.0.0:<port>`` reaches the
loopback registry but is not a loopback name, so the proxy applies to it, while
``127.0.0.1:<port>`` must never be proxied. The real cosign goes through the same proxy
as a cross-check of the ``NO_PROXY`` decisions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ocihelpers import Registry, one_error, push_image, start_registry, tls_material
from proxyhelpers import Tinyproxy, free_port, start_tinyproxy
from tests.helpers import assert_clean_error, run_peer, sigstack

from sigstack._internal.proxy import ProxyConfigError, ProxySettings, proxy_for, redact
from sigstack.oci.client import RegistryClient, RegistryOptions
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}
VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
        "ALL_PROXY", "all_proxy", "REQUEST_METHOD")


def env_with(**values: str) -> dict[str, str]:
    """Every proxy variable cleared (whatever the test runner has), then ``values``."""
    return {**dict.fromkeys(VARS, ""), **values}


# ---- the rules ----------------------------------------------------------------------

P = "http://proxy.corp:3128"
RULES: list[tuple[dict[str, str], str, str | None]] = [
    # which variable, for which scheme
    ({"HTTPS_PROXY": P}, "https://registry.example.com/v2/", P),
    ({"HTTPS_PROXY": P}, "http://registry.example.com/v2/", None),
    ({"HTTP_PROXY": P}, "http://registry.example.com/v2/", P),
    ({"HTTP_PROXY": P}, "https://registry.example.com/v2/", None),
    ({"ALL_PROXY": P, "all_proxy": P}, "https://registry.example.com/", None),
    # upper case wins; an empty upper-case variable falls through to the lower-case one
    ({"HTTPS_PROXY": P, "https_proxy": "http://lower:1"}, "https://r.example/", P),
    ({"https_proxy": "http://lower:1"}, "https://r.example/", "http://lower:1"),
    ({"HTTPS_PROXY": "", "https_proxy": "http://lower:1"}, "https://r.example/", "http://lower:1"),
    ({"http_proxy": "http://lower:1"}, "http://r.example/", "http://lower:1"),
    # a value without scheme is http://; credentials are kept; https:// proxies allowed
    ({"HTTPS_PROXY": "proxy.corp:3128"}, "https://r.example/", P),
    ({"HTTPS_PROXY": "user:p%40ss@proxy.corp:3128"}, "https://r.example/",
     "http://user:p%40ss@proxy.corp:3128"),
    ({"HTTPS_PROXY": "https://proxy.corp"}, "https://r.example/", "https://proxy.corp"),
    # localhost and loopback addresses: never proxied, whatever NO_PROXY says
    ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "http://127.0.0.1:5000/v2/", None),
    ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "https://127.1.2.3/v2/", None),
    ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "http://localhost:5000/v2/", None),
    ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "http://[::1]:5000/v2/", None),
    ({"HTTPS_PROXY": P, "HTTP_PROXY": P}, "http://[::ffff:127.0.0.1]:5000/v2/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://127.0.0.1/", None),
    ({"HTTPS_PROXY": P}, "https://localhost.example.com/", P),  # only the name localhost
    ({"HTTP_PROXY": P}, "http://0.0.0.0:5000/v2/", P),  # not a loopback address
    # NO_PROXY: *, names and subdomains, leading dot or *., case, spaces, ports
    ({"HTTPS_PROXY": P, "NO_PROXY": "*"}, "https://registry.example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://registry.example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://notexample.com/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://registry.example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://example.com/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "*.example.com"}, "https://a.b.example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "*.example.com"}, "https://example.com/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "Example.COM"}, "https://REGISTRY.example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": " a.test , example.com ,"}, "https://example.com/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com:5000"}, "https://example.com:5000/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com:5000"}, "https://example.com/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com:443"}, "https://example.com/", None),  # default port
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com:80"}, "http://example.com/", None),
    # IP addresses, with and without port, IPv6 in brackets, CIDR blocks
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.3"}, "https://10.1.2.3:5000/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.3"}, "https://10.1.2.4/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.3:5000"}, "https://10.1.2.3:5000/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.3:5000"}, "https://10.1.2.3:5001/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://10.200.0.1/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://11.0.0.1/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://ten.example/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "2001:db8::/32"}, "https://[2001:db8::5]/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "[2001:db8::5]:443"}, "https://[2001:db8::5]/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "[2001:db8::5]:8443"}, "https://[2001:db8::5]/", P),
    ({"HTTPS_PROXY": P, "NO_PROXY": "2001:db8::5"}, "https://[2001:db8::5]:9/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "0.0.0.0"}, "http://0.0.0.0:5000/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "::ffff:10.1.2.3"}, "https://10.1.2.3/", None),
    ({"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "https://[::ffff:10.1.1.1]/", None),
    # an address is matched by address entries only, never as a name (as Go 1.26 does)
    ({"HTTP_PROXY": P, "NO_PROXY": "*.0.0.0"}, "http://0.0.0.0:5000/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "0.0.0"}, "http://10.0.0.0/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "*.0.0.0"}, "http://a.0.0.0/", None),
    # NO_PROXY upper case wins over no_proxy
    ({"HTTPS_PROXY": P, "NO_PROXY": "a.example", "no_proxy": "b.example"}, "https://b.example/", P),
    ({"HTTPS_PROXY": P, "no_proxy": "b.example"}, "https://b.example/", None),
    # entries without a host are ignored, as in Go
    ({"HTTPS_PROXY": P, "NO_PROXY": ":443,"}, "https://r.example/", P),
    # a CGI process may not use HTTP_PROXY (httpoxy), HTTPS_PROXY is fine
    ({"HTTPS_PROXY": P, "REQUEST_METHOD": "GET"}, "https://r.example/", P),
]


@pytest.mark.parametrize("env,url,expected", RULES, ids=[f"{i}-{r[1]}" for i, r in enumerate(RULES)])
def test_rules(env: dict[str, str], url: str, expected: str | None) -> None:
    assert proxy_for(url, env) == expected


@pytest.fixture(scope="module")
def goproxy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/oci/goproxy built with the local Go toolchain: Go's own ProxyFromEnvironment."""
    go = shutil.which("go") or "/usr/lib/go/bin/go"
    if not Path(go).exists():
        pytest.fail("go is not installed: run scripts/bootstrap (apt package golang-go)")
    out = tmp_path_factory.mktemp("goproxy") / "goproxy"
    r = subprocess.run([go, "build", "-o", str(out), "."], cwd=Path(__file__).parent / "goproxy",
                       capture_output=True, timeout=300, env={**os.environ, "GOFLAGS": "-mod=mod"})
    assert r.returncode == 0, r.stderr
    return out


def test_rules_match_go(goproxy: Path) -> None:
    """Every row of the table, asked of Go's net/http (the version the peers are built with)."""
    mismatches = []
    for env, url, expected in RULES:
        r = subprocess.run([str(goproxy), url], env={**os.environ, **env_with(**env)}, capture_output=True,
                           timeout=30, check=True)
        go = r.stdout.decode().strip()
        if go != (expected or "DIRECT"):
            mismatches.append((env, url, expected, go))
    assert not mismatches


def test_cgi_refuses_http_proxy() -> None:
    with pytest.raises(ProxyConfigError, match="refusing to use HTTP_PROXY in a CGI environment"):
        proxy_for("http://r.example/", {"HTTP_PROXY": P, "REQUEST_METHOD": "GET"})


@pytest.mark.parametrize("value,message", [
    ("::bad::", "invalid HTTPS_PROXY value '::bad::'"),
    ("ftp://proxy.corp:21", "the scheme must be one of http, https, socks5, socks5h"),
    ("http://proxy.corp:port", "Port could not be cast to integer"),
    ("http://", "it names no host"),
    ("http://:3128", "it names no host"),
    ("http://[::1", "invalid HTTPS_PROXY value 'http://[::1'"),
    ("http://proxy.corp:99999", "out of range"),
])
def test_unusable_values(value: str, message: str) -> None:
    with pytest.raises(ProxyConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        proxy_for("https://r.example/", {"HTTPS_PROXY": value})


def test_unusable_value_ignored_where_no_proxy_applies() -> None:
    """Loopback and NO_PROXY hosts never consult the proxy value, so a bad one is no error there."""
    env = {"HTTPS_PROXY": "::bad::", "NO_PROXY": "example.com"}
    assert proxy_for("https://127.0.0.1:5000/", env) is None
    assert proxy_for("https://registry.example.com/", env) is None


def test_passwords_are_redacted() -> None:
    assert redact("http://user:s3cret@proxy:3128") == "http://user:xxxxx@proxy:3128"
    assert redact("user:s3cret@proxy:3128") == "user:xxxxx@proxy:3128"
    assert redact("http://proxy:3128") == "http://proxy:3128"
    assert "s3cret" not in repr(ProxySettings(https_proxy="http://u:s3cret@p:1"))


# ---- a real proxy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    proxy = start_tinyproxy(tmp_path_factory.mktemp("tinyproxy"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def authproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A tinyproxy that wants Basic credentials (``Proxy-Authorization``)."""
    proxy = start_tinyproxy(tmp_path_factory.mktemp("authproxy"), basic_auth=("carol", "pr0xy-pw"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def tls_registry_any(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A TLS registry (no auth) whose certificate also names 0.0.0.0, so that it can be
    addressed by that non-loopback name through a CONNECT tunnel."""
    tmp = tmp_path_factory.mktemp("tls-any")
    ca, cert, key = tls_material(tmp, ips=("127.0.0.1", "0.0.0.0"))
    reg = start_registry(tmp / "srv", f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    reg.ca = ca
    yield reg
    reg.stop()


def image(registry: Registry, host: str = "0.0.0.0", ca: Path | None = None) -> tuple[str, str]:
    """Push a fresh image (over loopback, no proxy involved); returns its reference under
    ``host`` (same registry, other name) and its repository path."""
    ref = registry.repo() + ":v1"
    with RegistryClient(RegistryOptions(ca_file=str(ca) if ca else None,
                                        proxies=ProxySettings())) as client:
        digest = push_image(client, parse_reference(ref))
    port = registry.host.split(":")[1]
    path = ref.split("/", 1)[1].rsplit(":", 1)[0]
    return f"{host}:{port}/{path}@{digest}", path


def sign_and_verify(ref: str, keypair: tuple[Path, Path], env: dict[str, str], *flags: str) -> None:
    r = sigstack("sign", *flags, "--key", str(keypair[0]), ref, env={**PW, **env})
    assert r.code == 0, r.err
    v = sigstack("verify", *flags, "--key", str(keypair[1]), ref, env=env)
    assert v.code == 0, v.err


def test_plain_http_registry_through_proxy(registry, keypair, tinyproxy) -> None:
    ref, path = image(registry)
    port = registry.host.split(":")[1]
    mark = tinyproxy.mark()
    sign_and_verify(ref, keypair, env_with(HTTP_PROXY=tinyproxy.url), "--allow-http-registry")
    seen = tinyproxy.requests(mark)
    base = f"http://0.0.0.0:{port}"
    assert f"GET {base}/v2/" in seen
    digest = ref.rsplit("@sha256:", 1)[1]
    assert f"PUT {base}/v2/{path}/manifests/sha256-{digest}.sig" in seen  # the push went through it
    assert any(s.startswith(f"GET {base}/v2/{path}/blobs/sha256:") for s in seen)  # verify read too
    assert all(s.split()[1].startswith(base) for s in seen), seen


@pytest.mark.parametrize("no_proxy", ["0.0.0.0", "0.0.0.0:{port}", "0.0.0.0/8", "*", "lower:0.0.0.0"])
def test_no_proxy_bypasses_the_proxy(no_proxy, registry, keypair, tinyproxy) -> None:
    ref, _ = image(registry)
    port = registry.host.split(":")[1]
    name = "no_proxy" if no_proxy.startswith("lower:") else "NO_PROXY"
    value = no_proxy.removeprefix("lower:").format(port=port)
    mark = tinyproxy.mark()
    sign_and_verify(ref, keypair, env_with(HTTP_PROXY=tinyproxy.url, **{name: value}),
                    "--allow-http-registry")
    assert tinyproxy.requests(mark) == []


def test_no_proxy_for_another_port_still_proxies(registry, keypair, tinyproxy) -> None:
    ref, _ = image(registry)
    mark = tinyproxy.mark()
    v = sigstack("verify", "--allow-http-registry", "--key", str(keypair[1]), ref,
                 env=env_with(HTTP_PROXY=tinyproxy.url, NO_PROXY="0.0.0.0:1"))
    assert_clean_error(v, "no signatures found", 10)  # nothing signed it yet; what matters is the route
    assert tinyproxy.requests(mark)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_registry_never_proxied(host, registry, keypair, tinyproxy) -> None:
    ref, _ = image(registry, host)
    mark = tinyproxy.mark()
    sign_and_verify(ref, keypair, env_with(HTTP_PROXY=tinyproxy.url, HTTPS_PROXY=tinyproxy.url))
    assert tinyproxy.requests(mark) == []


def test_https_registry_through_connect(tls_registry_any, keypair, tinyproxy) -> None:
    ref, _ = image(tls_registry_any, ca=tls_registry_any.ca)
    port = tls_registry_any.host.split(":")[1]
    mark = tinyproxy.mark()
    sign_and_verify(ref, keypair, env_with(HTTPS_PROXY=tinyproxy.url),
                    "--registry-cacert", str(tls_registry_any.ca))
    seen = tinyproxy.requests(mark)
    assert seen and set(seen) == {f"CONNECT 0.0.0.0:{port}"}, seen
    # and HTTPS_PROXY is not used for a plain-HTTP URL, nor HTTP_PROXY for HTTPS
    mark = tinyproxy.mark()
    sign_and_verify(ref, keypair, env_with(HTTP_PROXY=tinyproxy.url),
                    "--registry-cacert", str(tls_registry_any.ca))
    assert tinyproxy.requests(mark) == []


def test_proxy_credentials_from_the_url(registry, keypair, authproxy) -> None:
    ref, _ = image(registry)
    mark = authproxy.mark()
    sign_and_verify(ref, keypair, env_with(http_proxy=authproxy.url), "--allow-http-registry")
    assert len(authproxy.requests(mark)) >= 4
    # without credentials tinyproxy answers 407 (with wrong ones it answers 401, which a
    # client cannot tell from the registry's own 401)
    bare = f"http://127.0.0.1:{authproxy.port}"
    r = sigstack("verify", "--allow-http-registry", "--key", str(keypair[1]), ref,
                 env=env_with(HTTP_PROXY=bare))
    one_error(r, 1, "the proxy asks for credentials (HTTP 407)")
    assert f"(through proxy {bare} from HTTP_PROXY)" in r.err


def test_rekor_client_uses_the_same_rules(registry, keypair, tinyproxy, tmp_path) -> None:
    """One process, two decisions: the registry on 127.0.0.1 is reached directly while the
    log, addressed as 0.0.0.0, goes through the proxy."""
    from tests.tlog._support import TlogServer, write_key

    server = TlogServer(str(tmp_path / "log.db"), write_key(tmp_path / "log.key"), tmp_path).start()
    try:
        ref, _ = image(registry, "127.0.0.1")
        mark = tinyproxy.mark()
        r = sigstack("sign", "--rekor-url", f"http://0.0.0.0:{server.port}", "--key", str(keypair[0]), ref,
                     env=env_with(HTTP_PROXY=tinyproxy.url, SIGSTORE_REKOR_PUBLIC_KEY=str(server.public_key),
                                  **PW), offline=None)
        assert r.code == 0, r.err
        assert tinyproxy.requests(mark) == [f"POST http://0.0.0.0:{server.port}/api/v1/log/entries"]
    finally:
        server.stop()


def test_each_redirect_hop_decided_on_its_own(registry, tinyproxy) -> None:
    """A registry on loopback (direct) redirects a blob to storage at 0.0.0.0 (proxied),
    as registries redirect to object storage: Go decides per hop, and so do we."""
    from hostile import HostileRegistry

    from sigstack.oci.client import sha256_digest

    blob = os.urandom(256)
    digest = sha256_digest(blob)
    ref = parse_reference(registry.repo() + ":v1")
    with RegistryClient(RegistryOptions(proxies=ProxySettings())) as client:
        client.upload_blob(ref.repository, blob, digest)
    storage = f"http://0.0.0.0:{registry.host.split(':')[1]}/v2/{ref.repository.path}/blobs/{digest}"
    front = HostileRegistry()
    try:
        front.route("GET", f"/v2/x/blobs/{digest}", lambda _: (307, {"Location": storage}, b""))
        mark = tinyproxy.mark()
        options = RegistryOptions(proxies=ProxySettings(http_proxy=tinyproxy.url))
        with RegistryClient(options) as client:
            got = client.get_blob(parse_reference(f"{front.host}/x@{digest}").repository, digest)
        assert got == blob
        assert tinyproxy.requests(mark) == [f"GET {storage}"]
        assert front.hits[f"/v2/x/blobs/{digest}"] == 1
    finally:
        front.close()


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("var,value,message", [
    ("HTTPS_PROXY", "::bad::", "Error: invalid HTTPS_PROXY value '::bad::'"),
    ("https_proxy", "ftp://proxy.corp:21", "invalid https_proxy value 'ftp://proxy.corp:21': the scheme"),
    ("HTTP_PROXY", "http://u:s3cret@proxy.corp:port", "invalid HTTP_PROXY value 'http://u:xxxxx@proxy.corp:port'"),
    ("http_proxy", "http://", "invalid http_proxy value 'http://': it names no host"),
])
def test_unusable_proxy_value(var, value, message, keypair) -> None:
    ref = f"0.0.0.0:{free_port()}/x/y:v1"
    r = sigstack("verify", "--allow-http-registry", "--key", str(keypair[1]), ref, env=env_with(**{var: value}))
    one_error(r, 1, message)
    assert "s3cret" not in r.err


@pytest.mark.parametrize("var", ["HTTP_PROXY", "HTTPS_PROXY"])
def test_refusing_proxy(var, registry, keypair) -> None:
    ref, _ = image(registry)
    dead = f"http://dave:s3cret@127.0.0.1:{free_port()}"
    flags = ["--allow-http-registry"] if var == "HTTP_PROXY" else []
    r = sigstack("verify", *flags, "--key", str(keypair[1]), ref, env=env_with(**{var: dead}))
    one_error(r, 1, f"cannot reach registry 0.0.0.0:{registry.host.split(':')[1]}")
    err = r.err
    assert "Connection refused" in err
    assert f"(through proxy http://dave:xxxxx@127.0.0.1:{dead.rsplit(':', 1)[1]} from {var})" in err
    assert "s3cret" not in err


# ---- cosign through the same proxy ----------------------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize("no_proxy", ["", "0.0.0.0", "0.0.0.0/8", "0.0.0.0:1", "*.0.0.0", "*"])
def test_same_route_as_cosign(no_proxy, cosign, registry, tinyproxy) -> None:
    """cosign (Go's ProxyFromEnvironment) and sigstack agree on whether the proxy is used."""
    _, path = image(registry)
    ref = f"0.0.0.0:{registry.host.split(':')[1]}/{path}:v1"  # a tag: resolving it needs the registry
    env = env_with(HTTP_PROXY=tinyproxy.url, NO_PROXY=no_proxy)
    routes = []
    for run in (lambda: run_peer(cosign, "triangulate", "--allow-http-registry", ref, env=env, timeout=60),
                lambda: sigstack("triangulate", "--allow-http-registry", ref, env=env, timeout=60)):
        mark = tinyproxy.mark()
        r = run()
        assert r.code == 0, r.err
        routes.append(bool(tinyproxy.requests(mark)))
    assert routes[0] == routes[1], routes
    assert routes[0] == (no_proxy in ("", "0.0.0.0:1", "*.0.0.0"))

