"""Verify key-signed blobs, as ``cosign verify-blob --key`` does."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.errors import SignatureError, SigstackError, VerificationError
from sigstack.keys.base import Verifier

if TYPE_CHECKING:
    from sigstack.bundle.models import BlobBundle

MAX_SIGNATURE_BYTES = 64 * 1024  # RSA-4096 base64 is ~700 bytes; anything huge is not a signature


def decode_signature(text: bytes) -> bytes:
    """Decode a base64 signature (cosign's ``sign-blob`` output), whitespace ignored."""
    if len(text) > MAX_SIGNATURE_BYTES:
        raise SignatureError("the signature is too large to be a signature")
    compact = b"".join(text.split())
    if not compact:
        raise SignatureError("the signature is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature is not valid base64") from None


def verify_blob(verifier: Verifier, signature: bytes, artifact: BinaryIO | bytes) -> None:
    """Raise :class:`~sigstack.errors.VerificationError` unless ``signature`` is valid."""
    if isinstance(artifact, bytes | bytearray | memoryview):
        verifier.verify(signature, bytes(artifact))
    elif not verifier.prehash:
        verifier.verify(signature, artifact.read())
    else:
        verifier.verify_digest(signature, hash_stream(artifact, verifier.hash_name))


@dataclass(frozen=True)
class LogPolicy:
    """How :func:`verify_blob_evidence` treats the transparency log.

    ``trusted_logs`` are the log keys evidence must be signed by; ``None`` means the log
    is not checked at all, which is insecure and only ever an explicit caller choice
    (``--insecure-ignore-tlog``). ``rekor_url`` is where an entry is looked up when the
    caller has no bundle carrying one.
    """

    trusted_logs: Sequence[Verifier] | None
    rekor_url: str | None = None
    timeout: float = 30.0  # seconds per request to the log (the CLI's -t/--timeout)


def verify_blob_evidence(
    verifier: Verifier,
    *,
    log: LogPolicy,
    signature: bytes | None = None,
    bundle: BlobBundle | None = None,
    artifact: BinaryIO | None = None,
    digest: tuple[str, bytes] | None = None,
) -> None:
    """Verify a key-signed blob as ``cosign verify-blob --key`` does.

    The signature comes from ``signature`` and/or ``bundle`` (they must agree); the
    artifact is a stream, or its ``(algorithm, digest)`` when only that is known. Then
    the log evidence is checked offline: the bundle's entry, or one looked up at
    ``log.rekor_url``. Raises :class:`~sigstack.errors.VerificationError` (or another
    :class:`~sigstack.errors.SigstackError`) saying what failed.
    """
    if signature is None:
        if bundle is None:
            raise SigstackError("give --signature or --bundle")
        signature = bundle.signature
    if bundle is not None and bundle.signature != signature:
        raise VerificationError("the --signature differs from the signature in the bundle")

    if not verifier.prehash:
        if log.trusted_logs is not None:
            raise VerificationError("Ed25519 signatures cannot carry hashedrekord log evidence; "
                                    "pass --insecure-ignore-tlog to check the signature alone")
        if artifact is None:
            raise VerificationError("a digest cannot be checked with an Ed25519 key (it signs whole messages)")
        verifier.verify(signature, artifact.read())
        return

    if artifact is not None:
        message_digest = hash_stream(artifact, verifier.hash_name)
    elif digest is not None:
        algorithm, message_digest = digest
        if verifier.hash_name != algorithm:
            raise VerificationError(
                f"a {algorithm} digest cannot be checked with this key (it signs {verifier.hash_name} digests)"
            )
    else:
        raise SigstackError("an artifact or its digest is needed")
    if bundle is not None and bundle.digest is not None and (
        bundle.digest != message_digest or bundle.digest_algorithm != verifier.hash_name
    ):
        raise VerificationError("the bundle's message digest does not match the artifact")
    verifier.verify_digest(signature, message_digest)
    if log.trusted_logs is not None:
        _verify_log_evidence(verifier, log, bundle, signature, message_digest)


def _verify_log_evidence(verifier: Verifier, log: LogPolicy, bundle: BlobBundle | None,
                         signature: bytes, digest: bytes) -> None:
    """The bundle's log entry, else the one the log holds, checked offline."""
    from sigstack.tlog.evidence import verify_hashedrekord_evidence

    assert log.trusted_logs is not None
    if bundle is not None:
        if bundle.tlog_entry is None:
            raise SigstackError("the bundle has no transparency log entry "
                                "(pass --insecure-ignore-tlog to skip the log check)")
        entry, set_only = bundle.tlog_entry, bundle.legacy
    else:
        from sigstack.tlog.client import RekorClient, hashedrekord

        if log.rekor_url is None:
            raise SigstackError("no bundle and no log to look the signature up in")
        proposal = hashedrekord(signature, digest, verifier.hash_name, verifier.public_key_pem())
        found = RekorClient(log.rekor_url, log.timeout).retrieve(proposal)
        if found is None:
            raise SigstackError("signature not found in transparency log")
        entry, set_only = found, False
    verify_hashedrekord_evidence(entry, log.trusted_logs, signature, digest, verifier.hash_name,
                                 verifier.public_key(), set_only=set_only)
