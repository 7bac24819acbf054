"""Every way a token or its proof can be wrong: one 400 with Fulcio's error JSON
(gRPC code 3, its fixed sentence, then the reason), never a certificate."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sigstack.oidc.issuer import DevIssuer, load_or_create_key
from tests.ca._support import Server, Stack, csr_request, new_key, oidc_server, v2_request

PREFIX = "There was an error processing the identity token: "


@pytest.fixture(scope="module")
def stranger(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second development issuer the CA was not told about."""
    work = tmp_path_factory.mktemp("stranger")
    server = oidc_server(work, work / "state")
    yield server
    server.stop()


def _post(stack: Stack, body: dict[str, object], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(stack.ca.url + "/api/v2/signingCert", json=body, headers=headers or {})


def _assert_refused(resp: httpx.Response, message: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"code": 3, "message": message, "details": []}


def _issuer(stack: Stack) -> DevIssuer:
    return DevIssuer(stack.issuer, load_or_create_key(stack.oidc_state))


def test_unknown_issuer(stack: Stack, stranger: Server) -> None:
    from pathlib import Path

    token = DevIssuer(stranger.url, load_or_create_key(Path(stranger.workdir) / "state")).mint(
        email="eve@example.com")
    _assert_refused(_post(stack, v2_request(token, new_key(), "eve@example.com")),
                    PREFIX + f"the issuer {stranger.url!r} is not accepted by this CA")


def test_expired(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com", ttl=60, now=int(time.time()) - 3600)
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")), PREFIX + "the token has expired")


def test_not_yet_valid(stack: Stack) -> None:
    now = int(time.time())
    token = _issuer(stack).mint(email="alice@example.com", extra={"nbf": now + 3600, "iat": now})
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + "the token is not valid yet (nbf is in the future)")


def test_issued_in_the_future(stack: Stack) -> None:
    now = int(time.time())
    token = _issuer(stack).mint(email="alice@example.com", now=now + 3600, extra={"nbf": now})
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + "the token's iat is in the future")


def test_forged_signature(stack: Stack) -> None:
    """Right issuer, right kid, signed by someone else's key."""
    real = _issuer(stack)
    forger = DevIssuer(stack.issuer, rsa.generate_private_key(65537, 2048))
    claims = jwt.decode(real.mint(email="alice@example.com"), options={"verify_signature": False})
    token = jwt.encode(claims, forger.key, algorithm="RS256", headers={"kid": real.kid})
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + "the token's signature does not verify with the issuer's key")


def test_unknown_key_id(stack: Stack) -> None:
    forger = DevIssuer(stack.issuer, rsa.generate_private_key(65537, 2048))
    token = forger.mint(email="alice@example.com")
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + f"the token's signing key {forger.kid!r} is not among the issuer's published keys")


def test_wrong_audience(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com", audience="not-sigstore")
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + "the token's audience does not include 'sigstore'")


def test_unverified_email(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com", extra={"email_verified": False})
    _assert_refused(_post(stack, v2_request(token, new_key(), "alice@example.com")),
                    PREFIX + "the token's email address is not verified (email_verified is not true)")


def test_bad_proof_of_possession(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com")
    _assert_refused(_post(stack, v2_request(token, new_key(), "mallory@example.com")),
                    "The signature supplied in the request could not be verified: the proof of possession "
                    "is not a signature over 'alice@example.com' by the submitted key")


def test_proof_by_another_key(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com")
    body = v2_request(token, new_key(), "alice@example.com")
    other = v2_request(token, new_key(), "alice@example.com")
    body["publicKeyRequest"]["proofOfPossession"] = other["publicKeyRequest"]["proofOfPossession"]  # type: ignore[index]
    _assert_refused(_post(stack, body), "The signature supplied in the request could not be verified: the proof "
                    "of possession is not a signature over 'alice@example.com' by the submitted key")


def test_github_proof_signs_the_subject(stack: Stack) -> None:
    """CI tokens have no email: the proof must sign ``sub``; signing anything else fails."""
    token = stack.token(github=True)
    _assert_refused(_post(stack, v2_request(token, new_key(), "octo-org/octo-repo")),
                    "The signature supplied in the request could not be verified: the proof of possession is "
                    "not a signature over 'repo:octo-org@123456/octo-repo@456789:ref:refs/heads/main' by the "
                    "submitted key")


def test_no_token(stack: Stack) -> None:
    _assert_refused(_post(stack, csr_request(new_key())), PREFIX + "no identity token in the request")


def test_malformed_token(stack: Stack) -> None:
    _assert_refused(_post(stack, csr_request(new_key()), {"Authorization": "Bearer not.a.jwt"}),
                    PREFIX + "the token is not a well-formed JWT")


def test_malformed_requests(stack: Stack) -> None:
    token = _issuer(stack).mint(email="alice@example.com")
    _assert_refused(_post(stack, {"credentials": {"oidcIdentityToken": token}}),
                    "the request needs publicKeyRequest or certificateSigningRequest")
    body = v2_request(token, new_key(), "alice@example.com")
    body["publicKeyRequest"]["publicKey"]["content"] = "-----BEGIN PUBLIC KEY-----\nxx\n"  # type: ignore[index]
    _assert_refused(_post(stack, body), "The public key supplied in the request could not be parsed")
    resp = httpx.post(stack.ca.url + "/api/v2/signingCert", content=b"{", headers={"Content-Type": "application/json"})
    _assert_refused(resp, "the request body is not valid JSON")
    weak = rsa.generate_private_key(65537, 1024)
    from cryptography.hazmat.primitives import serialization

    body = v2_request(token, new_key(), "alice@example.com")
    body["publicKeyRequest"]["publicKey"]["content"] = weak.public_key().public_bytes(  # type: ignore[index]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    _assert_refused(_post(stack, body),
                    "The public key supplied in the request is insecure: RSA keys must have 2048 to 4096 bits")
