"""sign_blob_loading_key: hashing overlapped with key loading, and its fallbacks."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack.errors import PasswordError
from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier
from sigstack.sign import sign_blob_loading_key
from sigstack.verify import verify_blob

DATA = os.urandom(3 * (1 << 20) + 5)  # several read chunks


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    (tmp_path / "b").write_bytes(DATA)
    return tmp_path / "b"


@pytest.mark.parametrize(
    ("make", "digest_name"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "sha256"),  # the speculative hash is right
        (lambda: rsa.generate_private_key(65537, 2048), "sha256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "sha384"),  # re-read with SHA-384
        (lambda: ec.generate_private_key(ec.SECP521R1()), "sha512"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), None),  # the whole message is signed
    ],
)
def test_every_key_type_signs_the_right_digest(blob: Path, make: object, digest_name: str | None) -> None:
    key = make()  # type: ignore[operator]
    with blob.open("rb") as f:
        signed = sign_blob_loading_key(lambda: PrivateKeySigner(key), f)
    if digest_name is None:
        assert signed.digest is None
    else:
        assert signed.digest == hashlib.new(digest_name, DATA).digest()
    verify_blob(PublicKeyVerifier(key.public_key()), signed.signature, DATA)


def test_non_seekable_stream(blob: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._inner = io.BytesIO(DATA)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            return self._inner.readinto(b)

    signed = sign_blob_loading_key(lambda: PrivateKeySigner(key), Pipe())  # type: ignore[arg-type]
    assert signed.digest == hashlib.sha384(DATA).digest()


def test_key_failure_stops_hashing_and_propagates(blob: Path) -> None:
    def fail() -> PrivateKeySigner:
        raise PasswordError("decrypt: encrypted: decryption failed")

    with blob.open("rb") as f, pytest.raises(PasswordError):
        sign_blob_loading_key(fail, f)
