"""RFC 6962 signed certificate timestamps: the signed structure, the wire forms.

Written by hand because ``cryptography`` can read an SCT from a certificate but can
neither build one nor encode an SCT list; the structures are small and fixed
(RFC 6962 §3.2–3.4). A log signs ``digitally-signed struct { version, signature_type
(0), timestamp, entry_type, signed_entry, extensions }``; the same bytes with
``signature_type`` read as ``leaf_type`` are the MerkleTreeLeaf the log stores, which
is why :func:`timestamped_entry` serves both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from sigstack.ca.errors import CTError

X509_ENTRY = 0
PRECERT_ENTRY = 1
HASH_SHA256 = 4
SIG_ECDSA = 3
SIG_RSA = 1
SIG_ED25519 = 7


def u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def u16(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def signed_entry(entry_type: int, cert_or_tbs: bytes, issuer_key_hash: bytes = b"") -> bytes:
    """The ``signed_entry`` part: an ASN.1Cert, or issuer key hash + TBS for a precert."""
    if entry_type == PRECERT_ENTRY:
        return issuer_key_hash + u24(cert_or_tbs)
    return u24(cert_or_tbs)


def timestamped_entry(timestamp_ms: int, entry_type: int, entry: bytes, extensions: bytes = b"") -> bytes:
    """``version(0) ‖ 0 ‖ timestamp ‖ entry_type ‖ signed_entry ‖ extensions``: the SCT's
    signed input and (with leaf_type 0 in the same byte) the MerkleTreeLeaf."""
    return struct.pack(">BBQH", 0, 0, timestamp_ms, entry_type) + entry + u16(extensions)


def digitally_signed(signature: bytes, sig_alg: int = SIG_ECDSA) -> bytes:
    return bytes([HASH_SHA256, sig_alg]) + u16(signature)


def issuer_key_hash(spki_der: bytes) -> bytes:
    return hashlib.sha256(spki_der).digest()


@dataclass(frozen=True)
class SCT:
    log_id: bytes
    timestamp: int  # milliseconds since the epoch
    signature: bytes  # DER signature (inside a DigitallySigned)
    sig_alg: int = SIG_ECDSA
    extensions: bytes = b""

    def serialize(self) -> bytes:
        """SerializedSCT (RFC 6962 §3.3) as it goes into the certificate's SCT list."""
        return (bytes([0]) + self.log_id + struct.pack(">Q", self.timestamp) + u16(self.extensions)
                + digitally_signed(self.signature, self.sig_alg))

    def to_json(self) -> dict[str, Any]:
        """The add-chain / add-pre-chain response object."""
        return {
            "sct_version": 0,
            "id": base64.b64encode(self.log_id).decode(),
            "timestamp": self.timestamp,
            "extensions": base64.b64encode(self.extensions).decode(),
            "signature": base64.b64encode(digitally_signed(self.signature, self.sig_alg)).decode(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> SCT:
        try:
            if doc["sct_version"] != 0:
                raise CTError("the CT log answered an SCT of an unknown version")
            log_id = base64.b64decode(doc["id"], validate=True)
            ext = base64.b64decode(doc.get("extensions") or "", validate=True)
            ds = base64.b64decode(doc["signature"], validate=True)
            timestamp = int(doc["timestamp"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise CTError("the CT log answered a malformed SCT") from None
        if len(log_id) != 32 or len(ds) < 4 or ds[0] != HASH_SHA256 or int.from_bytes(ds[2:4], "big") != len(ds) - 4:
            raise CTError("the CT log answered a malformed SCT")
        return cls(log_id, timestamp, ds[4:], ds[1], ext)


def sct_list_extension_value(scts: list[SCT]) -> bytes:
    """The extnValue of 1.3.6.1.4.1.11129.2.4.2: an OCTET STRING holding the TLS list."""
    from sigstack._internal.der import octet_string

    return octet_string(u16(b"".join(u16(s.serialize()) for s in scts)))
