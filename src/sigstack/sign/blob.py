"""Key-signed blobs, as ``cosign sign-blob --key`` produces them.

The artifact is hashed once, streaming, with the key's hash; the signer signs the
digest. Memory stays flat however large the file is (1 GiB is benchmarked).
Pure Ed25519 signs the message itself, so only that key type reads it whole.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.keys.base import Signer

SPECULATIVE_HASH = "sha256"


def sign_blob(signer: Signer, artifact: BinaryIO | bytes) -> bytes:
    """The raw signature over ``artifact`` (a binary stream or bytes)."""
    if isinstance(artifact, bytes | bytearray | memoryview):
        return signer.sign(bytes(artifact))
    if not signer.prehash:
        return signer.sign(artifact.read())
    return signer.sign_digest(hash_stream(artifact, signer.hash_name))


@dataclass(frozen=True)
class SignedBlob:
    """A blob signature and what a transparency log upload or bundle needs with it."""

    signature: bytes
    signer: Signer
    #: the ``signer.hash_name`` digest that was signed; None when the key signed the
    #: whole message (pure Ed25519), which a hashedrekord entry cannot describe
    digest: bytes | None


def sign_blob_loading_key(load: Callable[[], Signer], artifact: BinaryIO) -> SignedBlob:
    """Sign a file, hashing it while ``load`` obtains the signer.

    Loading a cosign key runs scrypt (about 0.15 s and 64 MiB), and a KMS or token
    signer needs a round trip; both overlap with hashing on a second core. The hash is
    guessed to be SHA-256 (what P-256 and RSA keys, cosign's defaults, use); when the
    key needs another hash (P-384, P-521) or the whole message (Ed25519) the file is
    read again. A non-seekable stream (stdin) is hashed after the key is loaded.
    """
    if not artifact.seekable():
        return _sign_loaded(load(), artifact)
    start = artifact.tell()
    cancel = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigstack-hash") as pool:
        future = pool.submit(hash_stream, artifact, SPECULATIVE_HASH, cancel)
        try:
            signer = load()
        except BaseException:
            cancel.set()
            raise
        if signer.prehash and signer.hash_name == SPECULATIVE_HASH:
            digest = future.result()
            return SignedBlob(signer.sign_digest(digest), signer, digest)
        cancel.set()
        with contextlib.suppress(Exception):  # cancelled speculative work is discarded
            future.result()
    artifact.seek(start)
    return _sign_loaded(signer, artifact)


def _sign_loaded(signer: Signer, artifact: BinaryIO) -> SignedBlob:
    if not signer.prehash:
        return SignedBlob(signer.sign(artifact.read()), signer, None)
    digest = hash_stream(artifact, signer.hash_name)
    return SignedBlob(signer.sign_digest(digest), signer, digest)
