"""Key-signed Sigstore bundles (v0.3) with DSSE content, as cosign v3 stores them
beside images (spec §2.10).

The key hint, the log entry when the signature was logged (``tlogEntries``: SET,
inclusion proof, checkpoint; protojson omits it when empty) and the envelope.
Readers accept any v0.3+ bundle and keep unknown fields untouched; the log entry
is checked by ``sigstack.verify`` with the tlog subsystem.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigstack.errors import VerificationError
from sigstack.keys.base import Signer
from sigstack.payload import dsse

if TYPE_CHECKING:
    from sigstack.tlog.entry import TlogEntry

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
_ACCEPTED = (BUNDLE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3")


def key_hint(signer: Signer) -> str:
    from cryptography.hazmat.primitives import serialization

    der = signer.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def make(signer: Signer, envelope: dsse.Envelope, entry: TlogEntry | None = None) -> bytes:
    vm: dict[str, Any] = {"publicKey": {"hint": key_hint(signer)}}
    if entry is not None:
        from sigstack.bundle.models import tlog_entry_json

        vm["tlogEntries"] = [tlog_entry_json(entry)]
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": vm,
        "dsseEnvelope": envelope.to_dict(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bundle:
    media_type: str
    envelope: dsse.Envelope
    doc: dict[str, Any]

    def tlog_entry(self) -> TlogEntry | None:
        """The bundle's log entry with its evidence, parsed strictly (None if absent)."""
        from sigstack.bundle.models import BundleError, parse_tlog_entries

        try:
            return parse_tlog_entries(self.doc.get("verificationMaterial"))
        except BundleError as exc:
            raise VerificationError(exc.message) from None


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
