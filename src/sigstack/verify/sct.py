"""Step 4 of keyless verification: the certificate was logged to a trusted CT log.

Two forms, as the stock clients accept them:

- :func:`verify_embedded_sct` — exactly sigstore-python's rule: the leaf carries
  exactly one SCT (extension 1.3.6.1.4.1.11129.2.4.2), from a CT log of the trusted
  root (``ctlogs[].logId.keyId`` equal to the SCT's log ID), with a SHA-256 signature
  over the RFC 6962 §3.2 ``digitally-signed`` struct of a *precertificate* entry: the
  leaf's TBS with the poison and SCT-list extensions removed (``cryptography``'s
  ``tbs_precertificate_bytes``) and the SHA-256 of the issuing certificate's DER key.
  The issuer is the next certificate of the verified chain, skipping a CT
  precertificate-signing certificate (EKU 1.3.6.1.4.1.11129.2.4.4) as RFC 6962 does.
  SCT extensions (used by static CT logs) are signed over as they are
  (conformance ``bundle-with-sct-with-extensions``). The CT log's key must be valid
  (``validFor``) at the SCT's timestamp.
- :func:`verify_detached_sct` — cosign's ``--sct FILE``: the CT ``add-chain``
  response JSON (``sct_version``, ``id``, ``timestamp``, ``extensions``,
  ``signature``) over an ``x509_entry`` of the whole leaf DER, as Fulcio returns it in
  ``signedCertificateDetachedSct``.

The struct is assembled by hand (a few length prefixes); ``cryptography`` parses the
embedded SCT list and verifies the signature. It has no detached-SCT parser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sigstack._internal import safejson
from sigstack.errors import SCTError

if TYPE_CHECKING:
    from cryptography import x509

    from sigstack.bundle.trustroot import TransparencyLogInstance, TrustedRoot

_PRECERT_SIGNING_EKU = "1.3.6.1.4.1.11129.2.4.4"
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_X509_ENTRY = 0
_PRECERT_ENTRY = 1


def issuer_of(chain: Sequence[x509.Certificate]) -> x509.Certificate:
    """The certificate that issued ``chain[0]``, as RFC 6962 §3.2 defines it for
    precertificates (skip a precertificate-signing certificate)."""
    from cryptography import x509

    from sigstack._internal import der

    for cert in chain[1:]:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if any(oid.dotted_string == _PRECERT_SIGNING_EKU for oid in eku):
                continue
        except x509.ExtensionNotFound:
            pass
        except der.extension_errors() as exc:
            raise SCTError(f"SCT: a certificate of the chain has malformed extensions: {exc}") from None
        return cert
    raise SCTError("SCT: the certificate chain has no issuer for the signing certificate")


def _signed_struct(entry_type: int, timestamp_ms: int, entry: bytes, extensions: bytes) -> bytes:
    # version v1 (0), signature_type certificate_timestamp (0), uint64 timestamp, entry type
    out = struct.pack(">BBQH", 0, 0, timestamp_ms, entry_type) + entry
    return out + struct.pack(">H", len(extensions)) + extensions


def _u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def _ctlog(trusted_root: TrustedRoot, log_id: bytes, at: datetime) -> TransparencyLogInstance:
    """The CT log by ID, whose key was valid when it issued the SCT (as sigstore-go)."""
    log = trusted_root.ctlog(log_id)
    if log is None:
        raise SCTError(
            f"SCT: the certificate's SCT is from a CT log the trusted root does not list "
            f"(log ID {base64.b64encode(log_id).decode()})")
    if not log.valid_at(at):
        raise SCTError(f"SCT: the CT log {log.base_url}'s key was not valid when it issued the SCT "
                       f"({at:%Y-%m-%dT%H:%M:%SZ})")
    return log


def _ms_to_time(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _verify_with(log: TransparencyLogInstance, signature: bytes, message: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    from sigstack.errors import SigstackError

    try:
        key = log.public_key()
    except SigstackError as exc:
        raise SCTError(f"SCT: {exc}") from None
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SCTError("SCT: the CT log key is neither ECDSA nor RSA")
    except InvalidSignature:
        raise SCTError("SCT: the signed certificate timestamp does not verify with the CT log's key") from None


def verify_embedded_sct(chain: Sequence[x509.Certificate], trusted_root: TrustedRoot) -> None:
    """Check the leaf's (``chain[0]``) one embedded SCT; ``chain`` is the verified path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.certificate_transparency import (
        LogEntryType,
        SignatureAlgorithm,
    )

    from sigstack._internal import der

    leaf = chain[0]
    try:
        scts = list(leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)
    except x509.ExtensionNotFound:
        raise SCTError("SCT: the certificate carries no embedded signed certificate timestamp") from None
    except der.extension_errors() as exc:
        raise SCTError(f"SCT: the certificate's SCT list is malformed: {exc}") from None
    if len(scts) != 1:
        raise SCTError(f"SCT: expected exactly one embedded signed certificate timestamp, found {len(scts)}")
    sct = scts[0]
    if sct.entry_type != LogEntryType.PRE_CERTIFICATE:
        raise SCTError("SCT: the embedded SCT is not for a precertificate")
    if getattr(sct.signature_hash_algorithm, "name", None) != "sha256":
        raise SCTError("SCT: the embedded SCT is not signed with SHA-256")
    if sct.signature_algorithm not in (SignatureAlgorithm.ECDSA, SignatureAlgorithm.RSA):
        raise SCTError("SCT: the embedded SCT's signature algorithm is not ECDSA or RSA")
    issuer = issuer_of(chain)
    key_hash = hashlib.sha256(
        issuer.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    try:
        tbs = leaf.tbs_precertificate_bytes
    except ValueError as exc:
        raise SCTError(f"SCT: cannot rebuild the precertificate: {exc}") from None
    ts = sct.timestamp if sct.timestamp.tzinfo else sct.timestamp.replace(tzinfo=UTC)  # naive = UTC
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    timestamp_ms = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    log = _ctlog(trusted_root, sct.log_id, _ms_to_time(timestamp_ms))
    message = _signed_struct(_PRECERT_ENTRY, timestamp_ms, key_hash + _u24(tbs), sct.extension_bytes)
    _verify_with(log, sct.signature, message)


def parse_detached_sct(data: bytes | str) -> dict[str, Any]:
    """cosign's ``--sct`` file: CT ``AddChainResponse`` JSON (maybe base64 of it,
    as Fulcio's ``signedCertificateTimestamp`` field carries it)."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        doc = safejson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        try:
            doc = safejson.loads(base64.b64decode(raw, validate=True))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise SCTError("SCT: the detached SCT is not JSON") from None
    if not isinstance(doc, dict):
        raise SCTError("SCT: the detached SCT is not a JSON object")
    return doc


def verify_detached_sct(leaf: x509.Certificate, sct_json: bytes | str, trusted_root: TrustedRoot) -> None:
    """Check a detached SCT (cosign ``--sct``) over the whole leaf certificate."""
    from cryptography.hazmat.primitives import serialization

    doc = parse_detached_sct(sct_json)
    try:
        version = doc["sct_version"]
        log_id = base64.b64decode(doc["id"], validate=True)
        timestamp_ms = doc["timestamp"]
        extensions = base64.b64decode(doc.get("extensions") or "", validate=True)
        dsig = base64.b64decode(doc["signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise SCTError("SCT: the detached SCT is missing or has malformed sct_version/id/timestamp/signature"
                       ) from None
    if (version != 0 or not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool)
            or not 0 <= timestamp_ms <= _MAX_MS):
        raise SCTError("SCT: the detached SCT has an unsupported version or a bad timestamp")
    # TLS DigitallySigned: hash alg (4 = sha256), signature alg (1 RSA / 3 ECDSA), u16 length, signature
    if len(dsig) < 4 or dsig[0] != 4 or dsig[1] not in (1, 3):
        raise SCTError("SCT: the detached SCT's signature is not a SHA-256 ECDSA/RSA signature")
    (length,) = struct.unpack(">H", dsig[2:4])
    if length != len(dsig) - 4:
        raise SCTError("SCT: the detached SCT's signature has a bad length")
    log = _ctlog(trusted_root, log_id, _ms_to_time(timestamp_ms))
    der = leaf.public_bytes(serialization.Encoding.DER)
    message = _signed_struct(_X509_ENTRY, timestamp_ms, _u24(der), extensions)
    _verify_with(log, dsig[4:], message)
