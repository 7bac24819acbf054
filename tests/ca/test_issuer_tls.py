"""An issuer served over HTTPS under a private CA, trusted through the configuration's
``ca-cert`` (Fulcio's field), and refused without it. The issuer here is a small
threaded HTTPS server handing out the development issuer's discovery document and
keys (the dev issuer itself serves plain HTTP on loopback)."""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sigstack.ca.config import parse_config
from sigstack.ca.errors import TokenError
from sigstack.ca.tokens import TokenVerifier
from sigstack.oidc.issuer import DevIssuer
from tests.oci.ocihelpers import tls_material


@pytest.fixture(scope="module")
def https_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevIssuer, Path]]:
    tmp = tmp_path_factory.mktemp("tls-issuer")
    ca, cert, key = tls_material(tmp)
    issuer = DevIssuer("", rsa.generate_private_key(65537, 2048))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc = (issuer.discovery(False) if self.path == "/.well-known/openid-configuration"
                   else {"keys": [issuer.public_jwk()]})
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    issuer.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer, ca
    server.shutdown()


def _verifier(issuer: DevIssuer, ca_cert: str) -> TokenVerifier:
    url = issuer.base_url
    entry = {"issuer-url": url, "client-id": "sigstore", "type": "email"}
    if ca_cert:
        entry["ca-cert"] = ca_cert
    return TokenVerifier(parse_config({"oidc-issuers": {url: entry}}))


def test_private_ca_issuer(https_issuer: tuple[DevIssuer, Path]) -> None:
    issuer, ca = https_issuer
    token = issuer.mint(email="tls@example.com")
    principal, _ = asyncio.run(_verifier(issuer, ca.read_text()).verify(token))
    assert principal.san == "tls@example.com"
    with pytest.raises(TokenError) as info:
        asyncio.run(_verifier(issuer, "").verify(token))
    assert info.value.message.startswith(
        f"There was an error processing the identity token: cannot reach the token issuer {issuer.base_url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    with pytest.raises(TokenError) as info:
        asyncio.run(_verifier(issuer, "not a pem").verify(token))
    assert info.value.reason == f"the configured ca-cert of issuer {issuer.base_url} is not a PEM certificate"
