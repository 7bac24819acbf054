"""Key references: scheme dispatch, file/env/URL backends and their errors."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.errors import KeyLoadError, KeyRefError
from sigstack.keys import generate_at, generate_key_pair, load_signer, load_verifier
from sigstack.keys.refs import scheme_of


@pytest.mark.parametrize(
    ("ref", "scheme"),
    [
        ("cosign.key", ""),
        ("./dir/cosign.key", ""),
        ("/abs/c:d.key", ""),
        ("env://COSIGN_PRIVATE_KEY", "env"),
        ("k8s://ns/name", "k8s"),
        ("pkcs11:token=t;object=k", "pkcs11"),
        ("awskms:///alias/x", "awskms"),
        ("https://example.com/cosign.pub", "https"),
    ],
)
def test_scheme_of(ref: str, scheme: str) -> None:
    assert scheme_of(ref) == scheme


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = generate_key_pair(b"pw")
    monkeypatch.setenv("MY_KEY", pair.private_pem.decode())
    monkeypatch.setenv("MY_PUB", pair.public_pem.decode())
    signer = load_signer("env://MY_KEY", b"pw")
    sig = signer.sign(b"payload")
    load_verifier("env://MY_PUB").verify(sig, b"payload")


def test_password_provider_called_once_without_confirm(tmp_path: Path) -> None:
    pair = generate_key_pair(b"pw")
    (tmp_path / "k").write_bytes(pair.private_pem)
    calls: list[bool] = []

    def provider(confirm: bool) -> bytes:
        calls.append(confirm)
        return b"pw"

    load_signer(str(tmp_path / "k"), provider)
    assert calls == [False]


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("", KeyRefError, "a key reference is required"),
        ("nosuch://x", KeyRefError, "unsupported key reference scheme 'nosuch'"),
        ("env://", KeyRefError, "env:// needs a variable name"),
        ("env://SIGSTACK_TEST_UNSET_VAR", KeyLoadError, "env var $SIGSTACK_TEST_UNSET_VAR not found"),
        ("/nonexistent/cosign.pub", KeyLoadError, "no such file"),
    ],
)
def test_bad_references(ref: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        load_verifier(ref)


def test_directory_is_not_a_key(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="is a directory"):
        load_verifier(str(tmp_path))


def test_private_key_given_where_public_expected(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(generate_key_pair(b"").private_pem)
    with pytest.raises(KeyLoadError, match="unknown Public key PEM file type: ENCRYPTED SIGSTORE PRIVATE KEY"):
        load_verifier(str(tmp_path / "k"))


def test_file_backend_cannot_generate() -> None:
    with pytest.raises(KeyRefError, match="cannot store a key"):
        generate_at("env://X", b"")


@pytest.fixture
def key_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback serving files, like a key published on a web server."""
    (tmp_path / "cosign.pub").write_bytes(generate_key_pair(b"").public_pem)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(tmp_path), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_reference(key_server: str) -> None:
    assert load_verifier(f"{key_server}/cosign.pub").hash_name == "sha256"
    with pytest.raises(KeyLoadError, match="server returned HTTP 404"):
        load_verifier(f"{key_server}/missing.pub")


def test_url_reference_follows_the_proxy_rules(key_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY/NO_PROXY apply with Go's rules (sigstack._internal.proxy): a loopback
    name is never proxied; another name goes to the proxy (here a closed port, so the
    error shows the route) unless NO_PROXY exempts it."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert load_verifier(f"{key_server}/cosign.pub").hash_name == "sha256"  # 127.0.0.1: direct
    other_name = key_server.replace("127.0.0.1", "0.0.0.0")
    with pytest.raises(KeyLoadError, match=r"loading URL .*proxy"):
        load_verifier(f"{other_name}/cosign.pub")
    monkeypatch.setenv("NO_PROXY", "0.0.0.0")
    assert load_verifier(f"{other_name}/cosign.pub").hash_name == "sha256"
