"""Writing Sigstore trust material: TrustedRoot v0.1 and SigningConfig v0.2 JSON.

The shapes are ``protos/sigstore_trustroot.proto`` in protojson (camelCase names,
bytes as standard base64, timestamps RFC 3339). The TrustedRoot carries the legacy
media type ``application/vnd.dev.sigstore.trustedroot+json;version=0.1`` because
sigstore-python accepts no other; cosign reads it too. A transparency or CT log's
``logId.keyId`` is SHA-256 of its DER public key, the value SCTs and Rekor v1 entries
carry and that cosign compares exactly.

(The trusted-root reader and the rest of the model live in ``sigstack.bundle``; this
small writer is here so the CA can describe itself without touching that model.)
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from sigstack.errors import TrustDocError

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
SELECTORS = ("ALL", "ANY", "EXACT")




def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_details(key: PublicKeyTypes) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        details = {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                   "secp521r1": "PKIX_ECDSA_P521_SHA_512"}.get(key.curve.name)
        if details:
            return details
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072, 4096):
        return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"
    raise TrustDocError(f"unsupported log key type {type(key).__name__}")


def _valid_for(start: str, end: str | None) -> dict[str, str]:
    return {"start": start, **({"end": end} if end else {})}


@dataclass(frozen=True)
class LogSpec:
    url: str
    public_key: PublicKeyTypes
    start: str
    end: str | None = None

    def to_json(self) -> dict[str, Any]:
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return {
            "baseUrl": self.url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": key_details(self.public_key),
                          "validFor": _valid_for(self.start, self.end)},
            "logId": {"keyId": base64.b64encode(hashlib.sha256(der).digest()).decode()},
        }


@dataclass(frozen=True)
class AuthoritySpec:
    url: str
    chain: Sequence[x509.Certificate]  # issuing certificate first, root last
    start: str | None = None
    end: str | None = None

    def to_json(self) -> dict[str, Any]:
        if not self.chain:
            raise TrustDocError(f"the certificate chain for {self.url} is empty")
        first = self.chain[0]

        def attr(oid: x509.ObjectIdentifier) -> str:
            found = first.subject.get_attributes_for_oid(oid)
            return str(found[0].value) if found else ""

        start = self.start or rfc3339(min(c.not_valid_before_utc for c in self.chain))
        return {
            "subject": {"organization": attr(NameOID.ORGANIZATION_NAME), "commonName": attr(NameOID.COMMON_NAME)},
            "uri": self.url,
            "certChain": {"certificates": [
                {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
                for c in self.chain]},
            "validFor": _valid_for(start, self.end),
        }


def trusted_root(cas: Sequence[AuthoritySpec] = (), tlogs: Sequence[LogSpec] = (),
                 ctlogs: Sequence[LogSpec] = (), tsas: Sequence[AuthoritySpec] = ()) -> dict[str, Any]:
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [t.to_json() for t in tlogs],
        "certificateAuthorities": [c.to_json() for c in cas],
        "ctlogs": [c.to_json() for c in ctlogs],
        "timestampAuthorities": [t.to_json() for t in tsas],
    }


@dataclass(frozen=True)
class ServiceSpec:
    url: str
    api_version: int
    start: str
    operator: str
    end: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "majorApiVersion": self.api_version,
                "validFor": _valid_for(self.start, self.end), "operator": self.operator}


def selector(text: str) -> dict[str, Any]:
    """``ANY``, ``ALL`` or ``EXACT:<count>`` (cosign's ``--rekor-config`` / ``--tsa-config``)."""
    name, _, count = text.partition(":")
    name = name.upper()
    if name not in SELECTORS:
        raise TrustDocError(f"service selector must be ANY, ALL or EXACT:<count>, not {text!r}")
    if name == "EXACT":
        if not (count.isascii() and count.isdigit()) or len(count) > 9 or int(count) < 1:
            raise TrustDocError("EXACT needs a positive count, as in EXACT:1")
        return {"selector": "EXACT", "count": int(count)}
    if count:
        raise TrustDocError(f"only EXACT takes a count, not {name}")
    return {"selector": name}


def signing_config(cas: Sequence[ServiceSpec] = (), oidcs: Sequence[ServiceSpec] = (),
                   rekors: Sequence[ServiceSpec] = (), tsas: Sequence[ServiceSpec] = (),
                   rekor_config: str | None = None, tsa_config: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [s.to_json() for s in cas],
        "oidcUrls": [s.to_json() for s in oidcs],
        "rekorTlogUrls": [s.to_json() for s in rekors],
        "tsaUrls": [s.to_json() for s in tsas],
    }
    if rekors:
        doc["rekorTlogConfig"] = selector(rekor_config or "ANY")
    if tsas:
        doc["tsaConfig"] = selector(tsa_config or "ANY")
    return doc


def client_trust_config(root: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """sigstore-python's ``--trust-config`` document."""
    return {"mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE, "trustedRoot": root, "signingConfig": config}


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode() + b"\n"
