"""Key-signed blobs, as ``cosign sign-blob --key`` produces them.

The artifact is hashed once, streaming, with the key's hash; the signer signs the
digest. Memory stays flat however large the file is (1 GiB is benchmarked).
Pure Ed25519 signs the message itself, so only that key type reads it whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from sigstack._internal.digest import hash_stream

if TYPE_CHECKING:  # importing keys pulls in cryptography; hashing starts before that
    from sigstack.bundle.models import Bundle
    from sigstack.keys.base import Signer
    from sigstack.tlog.client import RekorClient
    from sigstack.tlog.entry import TlogEntry

SPECULATIVE_HASH = "sha256"

#: signature bytes -> RFC 3161 timestamps (DER ``TimeStampResp``) over them, one per TSA
#: asked (:func:`sigstack.tsa.client.timestamper`); what the signing flows call when a
#: timestamp authority is configured
Timestamper = Callable[[bytes], Sequence[bytes]]


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

    ``load`` may do the expensive imports too (the CLI's does), so that they overlap
    with hashing as well.

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
    outcome: list[bytes | BaseException] = []

    def work() -> None:
        try:
            outcome.append(hash_stream(artifact, SPECULATIVE_HASH, cancel))
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    # A bare thread, not concurrent.futures: that import alone costs more start-up time
    # than this function saves on small files.
    worker = threading.Thread(target=work, name="sigstack-hash", daemon=True)
    worker.start()
    try:
        signer = load()
    except BaseException:
        cancel.set()
        worker.join()
        raise
    if signer.prehash and signer.hash_name == SPECULATIVE_HASH:
        worker.join()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return SignedBlob(signer.sign_digest(result), signer, result)
    cancel.set()  # the guess was wrong: discard the speculative work
    worker.join()
    artifact.seek(start)
    return _sign_loaded(signer, artifact)


def _sign_loaded(signer: Signer, artifact: BinaryIO) -> SignedBlob:
    if not signer.prehash:
        return SignedBlob(signer.sign(artifact.read()), signer, None)
    digest = hash_stream(artifact, signer.hash_name)
    return SignedBlob(signer.sign_digest(digest), signer, digest)


@dataclass(frozen=True)
class LoggedBlob:
    """What ``sign-blob`` produced: the signature, the log entry when it was logged, and
    the Sigstore bundle when one was asked for."""

    signature: bytes
    signer: Signer
    entry: TlogEntry | None
    bundle: Bundle | None
    timestamps: tuple[bytes, ...] = ()


def sign_blob_to_log(load: Callable[[], Signer], artifact: BinaryIO, *, log: RekorClient | None = None,
                     bundle: bool = False, timestamper: Timestamper | None = None) -> LoggedBlob:
    """``cosign sign-blob --key``: sign (hashing while the key loads, see
    :func:`sign_blob_loading_key`), have the signature timestamped by ``timestamper``
    when given (RFC 3161, over the signature bytes), log it as a hashedrekord entry with
    ``log`` when given, and build a v0.3 bundle (with the entry and the timestamps, or
    without) when ``bundle``."""
    signed = sign_blob_loading_key(load, artifact)
    timestamps = tuple(timestamper(signed.signature)) if timestamper is not None else ()
    if log is None and not bundle:
        return LoggedBlob(signed.signature, signed.signer, None, None, timestamps)
    if signed.digest is None:
        from sigstack.errors import UsageError

        raise UsageError("Ed25519 keys cannot be logged as hashedrekord entries (they need Ed25519ph)",
                         hint="no_tlog_upload_or_bundle")
    signer, digest = signed.signer, signed.digest
    entry = None
    if log is not None:
        from sigstack.tlog.client import hashedrekord

        entry = log.upload(hashedrekord(signed.signature, digest, signer.hash_name, signer.verifier_pem()))
    made = None
    if bundle:
        from sigstack.bundle.models import Bundle
        from sigstack.tlog.checkpoint import public_key_der

        made = Bundle.for_message(signed.signature, digest, signer.hash_name, public_key_der(signer.public_key()),
                                  entry, signer.certificate, timestamps)
    return LoggedBlob(signed.signature, signer, entry, made, timestamps)
