"""The transparency-log part of a Sigstore TrustedRoot (``trusted_root.json``)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack.errors import TrustRootError
from sigstack.keys.base import Verifier
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog.checkpoint import log_id, public_key_der

TRUSTED_ROOT_V01 = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUSTED_ROOT_V02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json"




@dataclass(frozen=True)
class TrustedLog:
    base_url: str
    log_id: bytes
    verifier: Verifier


def _key_details(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[key.curve.name]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"
    raise TrustRootError("unsupported log key type")


def trusted_root_for_log(public_key_pem: bytes, base_url: str,
                         start: str = "2020-01-01T00:00:00Z") -> bytes:
    """A trusted root naming one Rekor v1 log (cosign ``--trusted-root`` accepts it)."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError:
        raise TrustRootError("the log public key is not a PEM public key") from None
    der = public_key_der(key)
    doc = {
        "mediaType": TRUSTED_ROOT_V01,
        "tlogs": [{
            "baseUrl": base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": _key_details(key),
                          "validFor": {"start": start}},
            "logId": {"keyId": base64.b64encode(log_id(key)).decode()},
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def parse_trusted_root(data: bytes) -> list[TrustedLog]:
    """The transparency logs a trusted root lists."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TrustRootError("invalid trusted root: not JSON") from None
    if not isinstance(doc, dict) or doc.get("mediaType") not in (TRUSTED_ROOT_V01, TRUSTED_ROOT_V02):
        raise TrustRootError("invalid trusted root: unknown mediaType")
    logs = []
    for t in doc.get("tlogs") or []:
        try:
            raw = base64.b64decode(t["publicKey"]["rawBytes"], validate=True)
            key = serialization.load_der_public_key(raw)
            want = base64.b64decode(t["logId"]["keyId"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise TrustRootError("invalid trusted root: malformed tlogs entry") from None
        logs.append(TrustedLog(str(t.get("baseUrl", "")), want, PublicKeyVerifier(key)))
    if not logs:
        raise TrustRootError("the trusted root lists no transparency logs")
    return logs
