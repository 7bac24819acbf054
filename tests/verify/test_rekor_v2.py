"""Rekor v2 evidence helpers: note key IDs against the real trusted roots, canonical
bodies against real entries, checkpoints signed with Ed25519 and ECDSA."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.bundle.trustroot import TransparencyLogInstance
from sigstack.errors import ProofError
from sigstack.tlog.rekor_v2 import (
    LogEntryError,
    hashedrekord_v002_body,
    note_key_id,
    parse_hashedrekord_v002,
    verify_dsse_v002,
    verify_hashedrekord_v002,
    verify_log_checkpoint,
)
from tests.verify._vectors import CONFORMANCE, case, case_root, parse_case


@pytest.mark.parametrize(("root", "origin"), [
    ("public-good-trust/production/trusted_root.json", "log2025-1.rekor.sigstore.dev"),
    ("bundle-verify/rekor2-happy-path/trusted_root.json", "log2025-alpha1.rekor.sigstage.dev"),
])
def test_note_key_id_is_the_trusted_root_log_id(root: str, origin: str) -> None:
    from sigstack.bundle.trustroot import TrustedRoot

    tr = TrustedRoot.from_json((CONFORMANCE / root).read_bytes())
    log = next(t for t in tr.tlogs if t.base_url.endswith(origin))
    assert note_key_id(origin, log.public_key()) == log.log_id
    # the v1 log (ECDSA): the note key ID is SHA-256 of the DER key, whatever the name
    v1 = next(t for t in tr.tlogs if t.key_details.startswith("PKIX_ECDSA"))
    assert note_key_id("anything", v1.public_key()) == v1.log_id


def test_body_rebuilt_byte_for_byte() -> None:
    for name in ("rekor2-happy-path", "rekor2-timestamp-with-embedded-cert"):
        b = parse_case(case(name))
        assert b.entry is not None
        body = base64.b64decode(b.entry["canonicalizedBody"])
        entry = parse_hashedrekord_v002(body)
        rebuilt = hashedrekord_v002_body(
            digest=hashlib.sha256(b.artifact).digest(), signature=b.signature,
            key_details=entry.verifier.key_details,
            certificate_der=b.leaf.public_bytes(serialization.Encoding.DER))
        assert rebuilt == body


def test_body_mismatches_named() -> None:
    b = parse_case(case("rekor2-happy-path"))
    assert b.entry is not None
    body = base64.b64decode(b.entry["canonicalizedBody"])
    cert = b.leaf.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(b.artifact).digest()
    verify_hashedrekord_v002(body, digest=digest, signature=b.signature, certificate_der=cert)
    with pytest.raises(LogEntryError, match="logged digest differs"):
        verify_hashedrekord_v002(body, digest=b"\0" * 32, signature=b.signature, certificate_der=cert)
    with pytest.raises(LogEntryError, match="logged signature differs"):
        verify_hashedrekord_v002(body, digest=digest, signature=b"x", certificate_der=cert)
    with pytest.raises(LogEntryError, match="certificate or key differs"):
        verify_hashedrekord_v002(body, digest=digest, signature=b.signature, public_key_der=b"k")
    doc = json.loads(body)
    doc["kind"] = "dsse"
    with pytest.raises(LogEntryError, match=r"not a hashedrekord 0\.0\.2 entry"):
        parse_hashedrekord_v002(json.dumps(doc).encode())
    doc = json.loads(body)
    doc["spec"]["hashedRekordV002"]["data"]["digest"] = base64.b64encode(b"short").decode()
    with pytest.raises(LogEntryError, match="wrong length"):
        parse_hashedrekord_v002(json.dumps(doc).encode())


def test_dsse_v002_body() -> None:
    payload, sig, key = b'{"_type":"x"}', b"signature-bytes", b"DER key"
    v = {"keyDetails": "PKIX_ECDSA_P256_SHA_256", "publicKey": {"rawBytes": base64.b64encode(key).decode()}}
    body = json.dumps({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
        "payloadHash": {"algorithm": "SHA2_256", "digest": base64.b64encode(hashlib.sha256(payload).digest()).decode()},
        "signatures": [{"content": base64.b64encode(sig).decode(), "verifier": v}]}}}).encode()
    verify_dsse_v002(body, payload=payload, signature=sig, public_key_der=key)
    with pytest.raises(LogEntryError, match="payload hash differs"):
        verify_dsse_v002(body, payload=payload + b" ", signature=sig, public_key_der=key)
    with pytest.raises(LogEntryError, match="signature is not logged"):
        verify_dsse_v002(body, payload=payload, signature=sig + b"!", public_key_der=key)


def _log(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, name: str) -> TransparencyLogInstance:
    pub = key.public_key()
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return TransparencyLogInstance(f"https://{name}", "SHA2_256", der, "", None, note_key_id(name, pub))


def _note(text: str, lines: list[tuple[str, bytes, bytes]]) -> str:
    sigs = "".join(f"\u2014 {n} {base64.b64encode(kh + s).decode()}\n" for n, kh, s in lines)
    return text + "\n" + sigs


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_checkpoint_signatures(kind: str) -> None:
    name = "log.example.dev"
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    log = _log(key, name)
    text = f"{name}\n5\n{base64.b64encode(b'r' * 32).decode()}\n"

    def sign(data: bytes) -> bytes:
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        from cryptography.hazmat.primitives import hashes

        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    witness = ("witness.example", b"\x01\x02\x03\x04", b"w" * 72)
    good = (name, log.log_id[:4], sign(text.encode()))
    cp = verify_log_checkpoint(_note(text, [witness, good]), log)  # cosignature first, ignored
    assert (cp.origin, cp.size, cp.root_hash) == (name, 5, b"r" * 32)
    with pytest.raises(ProofError, match="no signature by the log"):
        verify_log_checkpoint(_note(text, [witness]), log)
    with pytest.raises(ProofError, match="does not verify"):
        verify_log_checkpoint(_note(text, [good, (name, log.log_id[:4], sign(b"other"))]), log)
    with pytest.raises(ProofError, match="malformed checkpoint"):
        bad = f"{name}\n5\n"
        verify_log_checkpoint(_note(bad, [(name, log.log_id[:4], sign(bad.encode()))]), log)


def test_real_v2_checkpoint_with_cosignatures() -> None:
    c = case("rekor2-checkpoint-two-sigs-cosigned")
    b = parse_case(c)
    assert b.entry is not None
    log = case_root(c).tlog(base64.b64decode(b.entry["logId"]["keyId"]))
    assert log is not None
    cp = verify_log_checkpoint(b.entry["inclusionProof"]["checkpoint"]["envelope"], log)
    assert cp.origin == "log2025-alpha1.rekor.sigstage.dev"
