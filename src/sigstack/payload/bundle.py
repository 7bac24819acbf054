"""Key-signed Sigstore bundles (v0.3) with DSSE content, as cosign v3 stores them
beside images (spec §2.10).

Only the fields a key-signed, log-free bundle has are written; protojson omits
empty fields, so ``tlogEntries`` is left out. Readers accept any v0.3+ bundle and
keep unknown fields untouched (log evidence is checked by the tlog subsystem when
it is present; this module only reads the envelope and key hint).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from sigstack.errors import VerificationError
from sigstack.keys.base import Signer
from sigstack.payload import dsse

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
_ACCEPTED = (BUNDLE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3")


def key_hint(signer: Signer) -> str:
    der = signer.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def make(signer: Signer, envelope: dsse.Envelope) -> bytes:
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint(signer)}},
        "dsseEnvelope": envelope.to_dict(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bundle:
    media_type: str
    envelope: dsse.Envelope
    doc: dict[str, Any]


def parse(data: bytes) -> Bundle:
    try:
        doc = json.loads(data)
        media = doc["mediaType"]
    except (ValueError, KeyError, TypeError):
        raise VerificationError("not a Sigstore bundle") from None
    if media not in _ACCEPTED and not str(media).startswith("application/vnd.dev.sigstore.bundle.v0.4"):
        raise VerificationError(f"unsupported bundle media type {media}")
    env = doc.get("dsseEnvelope")
    if not isinstance(env, dict):
        raise VerificationError("the bundle holds no DSSE envelope")
    return Bundle(str(media), dsse.parse(env), doc)
