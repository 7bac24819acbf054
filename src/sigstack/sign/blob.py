"""Key-signed blobs, as ``cosign sign-blob --key`` produces them.

The artifact is hashed once, streaming, with the key's hash; the signer signs the
digest. Memory stays flat however large the file is (1 GiB is benchmarked).
Pure Ed25519 signs the message itself, so only that key type reads it whole.
"""

from __future__ import annotations

from typing import BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.keys.base import Signer


def sign_blob(signer: Signer, artifact: BinaryIO | bytes) -> bytes:
    """The raw signature over ``artifact`` (a binary stream or bytes)."""
    if isinstance(artifact, bytes | bytearray | memoryview):
        return signer.sign(bytes(artifact))
    if not signer.prehash:
        return signer.sign(artifact.read())
    return signer.sign_digest(hash_stream(artifact, signer.hash_name))
