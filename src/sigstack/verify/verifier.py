"""The verification pipeline: one :class:`Verifier` whose numbered steps every flow runs.

Blobs, image signatures (``.sig`` layers, oci-1-1 referrers, bundles) and
attestations differ in where their signature is stored and what it is over, not in
how it is verified. Each of them is handed to one of the ``verify_*`` methods below,
which run the same steps in the order sigstore-python runs them
(``sigstore/verify/verifier.py``), so that a new kind of evidence is added in one place:

1. **Signing material**: the key the caller trusts. (Keyless verification adds the
   certificate here: chain to a trusted CA at the verified time, SCT, identity policy.)
2. **Signature**: over the artifact's digest, the stored payload, or the DSSE PAE.
3. **Content**: what the signature covers says what the caller expects (the
   ``check_content`` callback: an image signature's claims, an attestation's subject).
4. **Log evidence** (:mod:`sigstack.verify.evidence`), unless the policy is
   ``insecure_ignore_tlog``: the entry is found, its log trusted, its proofs verified
   offline, and it is bound to this signature.

Each failure raises a :class:`~sigstack.errors.VerificationError` (or a subclass)
whose message names the step; :class:`Result` says what was verified and with which
log entry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.errors import BundleError, InvalidSignatureError, UsageError, VerificationError
from sigstack.keys.base import Verifier as KeyVerifier
from sigstack.verify import evidence
from sigstack.verify.evidence import LogPolicy

if TYPE_CHECKING:
    from sigstack.bundle.models import Bundle
    from sigstack.payload.dsse import Envelope
    from sigstack.tlog.entry import TlogEntry


@dataclass(frozen=True)
class Result:
    """A signature that verified; ``entry`` is the log entry that proved it was logged
    (None when the policy skipped the log)."""

    signature: bytes
    entry: TlogEntry | None


class Verifier:
    """Verifies signatures made with ``key``, under ``log`` (see the module docstring)."""

    def __init__(self, key: KeyVerifier, log: LogPolicy) -> None:
        self.key = key
        self.log = log

    # ---- blobs -------------------------------------------------------------------------

    def verify_blob(self, *, signature: bytes | None = None, bundle: Bundle | None = None,
                    artifact: BinaryIO | None = None, digest: tuple[str, bytes] | None = None) -> Result:
        """A key-signed blob, as ``cosign verify-blob --key`` checks it. The signature comes
        from ``signature`` and/or ``bundle`` (they must agree); the artifact is a stream,
        or its ``(algorithm, digest)`` when only that is known."""
        # step 1: signing material -- the signature and what the bundle says of it
        if bundle is not None:
            from sigstack.bundle.models import MessageSignature

            if not isinstance(bundle.content, MessageSignature):
                raise BundleError("this bundle holds a DSSE envelope; verify it as an attestation")
            if signature is None:
                signature = bundle.content.signature
            elif bundle.content.signature != signature:
                raise VerificationError("the given signature differs from the signature in the bundle")
        if signature is None:
            raise UsageError("a signature or a bundle is needed")
        key = self.key

        if not key.prehash:  # pure Ed25519 signs the whole message: no digest to log
            if self.log.checked:
                raise VerificationError("Ed25519 signatures cannot carry hashedrekord log evidence",
                                        hint="insecure_ignore_tlog_alone")
            if artifact is None:
                raise VerificationError("a digest cannot be checked with an Ed25519 key (it signs whole messages)")
            key.verify(signature, artifact.read())
            return Result(signature, None)

        if artifact is not None:
            message_digest = hash_stream(artifact, key.hash_name)
        elif digest is not None:
            algorithm, message_digest = digest
            if key.hash_name != algorithm:
                raise VerificationError(
                    f"a {algorithm} digest cannot be checked with this key (it signs {key.hash_name} digests)")
        else:
            raise UsageError("an artifact or its digest is needed")
        if bundle is not None and isinstance(bundle.content, MessageSignature) \
                and bundle.content.digest is not None \
                and (bundle.content.digest != message_digest or bundle.content.digest_algorithm != key.hash_name):
            raise VerificationError("the bundle's message digest does not match the artifact")
        # step 2: the signature over the digest (step 3, content: the digest is the artifact's)
        _signature_step(lambda: key.verify_digest(signature, message_digest))
        # step 4: log evidence
        entry = None
        if self.log.checked:
            entry = evidence.blob_evidence(self.log, key, signature, message_digest, bundle)
        return Result(signature, entry)

    # ---- image signatures stored as layers -----------------------------------------------

    def verify_payload(self, signature: bytes, payload: bytes, annotations: object,
                       check_content: Callable[[], object] | None = None) -> Result:
        """A legacy (``.sig`` tag or oci-1-1 referrer) layer: ``signature`` over the stored
        ``payload`` bytes, its evidence in the layer's annotations (or in the log)."""
        _signature_step(lambda: self.key.verify(signature, payload))  # step 2 (step 1: the key, given)
        if check_content is not None:  # step 3
            check_content()
        entry = None
        if self.log.checked:  # step 4
            entry = evidence.signature_layer_evidence(self.log, self.key, signature, payload, annotations)
        return Result(signature, entry)

    # ---- DSSE envelopes ------------------------------------------------------------------

    def verify_envelope(self, envelope: Envelope, *, bundle: Bundle | None = None,
                        stored: bytes | None = None, annotations: object = None,
                        check_content: Callable[[], object] | None = None) -> Result:
        """A DSSE envelope: from a bundle (its evidence in ``tlogEntries``), or an ``.att``
        layer stored as ``stored`` bytes (evidence in its ``annotations`` or the log)."""
        from sigstack.payload import dsse

        _signature_step(lambda: dsse.verify(self.key, envelope))  # step 2 (step 1: the key, given)
        if check_content is not None:  # step 3
            check_content()
        entry = None
        if self.log.checked:  # step 4
            if bundle is not None:
                entry = evidence.envelope_bundle_evidence(self.log, self.key, bundle)
            else:
                assert stored is not None, "an .att layer's bytes are needed to match its log entry"
                entry = evidence.attestation_layer_evidence(self.log, self.key, envelope, stored, annotations or {})
        sig = envelope.signatures[0] if len(envelope.signatures) == 1 else b""
        return Result(sig, entry)


def _signature_step(check: Callable[[], object]) -> None:
    """Run the signature check; its failure becomes :class:`InvalidSignatureError` with the
    key's own message, so callers can word that one step as their peers do."""
    try:
        check()
    except InvalidSignatureError:
        raise
    except VerificationError as exc:
        raise InvalidSignatureError(exc.message) from None


def decode_signature_b64(text: str) -> bytes:
    """A base64 signature annotation's bytes (strict)."""
    import binascii

    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the signature annotation is not valid base64") from None
