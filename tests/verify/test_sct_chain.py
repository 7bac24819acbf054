"""SCT (embedded and cosign's detached form) and certificate-chain checks beyond the
conformance cases: a CT key that does not match, a CT log missing from the trusted
root, a detached SCT signed by a CT log key of our own over a real Fulcio leaf."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.bundle.trustroot import TrustedRoot
from sigstack.errors import CertificateChainError, SCTError
from sigstack.verify.certificate import check_code_signing_leaf, verify_certificate_chain
from sigstack.verify.sct import verify_detached_sct, verify_embedded_sct
from tests.verify._vectors import CONFORMANCE, case, case_root, parse_case

PROD = CONFORMANCE / "public-good-trust" / "production" / "trusted_root.json"


def _root_with_ctlogs(ctlogs: list[dict[str, object]]) -> TrustedRoot:
    doc = json.loads(PROD.read_bytes())
    doc["ctlogs"] = ctlogs
    return TrustedRoot.from_dict(doc)


def _ctlog(key: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"baseUrl": "https://ct.example", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2020-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()}}


@pytest.fixture(scope="module")
def happy() -> tuple[list, TrustedRoot]:  # type: ignore[type-arg]
    c = case("happy-path-v0.3")
    b, root = parse_case(c), case_root(c)
    t = b.integrated_time()
    assert t is not None
    return verify_certificate_chain(b.leaf, root, t), root


def test_embedded_sct_from_unlisted_log(happy: tuple[list, TrustedRoot]) -> None:  # type: ignore[type-arg]
    chain, _ = happy
    with pytest.raises(SCTError, match="CT log the trusted root does not list"):
        verify_embedded_sct(chain, _root_with_ctlogs([]))


def test_embedded_sct_wrong_key_same_log_id(happy: tuple[list, TrustedRoot]) -> None:  # type: ignore[type-arg]
    chain, root = happy
    listed = json.loads(PROD.read_bytes())["ctlogs"]
    impostor = _ctlog(ec.generate_private_key(ec.SECP256R1()))
    for log in listed:
        log["publicKey"] = impostor["publicKey"]  # same logId, another key
    with pytest.raises(SCTError, match="does not verify with the CT log's key"):
        verify_embedded_sct(chain, _root_with_ctlogs(listed))
    verify_embedded_sct(chain, root)


def _detached(key: ec.EllipticCurvePrivateKey, leaf_der: bytes, ms: int, ext: bytes = b"") -> bytes:
    # RFC 6962 §3.2, x509_entry, written out field by field
    signed = (b"\x00" + b"\x00" + ms.to_bytes(8, "big") + b"\x00\x00"
              + len(leaf_der).to_bytes(3, "big") + leaf_der + len(ext).to_bytes(2, "big") + ext)
    sig = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps({"sct_version": 0, "id": base64.b64encode(hashlib.sha256(der).digest()).decode(),
                       "timestamp": ms, "extensions": base64.b64encode(ext).decode(),
                       "signature": base64.b64encode(b"\x04\x03" + struct.pack(">H", len(sig)) + sig).decode()
                       }).encode()


def test_detached_sct() -> None:
    b = parse_case(case("happy-path-v0.3"))
    leaf_der = b.leaf.public_bytes(serialization.Encoding.DER)
    key = ec.generate_private_key(ec.SECP256R1())
    root = _root_with_ctlogs([_ctlog(key)])
    sct = _detached(key, leaf_der, 1710868000123, b"\x01\x02")
    verify_detached_sct(b.leaf, sct, root)
    verify_detached_sct(b.leaf, base64.b64encode(sct), root)  # as Fulcio's detached-SCT field carries it
    doc = json.loads(sct)
    doc["timestamp"] += 1
    with pytest.raises(SCTError, match="does not verify"):
        verify_detached_sct(b.leaf, json.dumps(doc), root)
    with pytest.raises(SCTError, match="does not list"):
        verify_detached_sct(b.leaf, sct, _root_with_ctlogs([_ctlog(ec.generate_private_key(ec.SECP256R1()))]))
    with pytest.raises(SCTError, match="key was not valid when it issued the SCT"):
        verify_detached_sct(b.leaf, _detached(key, leaf_der, 1546300800000), root)  # 2019, before validFor
    with pytest.raises(SCTError, match="bad timestamp"):
        verify_detached_sct(b.leaf, _detached(key, leaf_der, 1 << 62), root)
    with pytest.raises(SCTError, match="not JSON"):
        verify_detached_sct(b.leaf, b"{", root)
    doc = json.loads(sct)
    del doc["signature"]
    with pytest.raises(SCTError, match="missing or has malformed"):
        verify_detached_sct(b.leaf, json.dumps(doc), root)


def test_chain_time_bounds(happy: tuple[list, TrustedRoot]) -> None:  # type: ignore[type-arg]
    chain, root = happy
    leaf = chain[0]
    verify_certificate_chain(leaf, root, leaf.not_valid_before_utc)  # validity is inclusive
    verify_certificate_chain(leaf, root, leaf.not_valid_after_utc)
    with pytest.raises(CertificateChainError, match="not valid at"):
        verify_certificate_chain(leaf, root, leaf.not_valid_after_utc + timedelta(seconds=1))
    with pytest.raises(CertificateChainError, match="no certificate authority of the trusted root is valid"):
        verify_certificate_chain(leaf, TrustedRoot.from_dict({**json.loads(PROD.read_bytes()),
                                                              "certificateAuthorities": []}),
                                 leaf.not_valid_before_utc)
    # the path ends at a certificate of the trusted root (its intermediates are anchors too)
    anchors = {c for ca in root.certificate_authorities for c in ca.certs()}
    assert chain[-1] in anchors and chain[0] == leaf


def test_ca_certificate_is_not_a_signing_leaf(happy: tuple[list, TrustedRoot]) -> None:  # type: ignore[type-arg]
    chain, _ = happy
    with pytest.raises(CertificateChainError, match="is a CA certificate"):
        check_code_signing_leaf(chain[1])
