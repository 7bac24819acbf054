"""Key pairs in cosign's on-disk format: generate, import, write.

``generate-key-pair`` always makes ECDSA P-256 (cosign has no algorithm flag);
``import-key-pair`` re-encrypts an existing RSA/ECDSA/Ed25519 key. Files are
written atomically: ``.key`` with mode 0600 and ``.pub`` with 0644.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sigstack._internal.fs import atomic_write_files
from sigstack.keys.encrypted import encrypt_private_key
from sigstack.keys.pem import load_import_private_key, public_key_to_pem


@dataclass(frozen=True)
class KeyPair:
    """An encrypted private key PEM and its public key PEM."""

    private_pem: bytes
    public_pem: bytes

    @classmethod
    def from_private_key(cls, key: PrivateKeyTypes, password: bytes) -> KeyPair:
        return cls(encrypt_private_key(key, password), public_key_to_pem(key.public_key()))


def generate_key_pair(password: bytes) -> KeyPair:
    """A fresh ECDSA P-256 key pair, encrypted with ``password`` (may be empty)."""
    return KeyPair.from_private_key(ec.generate_private_key(ec.SECP256R1()), password)


def import_key_pair(pem: bytes, password: bytes) -> KeyPair:
    """Re-encrypt an unencrypted PEM private key in cosign's format."""
    return KeyPair.from_private_key(load_import_private_key(pem), password)


def key_pair_paths(prefix: str) -> tuple[Path, Path]:
    return Path(f"{prefix}.key"), Path(f"{prefix}.pub")


def write_key_pair(pair: KeyPair, prefix: str) -> tuple[Path, Path]:
    """Write ``prefix.key`` (0600) and ``prefix.pub`` (0644); both or neither."""
    key_path, pub_path = key_pair_paths(prefix)
    atomic_write_files([(key_path, pair.private_pem, 0o600), (pub_path, pair.public_pem, 0o644)])
    return key_path, pub_path
