"""Verify key-signed blobs, as ``cosign verify-blob --key`` does."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.errors import SignatureError
from sigstack.keys.base import Verifier

if TYPE_CHECKING:
    from sigstack.bundle.models import Bundle
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.keyless import Keyless

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


def verify_blob_evidence(
    verifier: Verifier | Keyless,
    *,
    log: LogPolicy,
    signature: bytes | None = None,
    bundle: Bundle | None = None,
    artifact: BinaryIO | None = None,
    digest: tuple[str, bytes] | None = None,
) -> None:
    """Verify a blob as ``cosign verify-blob`` does (``--key``, or keyless: ``verifier`` is
    then the trusted root and identity policy): the signing material, the signature, the
    bundle's consistency with it, then the log evidence offline (the bundle's entry, or
    one looked up with ``log.client``). See :class:`sigstack.verify.verifier.Verifier`."""
    from sigstack.verify.verifier import Verifier as Pipeline

    Pipeline(verifier, log).verify_blob(signature=signature, bundle=bundle, artifact=artifact, digest=digest)
