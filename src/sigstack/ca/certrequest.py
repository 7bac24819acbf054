"""Parsing Fulcio certificate requests (API v2 JSON and the legacy v1 form).

v2 (``fulcio.proto`` ``CreateSigningCertificateRequest``, protojson names)::

    {"credentials": {"oidcIdentityToken": JWT},
     "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": PEM},
                          "proofOfPossession": b64 signature}}
    {"credentials": ..., "certificateSigningRequest": b64 of a PEM (or DER) CSR}

v1 (``fulcio_legacy.proto``; what cosign's Fulcio client sends to ``/api/v1/signingCert``)::

    {"publicKey": {"algorithm": "ecdsa", "content": b64 of PEM or DER}, "signedEmailAddress": b64}

The token may instead come as ``Authorization: Bearer``. The public key's
``algorithm`` is ignored (Fulcio infers it from the key).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.ca import errors


@dataclass(frozen=True)
class CertRequest:
    token: str
    public_key: PublicKeyTypes
    proof: bytes | None  # None: the CSR's own signature was the proof


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise errors.BadRequestError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise errors.BadRequestError(f"{what} is not valid base64") from None


def parse_public_key(data: bytes) -> PublicKeyTypes:
    """A PEM or DER SubjectPublicKeyInfo (Fulcio's ``ParsePublicKey`` accepts both)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # an unknown curve OID is the last one
        raise errors.BadRequestError(errors.INVALID_PUBLIC_KEY) from None


def _csr_key(raw: bytes) -> PublicKeyTypes:
    try:
        csr = (x509.load_pem_x509_csr(raw) if raw.lstrip().startswith(b"-----BEGIN")
               else x509.load_der_x509_csr(raw))
        key = csr.public_key()
    except (ValueError, TypeError):
        raise errors.BadRequestError(errors.INVALID_CSR) from None
    if not csr.is_signature_valid:
        raise errors.BadRequestError(f"{errors.INVALID_SIGNATURE}: the CSR's self-signature does not verify")
    return key


def bearer(headers: Any) -> str:
    auth = str(headers.get("authorization", ""))
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def parse_v2(doc: Any, headers: Any) -> CertRequest:
    if not isinstance(doc, dict):
        raise errors.BadRequestError("the request body must be a JSON object")
    creds = doc.get("credentials") or {}
    token = creds.get("oidcIdentityToken", "") if isinstance(creds, dict) else ""
    token = token if isinstance(token, str) and token else bearer(headers)
    if doc.get("certificateSigningRequest"):
        return CertRequest(token, _csr_key(_b64(doc["certificateSigningRequest"], "certificateSigningRequest")),
                           None)
    req = doc.get("publicKeyRequest")
    if not isinstance(req, dict):
        raise errors.BadRequestError("the request needs publicKeyRequest or certificateSigningRequest")
    pk = req.get("publicKey")
    content = pk.get("content") if isinstance(pk, dict) else None
    if not isinstance(content, str) or not content:
        raise errors.BadRequestError(f"{errors.INVALID_PUBLIC_KEY}: publicKey.content is missing")
    data = content.encode()
    if not content.lstrip().startswith("-----BEGIN"):
        data = _b64(content, "publicKey.content")  # DER, base64 in JSON
    return CertRequest(token, parse_public_key(data), _b64(req.get("proofOfPossession", ""), "proofOfPossession"))


def parse_v1(doc: Any, headers: Any) -> CertRequest:
    if not isinstance(doc, dict):
        raise errors.BadRequestError("the request body must be a JSON object")
    token = bearer(headers)
    if doc.get("certificateSigningRequest"):
        return CertRequest(token, _csr_key(_b64(doc["certificateSigningRequest"], "certificateSigningRequest")),
                           None)
    pk = doc.get("publicKey")
    if not isinstance(pk, dict) or not pk.get("content"):
        raise errors.BadRequestError(f"{errors.INVALID_PUBLIC_KEY}: public key not provided")
    key = parse_public_key(_b64(pk["content"], "publicKey.content"))
    return CertRequest(token, key, _b64(doc.get("signedEmailAddress", ""), "signedEmailAddress"))


@dataclass(frozen=True)
class SigningCertificate:
    """A CA's answer: the chain (leaf first) and, for a detached-SCT answer, the SCT as
    the CT log's ``AddChainResponse`` JSON (None when the SCT is embedded)."""

    chain: tuple[x509.Certificate, ...]
    detached_sct: bytes | None = None

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def parse_signing_certificate(doc: Any) -> SigningCertificate:
    """``SigningCertificate`` JSON (either oneof) from ``POST /api/v2/signingCert``."""
    if not isinstance(doc, dict):
        raise errors.CAError("the CA answered something other than a JSON object")
    body = doc.get("signedCertificateEmbeddedSct") or doc.get("signedCertificateDetachedSct")
    holder = body.get("chain") if isinstance(body, dict) else None
    chain = holder.get("certificates") if isinstance(holder, dict) else None
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        raise errors.CAError("the CA's answer holds no certificate chain")
    try:
        certs = tuple(x509.load_pem_x509_certificate(c.encode()) for c in chain)
    except (ValueError, x509.InvalidVersion):  # a version byte past v3 is not a ValueError
        raise errors.CAError("the CA's answer holds a malformed certificate") from None
    detached = None
    detached_body = doc.get("signedCertificateDetachedSct")
    if detached_body is body and isinstance(detached_body, dict):
        raw = detached_body.get("signedCertificateTimestamp")
        detached = _b64(raw, "signedCertificateTimestamp") if raw else None
    return SigningCertificate(certs, detached)
