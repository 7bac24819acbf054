"""Issuing certificates through the HTTP API, both request forms (and the legacy v1
one cosign v2 uses), checked with cryptography and RFC 6962 alone: the chain, the
certificate profile, the embedded SCT against the CT log key, and the precertificate's
inclusion in the CT log."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from sigstack.tlog import merkle
from tests.ca._support import (
    Stack,
    csr_request,
    embedded_sct,
    get_json,
    leaf_of,
    new_key,
    pem_public,
    pop,
    sct_signed_data,
    v2_request,
    verify_chain,
)

SIGSTORE = "1.3.6.1.4.1.57264.1"


def _ext(cert: x509.Certificate, arc: int) -> bytes:
    value = cert.extensions.get_extension_for_oid(ObjectIdentifier(f"{SIGSTORE}.{arc}")).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


def _der_utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return b"\x0c" + bytes([len(raw)]) + raw


def _check_sct_and_inclusion(stack: Stack, leaf: x509.Certificate, chain: list[x509.Certificate]) -> None:
    sct, ts = embedded_sct(leaf)
    ct_key = stack.ct_key
    der_key = ct_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert sct.log_id == hashlib.sha256(der_key).digest()
    assert sct.entry_type == x509.certificate_transparency.LogEntryType.PRE_CERTIFICATE
    assert isinstance(sct.signature_hash_algorithm, hashes.SHA256)
    signed = sct_signed_data(leaf, chain[0], ts, sct.extension_bytes)
    ct_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))  # raises if wrong

    # The MerkleTreeLeaf is the same bytes (leaf_type 0 where signature_type 0 was).
    leaf_hash = merkle.leaf_hash(signed)
    sth = get_json(stack.ca.url + "/ct/v1/get-sth")
    root = base64.b64decode(sth["sha256_root_hash"])
    tbs = struct.pack(">BBQQ", 0, 1, sth["timestamp"], sth["tree_size"]) + root
    sig = base64.b64decode(sth["tree_head_signature"])
    assert sig[:2] == b"\x04\x03" and int.from_bytes(sig[2:4], "big") == len(sig) - 4
    ct_key.verify(sig[4:], tbs, ec.ECDSA(hashes.SHA256()))
    proof = get_json(stack.ca.url + "/ct/v1/get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                     tree_size=sth["tree_size"])
    merkle.verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash,
                            [base64.b64decode(h) for h in proof["audit_path"]], root)
    entries = get_json(stack.ca.url + "/ct/v1/get-entries", start=proof["leaf_index"], end=proof["leaf_index"])
    entry = entries["entries"][0]
    assert base64.b64decode(entry["leaf_input"]) == signed
    extra = base64.b64decode(entry["extra_data"])
    n = int.from_bytes(extra[:3], "big")
    precert = x509.load_der_x509_certificate(extra[3 : 3 + n])
    assert precert.serial_number == leaf.serial_number
    assert precert.extensions.get_extension_for_class(x509.PrecertPoison).critical


def _check_profile(leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    assert leaf.subject == x509.Name([])
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 600
    assert leaf.public_key() == key.public_key()
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert leaf.serial_number.bit_length() > 64


def test_public_key_form_email(stack: Stack) -> None:
    key = new_key()
    resp = httpx.post(stack.ca.url + "/api/v2/signingCert",
                      json=v2_request(stack.token("alice@example.com"), key, "alice@example.com"))
    assert resp.status_code == 200, resp.text
    assert list(resp.json()) == ["signedCertificateEmbeddedSct"]
    leaf, chain = leaf_of(resp.json())
    verify_chain(leaf, chain, stack.chain[-1])
    _check_profile(leaf, key)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.com"]
    assert _ext(leaf, 1) == stack.issuer.encode()  # deprecated raw form
    assert _ext(leaf, 8) == _der_utf8(stack.issuer)  # DER UTF8String form
    _check_sct_and_inclusion(stack, leaf, chain)


def test_csr_form_with_bearer_header(stack: Stack) -> None:
    """sigstore-python: the token in Authorization, the CSR's signature as the proof."""
    key = new_key()
    resp = httpx.post(stack.ca.url + "/api/v2/signingCert", json=csr_request(key),
                      headers={"Authorization": "Bearer " + stack.token("carol@example.com"),
                               "Accept": "application/pem-certificate-chain"})
    assert resp.status_code == 200, resp.text
    leaf, chain = leaf_of(resp.json())
    verify_chain(leaf, chain, stack.chain[-1])
    _check_profile(leaf, key)
    _check_sct_and_inclusion(stack, leaf, chain)


def test_legacy_v1_form(stack: Stack) -> None:
    """cosign v2's client: /api/v1/signingCert, base64 PEM key, 201 with a PEM chain."""
    key = new_key()
    body = {"publicKey": {"content": base64.b64encode(pem_public(key).encode()).decode()},
            "signedEmailAddress": pop(key, "dave@example.com")}
    resp = httpx.post(stack.ca.url + "/api/v1/signingCert", json=body,
                      headers={"Authorization": "Bearer " + stack.token("dave@example.com")})
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"] == "application/pem-certificate-chain"
    certs = x509.load_pem_x509_certificates(resp.content)
    verify_chain(certs[0], certs[1:], stack.chain[-1])
    _check_sct_and_inclusion(stack, certs[0], certs[1:])


def test_github_actions_token(stack: Stack) -> None:
    token = stack.token(github=True)
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    assert "email" not in claims
    sub = claims["sub"]
    assert sub == "repo:octo-org@123456/octo-repo@456789:ref:refs/heads/main"  # GitHub's immutable form
    key = new_key()
    resp = httpx.post(stack.ca.url + "/api/v2/signingCert", json=v2_request(token, key, sub))
    assert resp.status_code == 200, resp.text
    leaf, chain = leaf_of(resp.json())
    verify_chain(leaf, chain, stack.chain[-1])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    workflow = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"https://github.com/{workflow}"]
    iss = stack.issuer + "/github"
    sha = claims["sha"]
    assert _ext(leaf, 1) == iss.encode()
    assert _ext(leaf, 2) == b"push"
    assert _ext(leaf, 3) == sha.encode()
    assert _ext(leaf, 4) == b"Release"
    assert _ext(leaf, 5) == b"octo-org/octo-repo"
    assert _ext(leaf, 6) == b"refs/heads/main"
    want = {8: iss, 9: f"https://github.com/{workflow}", 10: sha, 11: "github-hosted",
            12: "https://github.com/octo-org/octo-repo", 13: sha, 14: "refs/heads/main", 15: "456789",
            16: "https://github.com/octo-org", 17: "123456", 18: f"https://github.com/{workflow}", 19: sha,
            20: "push", 21: "https://github.com/octo-org/octo-repo/actions/runs/1000001/attempts/1",
            22: "public", 24: sub}
    for arc, value in want.items():
        assert _ext(leaf, arc) == _der_utf8(value), arc
    ids = {e.oid.dotted_string for e in leaf.extensions}
    assert f"{SIGSTORE}.23" not in ids  # no environment claim: the extension is left out
    _check_sct_and_inclusion(stack, leaf, chain)


def test_trust_bundle_configuration_and_root_cert(stack: Stack) -> None:
    bundle = get_json(stack.ca.url + "/api/v2/trustBundle")
    pems = bundle["chains"][0]["certificates"]
    assert [x509.load_pem_x509_certificate(p.encode()) for p in pems] == stack.chain
    config = get_json(stack.ca.url + "/api/v2/configuration")
    assert {"issuerUrl": stack.issuer, "audience": "sigstore", "challengeClaim": "email",
            "issuerType": "email"} in config["issuers"]
    assert {"issuerUrl": stack.issuer + "/github", "audience": "sigstore", "challengeClaim": "sub",
            "issuerType": "ci-provider"} in config["issuers"]
    resp = httpx.get(stack.ca.url + "/api/v1/rootCert")
    assert x509.load_pem_x509_certificates(resp.content) == stack.chain
    roots = get_json(stack.ca.url + "/ct/v1/get-roots")
    assert [base64.b64decode(c) for c in roots["certificates"]] == [
        stack.chain[-1].public_bytes(serialization.Encoding.DER)]


def test_intermediate_and_root_profile(stack: Stack) -> None:
    inter, root = stack.chain
    bc = inter.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    ku = inter.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert list(inter.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CODE_SIGNING]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name in ("root.key", "intermediate.key", "ct.key"):
        assert (stack.ca_state / name).stat().st_mode & 0o777 == 0o600


def test_circleci_token_with_the_built_in_template(stack: Stack, tmp_path: Path) -> None:
    """A CA whose configuration names an issuer ``ci-provider: circleci-job`` and nothing
    else maps a CircleCI-shaped token (minted by the development issuer: CircleCI's
    namespaced ``oidc.circleci.com/...`` claims, its ``org/.../project/.../user/...``
    subject) as Fulcio's public configuration does."""
    import json

    from tests.ca._support import Server

    config = tmp_path / "fulcio.json"
    config.write_text(json.dumps({"OIDCIssuers": {stack.issuer: {
        "IssuerURL": stack.issuer, "ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "circleci-job"}}}))
    ca = Server(["ca", "serve", "--state", str(tmp_path / "ca"), "--config", str(config)], tmp_path,
                "/api/v2/trustBundle", "ca-circleci").start()
    try:
        org, project, definition = "1b3c5d7e-org", "2c4e6a8b-project", "3d5f7b9c-definition"
        sub = f"org/{org}/project/{project}/user/4e6a8c0d-user"
        claims = {"oidc.circleci.com/project-id": project, "oidc.circleci.com/pipeline-definition-id": definition,
                  "oidc.circleci.com/pipeline-id": "5f7b9d1e-pipeline", "oidc.circleci.com/workflow-id": "6a8c0e2f-wf",
                  "oidc.circleci.com/job-id": "7b9d1f3a-job", "oidc.circleci.com/vcs-origin": "github.com/octo/app",
                  "oidc.circleci.com/vcs-ref": "refs/heads/main", "oidc.circleci.com/ssh-rerun": False,
                  "oidc.circleci.com/context-ids": ["8c0e2a4b-context"]}

        def issue(**extra: object) -> x509.Certificate:
            token = stack.token(None, subject=sub, extra={**claims, **extra})
            key = new_key()
            resp = httpx.post(ca.url + "/api/v2/signingCert", json=v2_request(token, key, sub))
            assert resp.status_code == 200, resp.text
            leaf, chain = leaf_of(resp.json())
            verify_chain(leaf, chain, chain[-1])
            return leaf

        leaf = issue()
        api = "https://circleci.com/api/v2"
        signer = f"{api}/projects/{project}/pipeline-definitions/{definition}"
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.UniformResourceIdentifier) == [signer]
        want = {8: stack.issuer, 9: signer, 11: '""', 12: "github.com/octo/app", 14: "refs/heads/main",
                18: f"{api}/pipeline/5f7b9d1e-pipeline/config", 21: f"{api}/workflow/6a8c0e2f-wf/job", 24: sub}
        for arc, value in want.items():
            assert _ext(leaf, arc) == _der_utf8(value), arc
        assert _ext(issue(**{"oidc.circleci.com/ssh-rerun": True}), 11) == _der_utf8("ssh-rerun")
        token = stack.token(None, subject=sub, extra={k: v for k, v in claims.items()
                                                      if k != "oidc.circleci.com/workflow-id"})
        resp = httpx.post(ca.url + "/api/v2/signingCert", json=v2_request(token, new_key(), sub))
        assert resp.status_code == 400, resp.text
        assert "oidc.circleci.com/workflow-id" in resp.text
    finally:
        ca.stop()
