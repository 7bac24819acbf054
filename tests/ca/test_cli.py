"""The commands: trusted-root / signing-config create (cosign v3's flags), and the
CA's start-up failures and key references (--ca-key), each failure one Error: line."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.ca._support import Stack, ca_server, leaf_of, new_key, v2_request
from tests.helpers import assert_clean_error, sigstack

START = "start-time=2024-01-01T00:00:00Z"


def test_trusted_root_create(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "tr.json"
    chain, ct = stack.ca_state / "chain.pem", stack.ca_state / "ct.pub"
    res = sigstack("trusted-root", "create", "--fulcio", f"url=https://ca.test,certificate-chain={chain}",
                   "--ctfe", f"url=https://ct.test,public-key={ct},{START},end-time=2030-01-01T00:00:00+00:00",
                   "--rekor", f"url=https://log.test,public-key={ct},{START}", "--out", out)
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    ca = doc["certificateAuthorities"][0]
    assert ca["uri"] == "https://ca.test"
    assert [base64.b64decode(c["rawBytes"]) for c in ca["certChain"]["certificates"]] == [
        c.public_bytes(serialization.Encoding.DER) for c in stack.chain]
    assert ca["subject"] == {"organization": "sigstack", "commonName": "sigstack-intermediate"}
    log = doc["ctlogs"][0]
    der = stack.ct_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert log["logId"]["keyId"] == base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert log["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert log["publicKey"]["validFor"] == {"start": "2024-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}
    assert doc["tlogs"][0]["baseUrl"] == "https://log.test" and doc["timestampAuthorities"] == []


def test_trusted_root_create_errors(stack: Stack, tmp_path: Path) -> None:
    ct = stack.ca_state / "ct.pub"
    assert_clean_error(sigstack("trusted-root", "create"),
                       "name at least one service (--fulcio, --rekor, --ctfe or --tsa)")
    assert_clean_error(sigstack("trusted-root", "create", "--ctfe", f"url=https://ct.test,public-key={ct}"),
                       "--ctfe: missing required key start-time")
    assert_clean_error(sigstack("trusted-root", "create", "--rekor", f"url=x,public-key={ct},start-time=yesterday"),
                       "--rekor: start-time must be an RFC 3339 time, not 'yesterday'")
    assert_clean_error(sigstack("trusted-root", "create", "--fulcio", "url=x,colour=blue"),
                       "--fulcio: unknown key 'colour' (want url, certificate-chain, start-time, end-time)")
    assert_clean_error(sigstack("trusted-root", "create", "--fulcio", f"url=x,certificate-chain={ct}"),
                       f"--fulcio: {ct} is not a PEM certificate chain")
    missing = tmp_path / "nope.pem"
    assert_clean_error(sigstack("trusted-root", "create", "--ctfe", f"url=x,public-key={missing},{START}"),
                       f"--ctfe: reading {missing}: No such file or directory")


def test_signing_config_create(tmp_path: Path) -> None:
    svc = f"api-version=1,{START},operator=example.test"
    res = sigstack("signing-config", "create", "--fulcio", f"url=https://ca.test,{svc}",
                   "--rekor", f"url=https://log.test,{svc}", "--rekor-config", "EXACT:1",
                   "--oidc-provider", f"url=https://oidc.test,{svc}",
                   "--tsa", f"url=https://tsa.test/api/v1/timestamp,{svc},end-time=2030-01-01T00:00:00Z")
    assert res.code == 0, res.err
    doc = json.loads(res.stdout)
    assert doc["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    assert doc["caUrls"] == [{"url": "https://ca.test", "majorApiVersion": 1,
                              "validFor": {"start": "2024-01-01T00:00:00Z"}, "operator": "example.test"}]
    assert doc["rekorTlogConfig"] == {"selector": "EXACT", "count": 1}
    assert doc["tsaConfig"] == {"selector": "ANY"}
    assert doc["tsaUrls"][0]["validFor"]["end"] == "2030-01-01T00:00:00Z"
    assert doc["oidcUrls"][0]["url"] == "https://oidc.test"


def test_signing_config_create_errors() -> None:
    svc = f"api-version=1,{START},operator=o"
    assert_clean_error(sigstack("signing-config", "create", "--rekor", f"url=x,{svc}", "--rekor-config", "SOME"),
                       "service selector must be ANY, ALL or EXACT:<count>, not 'SOME'")
    assert_clean_error(sigstack("signing-config", "create", "--rekor", f"url=x,{svc}", "--rekor-config", "EXACT"),
                       "EXACT needs a positive count, as in EXACT:1")
    assert_clean_error(sigstack("signing-config", "create", "--fulcio", f"url=x,api-version=one,{START},operator=o"),
                       "--fulcio: api-version must be an integer")
    assert_clean_error(sigstack("signing-config", "create", "--fulcio", "url=x"),
                       "--fulcio: missing required key api-version")


def test_ca_serve_bad_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("oidc-issuers:\n  https://a:\n    issuer-url: https://a\n    client-id: sigstore\n    type: magic\n")
    assert_clean_error(sigstack("ca", "serve", "--state", tmp_path / "s", "--config", bad),
                       "oidc-issuers https://a: unsupported issuer type 'magic'")
    assert_clean_error(sigstack("ca", "serve", "--state", tmp_path / "s", "--config", tmp_path / "none.yaml"),
                       f"reading CA configuration {tmp_path / 'none.yaml'}: No such file or directory")
    assert_clean_error(sigstack("ca", "serve", "--state", tmp_path / "s", "--ca-key", tmp_path / "no.key"),
                       "no.key")


def test_ca_key_from_a_key_reference(stack: Stack, tmp_path: Path) -> None:
    """--ca-key takes any sigstack key reference (here a cosign-encrypted key file):
    the CA makes a self-signed root for it once and issues under it."""
    env = {"COSIGN_PASSWORD": "pw"}
    res = sigstack("generate-key-pair", "--output-key-prefix", tmp_path / "ca", env=env)
    assert res.code == 0, res.err
    server = ca_server(tmp_path, tmp_path / "state", stack.issuer, ["--ca-key", str(tmp_path / "ca.key")],
                       env=env)
    try:
        key = new_key()
        resp = httpx.post(server.url + "/api/v2/signingCert",
                          json=v2_request(stack.token("k@example.com"), key, "k@example.com"))
        assert resp.status_code == 200, resp.text
        leaf, chain = leaf_of(resp.json())
        (root,) = chain
        assert root == x509.load_pem_x509_certificate((tmp_path / "state" / "ca-key-root.pem").read_bytes())
        pub = serialization.load_pem_public_key((tmp_path / "ca.pub").read_bytes())
        assert root.public_key() == pub
        leaf.verify_directly_issued_by(root)
    finally:
        server.stop()


def test_state_survives_a_restart(stack: Stack, tmp_path: Path) -> None:
    """Keys, chain and the CT tree are kept in the state directory across restarts."""
    state = tmp_path / "state"
    first = ca_server(tmp_path, state, stack.issuer)
    try:
        resp = httpx.post(first.url + "/api/v2/signingCert",
                          json=v2_request(stack.token("r@example.com"), new_key(), "r@example.com"))
        assert resp.status_code == 200
        chain = resp.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][1:]
        size = httpx.get(first.url + "/ct/v1/get-sth").json()["tree_size"]
    finally:
        first.stop()
    second = ca_server(tmp_path, state, stack.issuer)
    try:
        assert httpx.get(second.url + "/api/v2/trustBundle").json()["chains"][0]["certificates"] == chain
        resp = httpx.post(second.url + "/api/v2/signingCert",
                          json=v2_request(stack.token("r@example.com"), new_key(), "r@example.com"))
        assert resp.status_code == 200
        assert httpx.get(second.url + "/ct/v1/get-sth").json()["tree_size"] == size + 1
    finally:
        second.stop()


def test_ca_chain_must_match_the_key(stack: Stack, tmp_path: Path) -> None:
    res = sigstack("generate-key-pair", "--output-key-prefix", tmp_path / "ca", env={"COSIGN_PASSWORD": "pw"})
    assert res.code == 0, res.err
    assert_clean_error(sigstack("ca", "serve", "--state", tmp_path / "s", "--ca-key", tmp_path / "ca.key",
                                "--ca-chain", stack.ca_state / "chain.pem", env={"COSIGN_PASSWORD": "pw"}),
                       "the CA key does not match the issuing certificate")
