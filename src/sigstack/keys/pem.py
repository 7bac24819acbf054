"""PEM parsing and the key checks cosign applies (sigstore ``cryptoutils`` / goodkey).

Wording of errors follows cosign so that users searching for a message find the
same answers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sigstack.errors import KeyLoadError, UnsupportedKeyError

if TYPE_CHECKING:  # the PEM text helpers need no cryptography; the loaders import it
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

#: the first block is what ``-----BEGIN (L)-----\r?\n(.*?)-----END \1-----`` would find,
#: but that one regex backtracks: for each BEGIN line without its END it scans to the end
#: of the input, so a key file of 16,000 BEGIN lines (430 kB, under the 1 MiB file
#: bound) took 35 s (found by the fuzzer, docs/reliability.md). Finding the BEGIN lines
#: and the END lines in one linear pass each, then pairing them, is the same match in
#: O(n log n).
_BEGIN_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n")
#: the closing dashes are a lookahead, so END lines that share them
#: (``-----END A-----END A-----``) are all seen; at a given position the label is
#: unique (it cannot contain ``-``)
_END_RE = re.compile(rb"-----END ([A-Z0-9 ]+)(?=-----)")
_RSA_SIZES = (2048, 3072, 4096)
_EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def _first_block(data: bytes) -> tuple[bytes, bytes] | None:
    """(label, body) of the first PEM block: the first BEGIN line that has an END line
    of its label after it, and the text up to the earliest such END line."""
    import bisect

    ends: dict[bytes, list[int]] | None = None
    for begin in _BEGIN_RE.finditer(data):
        if ends is None:
            ends = {}
            for end in _END_RE.finditer(data, begin.end()):
                ends.setdefault(end.group(1), []).append(end.start())
        label = begin.group(1)
        found = ends.get(label, [])
        i = bisect.bisect_left(found, begin.end())
        if i < len(found):
            return label, data[begin.end():found[i]]
    return None


def pem_type(data: bytes) -> str | None:
    """The label of the first PEM block in ``data``, or None if there is none."""
    block = _first_block(data)
    return block[0].decode() if block else None


def pem_body(data: bytes, label: str) -> bytes:
    """The base64-decoded body of the first PEM block, which must carry ``label``."""
    import base64
    import binascii

    block = _first_block(data)
    if block is None:
        raise KeyLoadError("PEM decoding failed: no PEM block found")
    if block[0].decode() != label:
        raise KeyLoadError(f"unsupported pem type: {block[0].decode()}")
    body = b"".join(
        line for line in block[1].splitlines() if line and b":" not in line
    )
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyLoadError("PEM decoding failed: the body is not valid base64") from None


def encode_pem(label: str, der: bytes) -> bytes:
    """PEM with 64-column base64 lines, as Go's ``encoding/pem`` writes it."""
    import base64

    b64 = base64.b64encode(der)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        f"-----BEGIN {label}-----\n".encode()
        + b"".join(line + b"\n" for line in lines)
        + f"-----END {label}-----\n".encode()
    )


def load_public_key_pem(data: bytes) -> PublicKeyTypes:
    """Parse a ``PUBLIC KEY`` (PKIX) or ``RSA PUBLIC KEY`` (PKCS#1) PEM."""
    label = pem_type(data)
    if label is None:
        raise KeyLoadError("PEM decoding failed: no PEM block found; is this a public key?")
    if label not in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        raise KeyLoadError(
            f"unknown Public key PEM file type: {label}. Are you passing the correct public key?"
        )
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyLoadError(f"parsing public key: {_first_line(exc)}") from None
    except UnsupportedAlgorithm as exc:  # an unknown curve OID (found by tests/fuzz)
        raise UnsupportedKeyError(f"unsupported public key: {_first_line(exc)}") from None


def public_key_to_pem(key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def validate_key_strength(key: PublicKeyTypes) -> None:
    """Reject keys cosign's goodkey check rejects (RSA sizes, ECDSA curves)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in _RSA_SIZES:
            raise UnsupportedKeyError(
                f"unsupported RSA key size {key.key_size}: must be one of 2048, 3072 or 4096 bits"
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_CURVES:
            raise UnsupportedKeyError(
                f"unsupported ECDSA curve {key.curve.name}: must be P-256, P-384 or P-521"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise UnsupportedKeyError(f"unsupported key type {type(key).__name__}")


_IMPORT_LABELS = ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY")


def load_import_private_key(data: bytes) -> PrivateKeyTypes:
    """Parse an unencrypted private key for ``import-key-pair`` and check its strength."""
    label = pem_type(data)
    if label is None:
        raise KeyLoadError("invalid pem block: the file holds no PEM-encoded key")
    if label not in _IMPORT_LABELS:
        raise UnsupportedKeyError(
            f"unsupported private key type {label!r}: expected an unencrypted "
            "RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY PEM"
        )
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        msg = _first_line(exc)
        if "curve" in msg.lower():
            raise UnsupportedKeyError(f"unsupported ECDSA curve: {msg}") from None
        raise KeyLoadError(f"error parsing private key: {msg}") from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for odd curves
        raise UnsupportedKeyError(f"unsupported private key: {_first_line(exc)}") from None
    validate_key_strength(key.public_key())
    return key


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
