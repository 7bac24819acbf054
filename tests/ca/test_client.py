"""sigstack.ca.client against the running CA: both request forms, and a refusal
arriving as one clear error."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sigstack.ca.client import CAClient, CAClientError, challenge_subject
from sigstack.keys.software import PrivateKeySigner
from tests.ca._support import Stack, new_key, verify_chain


def test_sign_with_key_and_csr(stack: Stack) -> None:
    with CAClient(stack.ca.url) as client:
        key = new_key()
        got = client.sign_with_key(stack.token("erin@example.com"), PrivateKeySigner(key))
        assert got.detached_sct is None
        verify_chain(got.leaf, list(got.chain[1:]), stack.chain[-1])
        assert got.leaf.public_key() == key.public_key()
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
        got = client.sign_with_csr(stack.token("erin@example.com"), csr)
        verify_chain(got.leaf, list(got.chain[1:]), stack.chain[-1])
        assert [c for chain in client.trust_bundle() for c in chain] == stack.chain


def test_github_token_proves_sub(stack: Stack) -> None:
    token = stack.token(github=True)
    assert challenge_subject(token).startswith("repo:octo-org@123456/")
    with CAClient(stack.ca.url) as client:
        got = client.sign_with_key(token, PrivateKeySigner(new_key()))
    san = got.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier)[0].startswith("https://github.com/octo-org/")


def test_refusal_is_one_clear_error(stack: Stack) -> None:
    token = stack.token("alice@example.com", audience="elsewhere")
    with CAClient(stack.ca.url) as client, pytest.raises(CAClientError) as info:
        client.sign_with_key(token, PrivateKeySigner(new_key()))
    assert info.value.message == ("the CA refused the certificate request (HTTP 400): There was an error "
                                  "processing the identity token: the token's audience does not include 'sigstore'")


def test_unreachable_ca() -> None:
    import jwt

    from tests.tlog._support import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with CAClient(url, timeout=5) as client:
        with pytest.raises(CAClientError) as info:
            client.sign_with_key("a.b.c", PrivateKeySigner(new_key()))
        assert info.value.message == "the identity token is not a well-formed JWT"
        token = jwt.encode({"sub": "x", "email": "a@example.com"}, "k" * 32, algorithm="HS256")
        with pytest.raises(CAClientError) as info:
            client.sign_with_key(token, PrivateKeySigner(new_key()))
        assert info.value.message.startswith(f"cannot reach the CA at {url}: ")


def test_parse_signing_certificate_forms(stack: Stack) -> None:
    """Both answers Fulcio can give, and malformed ones, as one clear error each."""
    import base64

    from cryptography.hazmat.primitives import serialization

    from sigstack.ca.certrequest import parse_signing_certificate
    from sigstack.ca.errors import CAError

    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in stack.chain]
    got = parse_signing_certificate({"signedCertificateEmbeddedSct": {"chain": {"certificates": pems}}})
    assert list(got.chain) == stack.chain and got.detached_sct is None
    sct = base64.b64encode(b'{"sct_version":0}').decode()
    got = parse_signing_certificate({"signedCertificateDetachedSct": {"chain": {"certificates": pems},
                                                                      "signedCertificateTimestamp": sct}})
    assert got.detached_sct == b'{"sct_version":0}'
    for doc, message in (([], "the CA answered something other than a JSON object"),
                         ({"signedCertificateDetachedSct": 3}, "the CA's answer holds no certificate chain"),
                         ({"signedCertificateEmbeddedSct": {"chain": {"certificates": ["x"]}}},
                          "the CA's answer holds a malformed certificate")):
        with pytest.raises(CAError) as info:
            parse_signing_certificate(doc)
        assert info.value.message == message
