"""Signed checkpoints (C2SP signed-note / tlog-checkpoint) and Signed Entry Timestamps,
byte-for-byte as Rekor v1 produces them.

Checkpoint note text::

    <origin>\\n<tree size>\\n<b64 root hash>\\n[extension lines\\n]
    \\n
    — <key name> <b64(4-byte key hash || signature)>\\n

Rekor v1 names the key with the bare hostname, uses ``<hostname> - <tree ID>`` as the
origin and takes the key hash as the first four bytes of SHA-256 over the DER public
key (= the first four bytes of the log ID), whatever the key type; the signature is
the log key's ordinary message signature over the note text (ECDSA: DER over
SHA-256; Ed25519: over the text itself). sigstore-python matches signature lines by
that 4-byte prefix of the log ID, so we follow it exactly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.errors import ProofError, VerificationError
from sigstack.keys.base import Signer, Verifier

MAX_NOTE_BYTES = 1 << 16
_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
MAX_SIGNATURES = 100


def public_key_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def log_id(key: PublicKeyTypes) -> bytes:
    """Rekor v1 log ID: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key_der(key)).digest()


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) for the values the log canonicalises.

    Those hold only strings, integers, booleans, lists and objects, for which
    sorted keys + no whitespace + raw UTF-8 is exactly JCS (keys here are ASCII, so
    code-point order equals JCS's UTF-16 order). The ``rfc8785`` package does the
    same in pure Python, several times slower on the upload path.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse_text(cls, text: bytes) -> Checkpoint:
        try:
            lines = text.decode().split("\n")
        except UnicodeDecodeError:
            raise ProofError("checkpoint is not UTF-8 text") from None
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise ProofError("malformed checkpoint: want origin, size and root hash lines")
        origin, size_s, root_s, *ext = lines[:-1]
        # ASCII digits only, no leading zero, at most 20 (str.isdigit takes "²", and int()
        # refuses more than 4300 digits with a ValueError: both were tracebacks)
        if not _TREE_SIZE.fullmatch(size_s):
            raise ProofError(f"malformed checkpoint: bad tree size {size_s[:30]!r}")
        try:
            root = base64.b64decode(root_s, validate=True)
        except (binascii.Error, ValueError):
            raise ProofError("malformed checkpoint: root hash is not base64") from None
        if len(root) != 32:
            raise ProofError("malformed checkpoint: root hash is not 32 bytes")
        if base64.b64encode(root).decode() != root_s:  # non-zero padding bits: another text, same hash
            raise ProofError("malformed checkpoint: root hash is not canonical base64")
        return cls(origin, int(size_s), root, tuple(ext))


@dataclass(frozen=True)
class SignedNote:
    text: bytes
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, 4-byte key hash, signature)

    @classmethod
    def parse(cls, note: str | bytes) -> SignedNote:
        raw = note.encode() if isinstance(note, str) else note
        if len(raw) > MAX_NOTE_BYTES:
            raise ProofError("signed note is too large")
        cut = raw.rfind(b"\n\n")
        if cut < 0:
            raise ProofError("malformed signed note: no blank line before the signatures")
        text, sig_block = raw[: cut + 1], raw[cut + 2 :]
        if not sig_block.endswith(b"\n"):
            raise ProofError("malformed signed note: signature block must end with a newline")
        sigs = []
        for line in sig_block[:-1].split(b"\n"):
            try:
                dash, name, b64 = line.decode().split(" ")
                blob = base64.b64decode(b64, validate=True)
            except (UnicodeDecodeError, ValueError, binascii.Error):
                raise ProofError("malformed signed note: bad signature line") from None
            if dash != "\u2014" or len(blob) < 5 or not name:
                raise ProofError("malformed signed note: bad signature line")
            sigs.append((name, blob[:4], blob[4:]))
        if not sigs or len(sigs) > MAX_SIGNATURES:
            raise ProofError("malformed signed note: wrong number of signatures")
        return cls(text, tuple(sigs))


class LogSigner:
    """The log's key: signs checkpoints and SETs."""

    def __init__(self, signer: Signer, name: str) -> None:
        self.signer = signer
        self.name = name
        self.public_key = signer.public_key()
        self.log_id = log_id(self.public_key)
        self.key_hash = self.log_id[:4]

    def sign_checkpoint(self, cp: Checkpoint) -> str:
        text = cp.text()
        sig = self.signer.sign(text)
        line = f"\u2014 {self.name} {base64.b64encode(self.key_hash + sig).decode()}\n"
        return text.decode() + "\n" + line

    def sign_set(self, body_b64: str, integrated_time: int, log_index: int) -> bytes:
        return self.signer.sign(set_payload(body_b64, integrated_time, self.log_id.hex(), log_index))


def verify_checkpoint(note: str | bytes, verifier: Verifier) -> Checkpoint:
    """Parse a signed checkpoint and check the signature made by ``verifier``'s key."""
    parsed = SignedNote.parse(note)
    want = log_id(verifier.public_key())[:4]
    found = False
    for _name, key_hash, sig in parsed.signatures:
        if key_hash != want:
            continue
        found = True
        try:
            verifier.verify(sig, parsed.text)
        except VerificationError:
            raise ProofError("checkpoint signature does not verify with the log's public key") from None
        break
    if not found:
        raise ProofError("checkpoint carries no signature by the log's public key")
    return Checkpoint.parse_text(parsed.text)


def set_payload(body_b64: str, integrated_time: int, log_id_hex: str, log_index: int) -> bytes:
    """The bytes a Rekor v1 Signed Entry Timestamp signs."""
    return canonical_json(
        {"body": body_b64, "integratedTime": integrated_time, "logID": log_id_hex, "logIndex": log_index}
    )


def verify_set(
    signature: bytes, body_b64: str, integrated_time: int, log_index: int, verifier: Verifier
) -> None:
    payload = set_payload(body_b64, integrated_time, log_id(verifier.public_key()).hex(), log_index)
    try:
        verifier.verify(signature, payload)
    except VerificationError:
        raise ProofError("signed entry timestamp does not verify with the log's public key") from None
