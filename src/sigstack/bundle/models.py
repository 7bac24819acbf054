"""Bundle documents for key-signed blobs: Sigstore bundle v0.3 (written, and v0.1-v0.3
read) and cosign's legacy ``{"base64Signature", "cert", "rekorBundle"}`` file (read)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sigstack.errors import BundleError
from sigstack.tlog.entry import InclusionProof, TlogEntry

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_V03,
)
_ALGS = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}
_ALGS_BACK = {v: k for k, v in _ALGS.items()}
MAX_BUNDLE_BYTES = 16 << 20




@dataclass(frozen=True)
class BlobBundle:
    """What a blob bundle says: the signature, the digest (if recorded), the verification
    material (key hint or certificate PEM) and the log entry with its evidence."""

    signature: bytes
    digest: bytes | None
    digest_algorithm: str | None
    certificate_der: bytes | None
    key_hint: str | None
    tlog_entry: TlogEntry | None  # None only for bundles without log evidence
    legacy: bool  # cosign's pre-v0.3 file: SET only, no inclusion proof


def public_key_hint(der_spki: bytes) -> str:
    """cosign's ``publicKey.hint``: base64 SHA-256 of the DER public key."""
    return base64.b64encode(hashlib.sha256(der_spki).digest()).decode()


def _tlog_json(entry: TlogEntry) -> dict[str, Any]:
    kind, version = entry.kind_version
    doc: dict[str, Any] = {
        "logIndex": str(entry.log_index),
        "logId": {"keyId": base64.b64encode(entry.log_id).decode()},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": str(entry.integrated_time),
    }
    if entry.signed_entry_timestamp:
        doc["inclusionPromise"] = {
            "signedEntryTimestamp": base64.b64encode(entry.signed_entry_timestamp).decode()
        }
    proof = entry.inclusion_proof
    if proof is not None:
        doc["inclusionProof"] = {
            "logIndex": str(proof.log_index),
            "rootHash": base64.b64encode(proof.root_hash).decode(),
            "treeSize": str(proof.tree_size),
            "hashes": [base64.b64encode(h).decode() for h in proof.hashes],
            "checkpoint": {"envelope": proof.checkpoint},
        }
    doc["canonicalizedBody"] = entry.body_b64
    return doc


def build_bundle(entry: TlogEntry, signature: bytes, digest: bytes, algorithm: str,
                 public_key_der: bytes) -> bytes:
    """A v0.3 bundle for a key-signed blob, as ``cosign sign-blob --bundle`` writes it."""
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": {"hint": public_key_hint(public_key_der)},
            "tlogEntries": [_tlog_json(entry)],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": _ALGS[algorithm], "digest": base64.b64encode(digest).decode()},
            "signature": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(doc).encode()


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise BundleError(f"invalid bundle: missing {where}{key}")
    value = obj[key]
    if not isinstance(value, kind):
        raise BundleError(f"invalid bundle: {where}{key} has the wrong type")
    return value


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(f"invalid bundle: {what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"invalid bundle: {what} is not valid base64") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise BundleError(f"invalid bundle: {what} must be a non-negative integer")
    return int(value)


def _only(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(obj) - allowed
    if extra:
        raise BundleError(f"invalid bundle: unknown field {where}{sorted(extra)[0]}")


def _parse_tlog(t: Any) -> TlogEntry:
    if not isinstance(t, dict):
        raise BundleError("invalid bundle: tlog entry must be an object")
    _only(t, {"logIndex", "logId", "kindVersion", "integratedTime", "inclusionPromise", "inclusionProof",
              "canonicalizedBody"}, "tlogEntries[0].")
    proof = _get(t, "inclusionProof", dict, "tlogEntries[0].")
    checkpoint = _get(_get(proof, "checkpoint", dict, "inclusionProof."), "envelope", str, "checkpoint.")
    promise = t.get("inclusionPromise")
    set_sig = None
    if promise is not None:
        set_b64 = _get(promise, "signedEntryTimestamp", str, "inclusionPromise.")
        set_sig = _b64(set_b64, "signedEntryTimestamp")
    # protojson omits empty lists and zero integers: a one-entry tree has no hashes, index 0 no logIndex
    hashes = proof.get("hashes", [])
    if not isinstance(hashes, list):
        raise BundleError("invalid bundle: inclusionProof.hashes must be a list")
    return TlogEntry(
        log_index=_int(t.get("logIndex", "0"), "logIndex"),
        log_id=_b64(_get(_get(t, "logId", dict, ""), "keyId", str, "logId."), "logId.keyId"),
        integrated_time=_int(t.get("integratedTime", "0"), "integratedTime"),
        body=_b64(_get(t, "canonicalizedBody", str, ""), "canonicalizedBody"),
        signed_entry_timestamp=set_sig,
        inclusion_proof=InclusionProof(
            log_index=_int(proof.get("logIndex", "0"), "inclusionProof.logIndex"),
            tree_size=_int(proof.get("treeSize"), "inclusionProof.treeSize"),
            root_hash=_b64(proof.get("rootHash"), "inclusionProof.rootHash"),
            hashes=tuple(_b64(h, "inclusionProof.hashes") for h in hashes),
            checkpoint=checkpoint,
        ),
    )


def parse_bundle(data: bytes) -> BlobBundle:
    """Parse a v0.1-v0.3 Sigstore bundle or a cosign legacy bundle file, strictly."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError("bundle file is too large")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BundleError("invalid bundle: not JSON") from None
    if not isinstance(doc, dict):
        raise BundleError("invalid bundle: not a JSON object")
    if "mediaType" not in doc and ("rekorBundle" in doc or "base64Signature" in doc):
        return _parse_legacy(doc)
    media = doc.get("mediaType")
    if media not in MEDIA_TYPES:
        raise BundleError(f"unsupported bundle media type {str(media)[:80]!r}")
    _only(doc, {"mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"}, "")
    vm = _get(doc, "verificationMaterial", dict, "")
    _only(vm, {"publicKey", "certificate", "x509CertificateChain", "tlogEntries",
               "timestampVerificationData"}, "verificationMaterial.")
    if "dsseEnvelope" in doc:
        raise BundleError("this bundle holds a DSSE envelope; verify it as an attestation")
    ms = _get(doc, "messageSignature", dict, "")
    signature = _b64(ms.get("signature"), "messageSignature.signature")
    digest = alg = None
    if "messageDigest" in ms:
        md = _get(ms, "messageDigest", dict, "messageSignature.")
        alg = _ALGS_BACK.get(md.get("algorithm", ""))
        if alg is None:
            raise BundleError("invalid bundle: unsupported messageDigest algorithm")
        digest = _b64(md.get("digest"), "messageDigest.digest")
    cert = hint = None
    if "certificate" in vm:
        cert = _b64(_get(vm["certificate"], "rawBytes", str, "certificate."), "certificate.rawBytes")
    elif "x509CertificateChain" in vm:
        certs = _get(vm["x509CertificateChain"], "certificates", list, "x509CertificateChain.")
        if not certs:
            raise BundleError("invalid bundle: empty certificate chain")
        cert = _b64(_get(certs[0], "rawBytes", str, "certificates[0]."), "certificate rawBytes")
    elif "publicKey" in vm:
        hint = str(_get(vm, "publicKey", dict, "").get("hint", ""))
    else:
        raise BundleError("invalid bundle: no verification material")
    tlogs = vm.get("tlogEntries") or []
    if not isinstance(tlogs, list) or len(tlogs) > 1:
        raise BundleError("invalid bundle: expected at most one transparency log entry")
    entry = _parse_tlog(tlogs[0]) if tlogs else None
    return BlobBundle(signature, digest, alg, cert, hint, entry, legacy=False)


def _parse_legacy(doc: dict[str, Any]) -> BlobBundle:
    """cosign's ``LocalSignedPayload``: base64Signature, cert (PEM, b64), rekorBundle (SET)."""
    _only(doc, {"base64Signature", "cert", "rekorBundle"}, "")
    signature = _b64(doc.get("base64Signature"), "base64Signature")
    cert = None
    if doc.get("cert"):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            pem = _b64(doc["cert"], "cert")
            cert = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
        except ValueError:
            raise BundleError("invalid bundle: cert is not a PEM certificate") from None
    rb = doc.get("rekorBundle")
    entry = parse_rekor_bundle(rb) if rb is not None else None
    return BlobBundle(signature, None, None, cert, None, entry, legacy=True)


def rekor_bundle(entry: TlogEntry) -> dict[str, Any]:
    """cosign's SET-only ``rekorBundle`` object: the value of the ``dev.sigstore.cosign/bundle``
    image-signature annotation and of the legacy blob bundle's ``rekorBundle`` field."""
    if not entry.signed_entry_timestamp:
        raise BundleError("the log entry has no signed entry timestamp")
    return {
        "SignedEntryTimestamp": base64.b64encode(entry.signed_entry_timestamp).decode(),
        "Payload": {"body": entry.body_b64, "integratedTime": entry.integrated_time,
                    "logIndex": entry.log_index, "logID": entry.log_id.hex()},
    }


def parse_rekor_bundle(rb: Any) -> TlogEntry:
    """The inverse of :func:`rekor_bundle` (strict). The result has no inclusion proof:
    verify it with ``verify_hashedrekord_evidence(..., set_only=True)``."""
    if not isinstance(rb, dict):
        raise BundleError("invalid bundle: rekorBundle must be an object")
    _only(rb, {"SignedEntryTimestamp", "Payload"}, "rekorBundle.")
    payload = _get(rb, "Payload", dict, "rekorBundle.")
    _only(payload, {"body", "integratedTime", "logIndex", "logID"}, "rekorBundle.Payload.")
    try:
        log_id = bytes.fromhex(_get(payload, "logID", str, "Payload."))
    except ValueError:
        raise BundleError("invalid bundle: Payload.logID is not hex") from None
    return TlogEntry(
        log_index=_int(payload.get("logIndex"), "Payload.logIndex"),
        log_id=log_id,
        integrated_time=_int(payload.get("integratedTime"), "Payload.integratedTime"),
        body=_b64(_get(payload, "body", str, "Payload."), "Payload.body"),
        signed_entry_timestamp=_b64(rb.get("SignedEntryTimestamp"), "SignedEntryTimestamp"),
    )


def build_bundle_without_log(signature: bytes, digest: bytes, algorithm: str, public_key_der: bytes) -> bytes:
    """A v0.3 bundle with no log entry (``--tlog-upload=false``), as cosign writes it."""
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": public_key_hint(public_key_der)}},
        "messageSignature": {
            "messageDigest": {"algorithm": _ALGS[algorithm], "digest": base64.b64encode(digest).decode()},
            "signature": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(doc).encode()


def tlog_entry_json(entry: TlogEntry) -> dict[str, Any]:
    """A bundle's ``tlogEntries[]`` item (protojson) for ``entry``: SET, inclusion proof,
    checkpoint and canonical body."""
    return _tlog_json(entry)


def parse_tlog_entries(vm: Any) -> TlogEntry | None:
    """The one log entry of a bundle's ``verificationMaterial`` (strictly), or None."""
    if not isinstance(vm, dict):
        raise BundleError("invalid bundle: verificationMaterial must be an object")
    tlogs = vm.get("tlogEntries") or []
    if not isinstance(tlogs, list) or len(tlogs) > 1:
        raise BundleError("invalid bundle: expected at most one transparency log entry")
    return _parse_tlog(tlogs[0]) if tlogs else None
