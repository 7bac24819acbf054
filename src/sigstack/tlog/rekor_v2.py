"""Rekor v2 (rekor-tiles) log evidence: entry bodies, C2SP checkpoint key IDs and
checkpoint signatures, with the log named by the trusted root's ``logId.keyId``.

Entry bodies (``canonicalizedBody``, spec §3.1):

- ``hashedrekord`` 0.0.2 — ``{"apiVersion":"0.0.2","kind":"hashedrekord","spec":
  {"hashedRekordV002":{"data":{"algorithm","digest"},"signature":{"content",
  "verifier":{"keyDetails", "x509Certificate"|"publicKey":{"rawBytes"}}}}}}``. Rekor v2
  logs DSSE envelopes this way too: ``digest`` is the hash of the envelope's PAE, the
  signature the envelope's one signature (the caller passes the PAE digest).
- ``dsse`` 0.0.2 — the kind rekor-tiles accepted before it dropped DSSE:
  ``spec.dsseV002 = {"payloadHash":{"algorithm","digest"}, "signatures":[{"content",
  "verifier"}]}``; still parsed so old entries verify.

:func:`parse_hashedrekord_v002` / :func:`parse_dsse_v002` are strict (unknown kinds,
versions or shapes raise); :func:`verify_hashedrekord_v002` /
:func:`verify_dsse_v002` compare a body with what the bundle says (digest, signature,
verifier) and raise :class:`LogEntryError` naming the field that differs;
:func:`hashedrekord_v002_body` builds the canonical body (JCS) a client may hash.

Checkpoints (spec §3.4): :func:`note_key_id` is the C2SP signed-note key ID as Rekor v2
computes it (Ed25519: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte key); ECDSA: SHA-256 of the
DER key; RSA: SHA-256(name ‖ 0x0A ‖ 0xff ‖ ``PKIX-RSA-PKCS#1v1.5`` ‖ DER key)); its
full 32 bytes are the log ID in entries and trusted roots, its first 4 the note's key
hash. :func:`verify_log_checkpoint` verifies the signature line whose key hash is the
first 4 bytes of the trusted root's ``logId.keyId`` (witness cosignatures and
signatures by other keys are ignored, wherever they stand), then parses the note
(origin, size and root hash lines are all required). Works for v1 logs too, whose
log ID is SHA-256 of the DER key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sigstack._internal import safejson
from sigstack.errors import LogEntryError, ProofError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.keys.base import Verifier
    from sigstack.tlog.checkpoint import Checkpoint

_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
_RSA_IDENTIFIER = b"PKIX-RSA-PKCS#1v1.5"


@dataclass(frozen=True)
class V2Verifier:
    """The ``verifier`` of a v2 body: a DER certificate or a DER public key."""

    key_details: str
    certificate_der: bytes | None = None
    public_key_der: bytes | None = None


@dataclass(frozen=True)
class HashedRekordV002:
    algorithm: str  # SHA2_256 ...
    digest: bytes
    signature: bytes
    verifier: V2Verifier


@dataclass(frozen=True)
class DsseV002:
    payload_hash_algorithm: str
    payload_hash: bytes
    signatures: tuple[tuple[bytes, V2Verifier], ...]


class LogInstance(Protocol):
    """What checkpoint verification needs of a trusted log: its ID and its key."""

    @property
    def log_id(self) -> bytes: ...

    def verifier(self) -> Verifier: ...


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise LogEntryError(f"log entry: {where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LogEntryError(f"log entry: {where} is not base64") from None


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LogEntryError(f"log entry: {where} must be an object")
    return value


def _body(body: bytes, kind: str, spec_key: str) -> dict[str, Any]:
    try:
        doc = safejson.loads(body)  # deep nesting: a ValueError, not a RecursionError traceback
    except ValueError:
        raise LogEntryError("log entry: the canonicalized body is not JSON") from None
    doc = _obj(doc, "body")
    if doc.get("kind") != kind or doc.get("apiVersion") != "0.0.2":
        raise LogEntryError(f"log entry: the body is not a {kind} 0.0.2 entry")
    return _obj(_obj(doc.get("spec"), "spec").get(spec_key), f"spec.{spec_key}")


def _verifier(value: object, where: str) -> V2Verifier:
    v = _obj(value, where)
    details = v.get("keyDetails")
    if not isinstance(details, str):
        raise LogEntryError(f"log entry: {where}.keyDetails is missing")
    if "x509Certificate" in v:
        return V2Verifier(details, certificate_der=_b64(
            _obj(v["x509Certificate"], f"{where}.x509Certificate").get("rawBytes"),
            f"{where}.x509Certificate.rawBytes"))
    if "publicKey" in v:
        return V2Verifier(details, public_key_der=_b64(
            _obj(v["publicKey"], f"{where}.publicKey").get("rawBytes"), f"{where}.publicKey.rawBytes"))
    raise LogEntryError(f"log entry: {where} has neither x509Certificate nor publicKey")


def parse_hashedrekord_v002(body: bytes) -> HashedRekordV002:
    spec = _body(body, "hashedrekord", "hashedRekordV002")
    data = _obj(spec.get("data"), "data")
    sig = _obj(spec.get("signature"), "signature")
    algorithm = data.get("algorithm")
    if algorithm not in _HASHES:
        raise LogEntryError("log entry: data.algorithm is not SHA2_256, SHA2_384 or SHA2_512")
    digest = _b64(data.get("digest"), "data.digest")
    if len(digest) != hashlib.new(_HASHES[algorithm]).digest_size:
        raise LogEntryError("log entry: data.digest has the wrong length for its algorithm")
    return HashedRekordV002(algorithm, digest, _b64(sig.get("content"), "signature.content"),
                            _verifier(sig.get("verifier"), "signature.verifier"))


def parse_dsse_v002(body: bytes) -> DsseV002:
    spec = _body(body, "dsse", "dsseV002")
    ph = _obj(spec.get("payloadHash"), "payloadHash")
    if ph.get("algorithm") not in _HASHES:
        raise LogEntryError("log entry: payloadHash.algorithm is not SHA2_256, SHA2_384 or SHA2_512")
    sigs = spec.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise LogEntryError("log entry: dsse signatures must be a non-empty list")
    parsed = tuple(
        (_b64(_obj(s, f"signatures[{i}]").get("content"), f"signatures[{i}].content"),
         _verifier(s.get("verifier"), f"signatures[{i}].verifier"))
        for i, s in enumerate(sigs)
    )
    return DsseV002(ph["algorithm"], _b64(ph.get("digest"), "payloadHash.digest"), parsed)


def _same_verifier(v: V2Verifier, certificate_der: bytes | None, public_key_der: bytes | None) -> bool:
    if certificate_der is not None:
        return v.certificate_der == certificate_der
    return public_key_der is not None and v.public_key_der == public_key_der


def verify_hashedrekord_v002(
    body: bytes, *, digest: bytes, signature: bytes,
    certificate_der: bytes | None = None, public_key_der: bytes | None = None,
) -> HashedRekordV002:
    """The body logs exactly this digest (of the artifact, or of the DSSE PAE),
    signature and verifier; LogEntryError naming the mismatch otherwise."""
    entry = parse_hashedrekord_v002(body)
    if entry.digest != digest:
        raise LogEntryError("log entry does not match the signed artifact: the logged digest differs")
    if entry.signature != signature:
        raise LogEntryError("log entry does not match the bundle: the logged signature differs")
    if not _same_verifier(entry.verifier, certificate_der, public_key_der):
        raise LogEntryError("log entry does not match the bundle: the logged certificate or key differs")
    return entry


def verify_dsse_v002(
    body: bytes, *, payload: bytes, signature: bytes,
    certificate_der: bytes | None = None, public_key_der: bytes | None = None,
) -> DsseV002:
    """The body logs this envelope payload (by hash) and its signature + verifier."""
    entry = parse_dsse_v002(body)
    if hashlib.new(_HASHES[entry.payload_hash_algorithm], payload).digest() != entry.payload_hash:
        raise LogEntryError("log entry does not match the signed artifact: the logged payload hash differs")
    if not any(sig == signature and _same_verifier(v, certificate_der, public_key_der)
               for sig, v in entry.signatures):
        raise LogEntryError("log entry does not match the bundle: the envelope's signature is not logged")
    return entry


def hashedrekord_v002_body(
    *, digest: bytes, signature: bytes, key_details: str, algorithm: str = "SHA2_256",
    certificate_der: bytes | None = None, public_key_der: bytes | None = None,
) -> bytes:
    """The canonical (JCS) body rekor-tiles stores for these values."""
    from sigstack.tlog.checkpoint import canonical_json

    if (certificate_der is None) == (public_key_der is None):
        raise LogEntryError("log entry: give exactly one of a certificate or a public key")
    verifier: dict[str, Any] = {"keyDetails": key_details}
    if certificate_der is not None:
        verifier["x509Certificate"] = {"rawBytes": base64.b64encode(certificate_der).decode()}
    else:
        assert public_key_der is not None
        verifier["publicKey"] = {"rawBytes": base64.b64encode(public_key_der).decode()}
    doc = {"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": algorithm, "digest": base64.b64encode(digest).decode()},
        "signature": {"content": base64.b64encode(signature).decode(), "verifier": verifier}}}}
    return canonical_json(doc)


def note_key_id(name: str, key: PublicKeyTypes) -> bytes:
    """The full 32-byte C2SP note key ID of ``key`` under key name ``name``, as
    Rekor v2 computes it (the log ID of its entries)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return hashlib.sha256(der).digest()
    if isinstance(key, rsa.RSAPublicKey):
        return hashlib.sha256(name.encode() + b"\n\xff" + _RSA_IDENTIFIER + der).digest()
    raise ProofError("checkpoint: unsupported log key type")


def verify_log_checkpoint(note: str | bytes, log: LogInstance) -> Checkpoint:
    """Verify the signature of ``log`` (matched by ``logId.keyId[:4]``) on a signed
    checkpoint and return the parsed checkpoint; ProofError naming the failure. ``log``
    is a trusted root's log (``bundle.trustroot.TransparencyLogInstance``), seen through
    :class:`LogInstance` so that the log code does not depend on the trust-root model."""
    from sigstack.errors import SigstackError, VerificationError
    from sigstack.tlog.checkpoint import Checkpoint, SignedNote

    parsed = SignedNote.parse(note)
    want = log.log_id[:4]
    candidates = [sig for _name, key_hash, sig in parsed.signatures if key_hash == want]
    if not candidates:
        raise ProofError("checkpoint carries no signature by the log that provided the entry")
    try:
        verifier = log.verifier()
    except SigstackError as exc:
        raise ProofError(f"checkpoint: {exc}") from None
    for sig in candidates:  # a known key's signature must verify (C2SP signed-note)
        try:
            verifier.verify(sig, parsed.text)
        except VerificationError:
            raise ProofError("checkpoint signature does not verify with the log's public key") from None
    return Checkpoint.parse_text(parsed.text)
