"""The Sigstore bundle (v0.1-v0.3 JSON) and cosign's SET-form evidence, as strict models.

One :class:`Bundle` serves blobs and images alike: its content is a message signature
(a signature over an artifact's digest, what ``sign-blob --bundle`` writes) or a DSSE
envelope (what cosign v3 stores beside images and attestations). Its verification
material is a public-key hint, a certificate or a certificate chain; it carries the
transparency log entries and RFC 3161 timestamps.

Parsing is strict in python-tuf's style: an unknown or missing field, a wrong type or
bad base64 is a :class:`~sigstack.errors.BundleError` at the edge, so verification
never sees half-valid data. cosign's older forms are read into the same model:

* the legacy ``--bundle`` file (``{"base64Signature", "cert", "rekorBundle"}``,
  cosign's ``LocalSignedPayload``), whose log evidence is SET-only;
* the ``dev.sigstore.cosign/bundle`` image-layer annotation (``rekor_bundle``), which
  is that same SET-only entry on its own.

Hand-written instead of ``sigstore-protobuf-specs``/``sigstore-models``: cosign's
legacy forms are modelled by no protobuf package, we need strictness the protobuf
JSON parsers do not give (they ignore unknown fields), and the packages would add
betterproto/pydantic to every start-up of a command that reads a bundle.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sigstack._internal import safejson
from sigstack.errors import BundleError, ProofError
from sigstack.payload import dsse
from sigstack.tlog.entry import InclusionProof, TlogEntry

BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
BUNDLE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_V03_LEGACY_NAME = "application/vnd.dev.sigstore.bundle+json;version=0.3"
MEDIA_TYPES = (BUNDLE_V01, BUNDLE_V02, BUNDLE_V03_LEGACY_NAME, BUNDLE_V03)
MAX_BUNDLE_BYTES = 16 << 20
_ALGS = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}
_ALGS_BACK = {v: k for k, v in _ALGS.items()}


@dataclass(frozen=True)
class MessageSignature:
    """A signature over an artifact; ``digest`` (with its hash name) when the bundle says it."""

    signature: bytes
    digest_algorithm: str | None = None
    digest: bytes | None = None


@dataclass(frozen=True)
class Bundle:
    """What a bundle says. ``certificate`` is the leaf (DER) of either certificate form,
    ``chain`` the rest of an ``x509CertificateChain``; ``legacy`` marks cosign's
    ``LocalSignedPayload`` file, whose only log evidence is a SET."""

    media_type: str
    content: MessageSignature | dsse.Envelope
    public_key_hint: str | None = None
    certificate: bytes | None = None
    chain: tuple[bytes, ...] = ()
    tlog_entries: tuple[TlogEntry, ...] = ()
    timestamps: tuple[bytes, ...] = ()  # RFC 3161 signed timestamps (DER)
    legacy: bool = False

    @property
    def tlog_entry(self) -> TlogEntry | None:
        """The one log entry (bundles we read carry at most one), or None."""
        return self.tlog_entries[0] if self.tlog_entries else None

    @property
    def signature(self) -> bytes:
        """The message signature, or the envelope's only signature."""
        if isinstance(self.content, MessageSignature):
            return self.content.signature
        if len(self.content.signatures) != 1:
            raise BundleError("the bundle's envelope must have exactly one signature")
        return self.content.signatures[0]

    @property
    def envelope(self) -> dsse.Envelope:
        if not isinstance(self.content, dsse.Envelope):
            raise BundleError("the bundle holds a message signature, not a DSSE envelope")
        return self.content

    # ---- building --------------------------------------------------------------------

    @classmethod
    def for_message(cls, signature: bytes, digest: bytes, algorithm: str, public_key_der: bytes,
                    entry: TlogEntry | None = None, certificate: bytes | None = None,
                    timestamps: Sequence[bytes] = ()) -> Bundle:
        """A v0.3 bundle for a signed blob, as ``cosign sign-blob --bundle`` writes it
        (no ``tlogEntries`` when the signature was not logged). With a keyless signer's
        ``certificate`` (DER) the bundle carries it instead of a public-key hint, as
        cosign v3 writes a keyless bundle (the leaf alone: v0.3 has no chain).
        ``timestamps`` (DER ``TimeStampResp``) go to ``timestampVerificationData``."""
        return cls(BUNDLE_V03, MessageSignature(signature, algorithm, digest),
                   public_key_hint=None if certificate else public_key_hint(public_key_der),
                   certificate=certificate, tlog_entries=(entry,) if entry is not None else (),
                   timestamps=tuple(timestamps))

    @classmethod
    def for_envelope(cls, envelope: dsse.Envelope, public_key_der: bytes,
                     entry: TlogEntry | None = None, certificate: bytes | None = None,
                     timestamps: Sequence[bytes] = ()) -> Bundle:
        """A v0.3 bundle for a signed DSSE envelope, as cosign v3 stores it beside an image
        (with the signing ``certificate`` instead of a key hint when keyless, and the RFC
        3161 ``timestamps`` over the envelope's signature)."""
        return cls(BUNDLE_V03, envelope, public_key_hint=None if certificate else public_key_hint(public_key_der),
                   certificate=certificate, tlog_entries=(entry,) if entry is not None else (),
                   timestamps=tuple(timestamps))

    def to_dict(self) -> dict[str, Any]:
        vm: dict[str, Any] = {}
        if self.certificate is not None and self.chain:
            vm["x509CertificateChain"] = {"certificates": [{"rawBytes": _enc(c)}
                                                           for c in (self.certificate, *self.chain)]}
        elif self.certificate is not None:
            vm["certificate"] = {"rawBytes": _enc(self.certificate)}
        else:
            vm["publicKey"] = {"hint": self.public_key_hint or ""}
        if self.tlog_entries:
            vm["tlogEntries"] = [tlog_entry_json(e) for e in self.tlog_entries]
        if self.timestamps:
            vm["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": _enc(t)}
                                                                     for t in self.timestamps]}
        doc: dict[str, Any] = {"mediaType": self.media_type, "verificationMaterial": vm}
        if isinstance(self.content, MessageSignature):
            ms: dict[str, Any] = {}
            if self.content.digest is not None and self.content.digest_algorithm is not None:
                ms["messageDigest"] = {"algorithm": _ALGS[self.content.digest_algorithm],
                                       "digest": _enc(self.content.digest)}
            ms["signature"] = _enc(self.content.signature)
            doc["messageSignature"] = ms
        else:
            doc["dsseEnvelope"] = self.content.to_dict()
        return doc

    def to_json(self) -> bytes:
        """The bundle's JSON as cosign writes each kind: a blob bundle with Go's default
        ``json.Marshal`` spacing of the protojson, an envelope bundle compact."""
        if isinstance(self.content, dsse.Envelope):
            return json.dumps(self.to_dict(), separators=(",", ":")).encode()
        return json.dumps(self.to_dict()).encode()

    # ---- parsing ---------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes) -> Bundle:
        """Parse a v0.1-v0.3 Sigstore bundle or a cosign legacy bundle file, strictly."""
        if len(data) > MAX_BUNDLE_BYTES:
            raise BundleError("bundle file is too large")
        try:
            doc = safejson.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise BundleError("invalid bundle: not JSON") from None
        if not isinstance(doc, dict):
            raise BundleError("invalid bundle: not a JSON object")
        if "mediaType" not in doc and ("rekorBundle" in doc or "base64Signature" in doc):
            return _parse_legacy(doc)
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Bundle:
        media = doc.get("mediaType")
        if media not in MEDIA_TYPES:
            raise BundleError(f"unsupported bundle media type {str(media)[:80]!r}")
        _only(doc, {"mediaType", "verificationMaterial", "messageSignature", "dsseEnvelope"}, "")
        vm = _get(doc, "verificationMaterial", dict, "")
        _only(vm, {"publicKey", "certificate", "x509CertificateChain", "tlogEntries",
                   "timestampVerificationData"}, "verificationMaterial.")
        content: MessageSignature | dsse.Envelope
        if "dsseEnvelope" in doc:
            if "messageSignature" in doc:
                raise BundleError("invalid bundle: both a message signature and a DSSE envelope")
            env = _get(doc, "dsseEnvelope", dict, "")
            _only(env, {"payload", "payloadType", "signatures"}, "dsseEnvelope.")
            try:
                content = dsse.parse(env)
            except Exception:  # dsse.parse raises VerificationError; here it is a bundle defect
                raise BundleError("invalid bundle: dsseEnvelope is not a valid DSSE envelope") from None
        else:
            ms = _get(doc, "messageSignature", dict, "")
            _only(ms, {"messageDigest", "signature"}, "messageSignature.")
            digest = alg = None
            if "messageDigest" in ms:
                md = _get(ms, "messageDigest", dict, "messageSignature.")
                name = md.get("algorithm", "")
                alg = _ALGS_BACK.get(name) if isinstance(name, str) else None  # a list or object: TypeError
                if alg is None:
                    raise BundleError("invalid bundle: unsupported messageDigest algorithm")
                digest = _b64(md.get("digest"), "messageDigest.digest")
            content = MessageSignature(_b64(ms.get("signature"), "messageSignature.signature"), alg, digest)
        cert = hint = None
        chain: tuple[bytes, ...] = ()
        if "certificate" in vm:
            cert = _b64(_get(vm["certificate"], "rawBytes", str, "certificate."), "certificate.rawBytes")
        elif "x509CertificateChain" in vm:
            certs = _get(vm["x509CertificateChain"], "certificates", list, "x509CertificateChain.")
            if not certs:
                raise BundleError("invalid bundle: empty certificate chain")
            ders = [_b64(_get(c, "rawBytes", str, "certificates[]."), "certificate rawBytes") for c in certs]
            cert, chain = ders[0], tuple(ders[1:])
        elif "publicKey" in vm:
            hint = str(_get(vm, "publicKey", dict, "").get("hint", ""))
        else:
            raise BundleError("invalid bundle: no verification material")
        tlogs = vm.get("tlogEntries") or []
        if not isinstance(tlogs, list) or len(tlogs) > 1:
            raise BundleError("invalid bundle: expected at most one transparency log entry")
        entries = tuple(_parse_tlog(t) for t in tlogs)
        stamps: tuple[bytes, ...] = ()
        if "timestampVerificationData" in vm:
            tvd = _get(vm, "timestampVerificationData", dict, "verificationMaterial.")
            _only(tvd, {"rfc3161Timestamps"}, "timestampVerificationData.")
            items = tvd.get("rfc3161Timestamps") or []
            if not isinstance(items, list):
                raise BundleError("invalid bundle: rfc3161Timestamps must be a list")
            stamps = tuple(_b64(_get(t, "signedTimestamp", str, "rfc3161Timestamps[]."), "signedTimestamp")
                           for t in items)
        return cls(str(media), content, hint, cert, chain, entries, stamps)


def public_key_hint(der_spki: bytes) -> str:
    """cosign's ``publicKey.hint``: base64 SHA-256 of the DER public key."""
    return base64.b64encode(hashlib.sha256(der_spki).digest()).decode()


def _enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tlog_entry_json(entry: TlogEntry) -> dict[str, Any]:
    """A bundle's ``tlogEntries[]`` item (protojson) for ``entry``: SET, inclusion proof,
    checkpoint and canonical body."""
    kind, version = entry.kind_version
    doc: dict[str, Any] = {
        "logIndex": str(entry.log_index),
        "logId": {"keyId": _enc(entry.log_id)},
        "kindVersion": {"kind": kind, "version": version},
        "integratedTime": str(entry.integrated_time),
    }
    if entry.signed_entry_timestamp:
        doc["inclusionPromise"] = {"signedEntryTimestamp": _enc(entry.signed_entry_timestamp)}
    proof = entry.inclusion_proof
    if proof is not None:
        doc["inclusionProof"] = {
            "logIndex": str(proof.log_index),
            "rootHash": _enc(proof.root_hash),
            "treeSize": str(proof.tree_size),
            "hashes": [_enc(h) for h in proof.hashes],
            "checkpoint": {"envelope": proof.checkpoint},
        }
    doc["canonicalizedBody"] = entry.body_b64
    return doc


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
    try:  # line breaks are skipped, as Go's decoder (protojson) skips them; nothing else is
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"invalid bundle: {what} is not valid base64") from None


#: ASCII digits, at most 20 (int64 and uint64 fit): "²".isdigit() holds and int() refuses
#: more than 4300 digits, both ValueError tracebacks before
_DIGITS = re.compile(r"[0-9]{1,20}")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not _DIGITS.fullmatch(str(value)):
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
    # A missing inclusion proof or checkpoint is not a parse error: the log evidence step
    # rejects it (sigstore-python requires both), so a bundle with a worse defect (an
    # untrusted certificate) is rejected for that one first, as the conformance suite expects.
    proof = None
    if "inclusionProof" in t:
        p = _get(t, "inclusionProof", dict, "tlogEntries[0].")
        _only(p, {"logIndex", "rootHash", "treeSize", "hashes", "checkpoint"}, "inclusionProof.")
        checkpoint = ""
        if "checkpoint" in p:
            checkpoint = _get(_get(p, "checkpoint", dict, "inclusionProof."), "envelope", str, "checkpoint.")
        # protojson omits empty lists and zero integers: a one-entry tree has no hashes, index 0 no logIndex
        hashes = p.get("hashes", [])
        if not isinstance(hashes, list):
            raise BundleError("invalid bundle: inclusionProof.hashes must be a list")
        proof = InclusionProof(
            log_index=_int(p.get("logIndex", "0"), "inclusionProof.logIndex"),
            tree_size=_int(p.get("treeSize"), "inclusionProof.treeSize"),
            root_hash=_b64(p.get("rootHash"), "inclusionProof.rootHash"),
            hashes=tuple(_b64(h, "inclusionProof.hashes") for h in hashes),
            checkpoint=checkpoint,
        )
    promise = t.get("inclusionPromise")
    set_sig = None
    if promise is not None:
        # an empty SET is no SET (as verify_entry reads it); kept as b"" it did not survive to_json
        set_sig = _b64(_get(promise, "signedEntryTimestamp", str, "inclusionPromise."), "signedEntryTimestamp") or None
    entry = TlogEntry(
        log_index=_int(t.get("logIndex", "0"), "logIndex"),
        log_id=_b64(_get(_get(t, "logId", dict, ""), "keyId", str, "logId."), "logId.keyId"),
        integrated_time=_int(t.get("integratedTime", "0"), "integratedTime"),
        body=_b64(_get(t, "canonicalizedBody", str, ""), "canonicalizedBody"),
        signed_entry_timestamp=set_sig,
        inclusion_proof=proof,
    )
    try:  # the body is what gets verified and what to_json names the kind by (found by tests/fuzz)
        entry.kind_version  # noqa: B018
    except ProofError:
        raise BundleError("invalid bundle: tlogEntries[0].canonicalizedBody is not a Rekor entry") from None
    return entry


def _parse_legacy(doc: dict[str, Any]) -> Bundle:
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
        except (ValueError, x509.InvalidVersion):  # a version byte past v3 is not a ValueError
            raise BundleError("invalid bundle: cert is not a PEM certificate") from None
    rb = doc.get("rekorBundle")
    entries = (parse_rekor_bundle(rb),) if rb is not None else ()
    return Bundle("", MessageSignature(signature), certificate=cert, tlog_entries=entries, legacy=True)


def rekor_bundle(entry: TlogEntry) -> dict[str, Any]:
    """cosign's SET-only ``rekorBundle`` object: the value of the ``dev.sigstore.cosign/bundle``
    image-signature annotation and of the legacy blob bundle's ``rekorBundle`` field."""
    if not entry.signed_entry_timestamp:
        raise BundleError("the log entry has no signed entry timestamp")
    return {
        "SignedEntryTimestamp": _enc(entry.signed_entry_timestamp),
        "Payload": {"body": entry.body_b64, "integratedTime": entry.integrated_time,
                    "logIndex": entry.log_index, "logID": entry.log_id.hex()},
    }


def parse_rekor_bundle(rb: Any) -> TlogEntry:
    """The inverse of :func:`rekor_bundle` (strict). The result has no inclusion proof."""
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
