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


def sign_blob_loading_key(load: Callable[[], Signer], artifact: BinaryIO) -> bytes:
    """Sign a seekable file, hashing it while ``load`` obtains the signer.

    Loading a cosign key runs scrypt (about 0.15 s and 64 MiB), and a KMS or token
    signer needs a round trip; both overlap with hashing on a second core. The hash is
    guessed to be SHA-256 (what P-256 and RSA keys, cosign's defaults, use); when the
    key needs another hash (P-384, P-521) or the whole message (Ed25519) the file is
    read again. A non-seekable stream (stdin) is signed sequentially.
    """
    if not artifact.seekable():
        return sign_blob(load(), artifact)
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
            return signer.sign_digest(future.result())
        cancel.set()
        with contextlib.suppress(Exception):  # cancelled speculative work is discarded
            future.result()
    artifact.seek(start)
    return sign_blob(signer, artifact)
