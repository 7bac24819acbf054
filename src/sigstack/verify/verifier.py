"""The verification pipeline: one :class:`Verifier` whose numbered steps every flow runs.

Blobs, image signatures (``.sig`` layers, oci-1-1 referrers, bundles) and
attestations differ in where their signature is stored and what it is over, not in
how it is verified. Each of them is handed to one of the ``verify_*`` methods below,
which run the same steps in the order sigstore-python runs them
(``sigstore/verify/verifier.py``), so that a new kind of evidence is added in one place:

1. **Signing material**: the key the caller trusts, or (keyless,
   :class:`~sigstack.verify.keyless.Keyless`: a trusted root and an identity policy) the
   signature's certificate, trusted by :func:`sigstack.verify.keyless.establish`:
   verified times, chain to a CA of the root at each, SCT, identity policy. A key
   never verifies a bundle that carries a certificate (cosign refuses it too: the
   certificate's validity, SCT and identity would go unchecked).
2. **Signature**: over the artifact's digest, the stored payload, or the DSSE PAE
   (keyless: with the certificate's key and the hash the bundle names).
3. **Content**: what the signature covers says what the caller expects (the
   ``check_content`` callback: an image signature's claims, an attestation's subject).
4. **Log evidence** (:mod:`sigstack.verify.evidence`), unless the policy is
   ``insecure_ignore_tlog``: the entry is found, its log trusted, its proofs verified
   offline, and it is bound to this signature (keyless: the trusted root's logs,
   named by ``logId.keyId``, Rekor v1 and v2).

Each failure raises a :class:`~sigstack.errors.VerificationError` (or a subclass)
whose message names the step; :class:`Result` says what was verified and with which
log entry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from sigstack._internal.digest import hash_stream
from sigstack.errors import BundleError, InvalidSignatureError, UsageError, VerificationError
from sigstack.keys.base import Verifier as KeyVerifier
from sigstack.verify import evidence
from sigstack.verify.evidence import LogPolicy
from sigstack.verify.keyless import Keyless
from sigstack.verify.timestamp import TimestampedKey

if TYPE_CHECKING:
    from cryptography import x509

    from sigstack.bundle.models import Bundle
    from sigstack.payload.dsse import Envelope
    from sigstack.tlog.entry import TlogEntry


# cosign's words: a key must not vouch for a certificate's signature, whose time, SCT
# and identity would then go unchecked
def _key_not_certificate() -> VerificationError:
    return VerificationError("expected key signature, not certificate (the bundle carries a signing "
                             "certificate, which is verified against an identity)", hint="keyless_not_key")


@dataclass(frozen=True)
class Result:
    """A signature that verified; ``entry`` is the log entry that proved it was logged
    (None when the policy skipped the log); ``certificate`` is the keyless signing
    certificate that was trusted (None with a key), for callers that report who signed."""

    signature: bytes
    entry: TlogEntry | None
    certificate: x509.Certificate | None = None


class Verifier:
    """Verifies signatures made with ``key`` (a key, or keyless material), under ``log``
    (see the module docstring)."""

    def __init__(self, key: KeyVerifier | Keyless, log: LogPolicy) -> None:
        self.material = key
        self.log = log

    @property
    def key(self) -> KeyVerifier:
        """The trusted key (key-based verification only)."""
        if isinstance(self.material, Keyless):
            raise UsageError("keyless verification of this kind of signature is not supported")
        return self.material

    # ---- blobs -------------------------------------------------------------------------

    def verify_blob(self, *, signature: bytes | None = None, bundle: Bundle | None = None,
                    artifact: BinaryIO | None = None, digest: tuple[str, bytes] | None = None) -> Result:
        """A key-signed blob, as ``cosign verify-blob --key`` checks it. The signature comes
        from ``signature`` and/or ``bundle`` (they must agree); the artifact is a stream,
        or its ``(algorithm, digest)`` when only that is known. Keyless: the bundle may
        hold a DSSE envelope too (its in-toto subject must name the artifact)."""
        if isinstance(self.material, Keyless):
            return self._keyless_blob(self.material, signature, bundle, artifact, digest)
        # step 1: signing material -- the signature and what the bundle says of it
        if bundle is not None:
            if bundle.certificate is not None:
                raise _key_not_certificate()
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
            _key_timestamps(key, signature, bundle.timestamps if bundle is not None else ())
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
        _key_timestamps(key, signature, bundle.timestamps if bundle is not None else ())
        # step 4: log evidence
        entry = None
        if self.log.checked:
            entry = evidence.blob_evidence(self.log, key, signature, message_digest, bundle)
        return Result(signature, entry)

    def _keyless_blob(self, material: Keyless, signature: bytes | None, bundle: Bundle | None,
                      artifact: BinaryIO | None, digest: tuple[str, bytes] | None) -> Result:
        from sigstack.bundle.models import MessageSignature
        from sigstack.verify.keyless import establish

        if bundle is None:
            return self._keyless_detached(material, signature, artifact, digest)
        content = bundle.content
        envelope = None if isinstance(content, MessageSignature) else content
        if signature is not None and signature != bundle.signature:
            raise VerificationError("the given signature differs from the signature in the bundle")
        sig = bundle.signature
        entry = bundle.tlog_entry
        # step 1: the certificate, trusted at the verified times
        signing = establish(material, certificate=bundle.certificate, chain=bundle.chain, signature=sig,
                            timestamps=bundle.timestamps, entry=entry, log_checked=self.log.checked)
        key = signing.verifier(content.digest_algorithm if isinstance(content, MessageSignature) else None)
        if not key.prehash:
            raise VerificationError("an Ed25519 signing certificate cannot sign artifact digests")
        if envelope is not None:
            from sigstack.payload import dsse

            # step 2: the PAE signature; step 3: the statement names the artifact
            _signature_step(lambda: dsse.verify(key, envelope))
            _check_subject(envelope, _artifact_digest("sha256", artifact, digest))
            log_digest = None
        else:
            message_digest = _artifact_digest(key.hash_name, artifact, digest)
            assert isinstance(content, MessageSignature)
            if content.digest is not None and content.digest != message_digest:
                raise VerificationError("the bundle's message digest does not match the artifact")
            _signature_step(lambda: key.verify_digest(sig, message_digest))  # step 2
            log_digest = (key.hash_name, message_digest)
        logged = None
        if self.log.checked:  # step 4
            logged = evidence.keyless_blob_evidence(material.trusted_root, bundle, entry, key=key.public_key(),
                                                    certificate=signing.der, signature=sig, digest=log_digest,
                                                    envelope=envelope)
        return Result(sig, logged, signing.leaf)

    # ---- image signatures stored as layers -----------------------------------------------

    def verify_payload(self, signature: bytes, payload: bytes, annotations: object,
                       check_content: Callable[[], object] | None = None) -> Result:
        """A legacy (``.sig`` tag or oci-1-1 referrer) layer: ``signature`` over the stored
        ``payload`` bytes, its evidence in the layer's annotations (or in the log). Keyless:
        the certificate and chain come from the layer's annotations (cosign's)."""
        if isinstance(self.material, Keyless):
            return self._keyless_layer(self.material, signature, payload, annotations, check_content)
        _signature_step(lambda: self.key.verify(signature, payload))  # step 2 (step 1: the key, given)
        if isinstance(self.key, TimestampedKey):  # cosign: a .sig layer's timestamp is over its raw signature
            from sigstack.verify.keyless import layer_timestamps

            _key_timestamps(self.key, signature, layer_timestamps(annotations if isinstance(annotations, dict) else {}))
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

        if isinstance(self.material, Keyless):
            if bundle is not None:
                return self._keyless_envelope_bundle(self.material, envelope, bundle, check_content)
            return self._keyless_layer(self.material, b"", b"", annotations or {}, check_content,
                                       envelope=envelope, stored=stored)
        if bundle is not None and bundle.certificate is not None:
            raise _key_not_certificate()
        _signature_step(lambda: dsse.verify(self.key, envelope))  # step 2 (step 1: the key, given)
        if isinstance(self.key, TimestampedKey):
            if bundle is not None:  # over the envelope's signature (sigstore-go)
                _key_timestamps(self.key, bundle.signature, bundle.timestamps)
            else:  # an .att layer's timestamp is over the stored envelope (cosign's VerifyRFC3161Timestamp)
                from sigstack.verify.keyless import layer_timestamps

                notes = annotations if isinstance(annotations, dict) else {}
                _key_timestamps(self.key, stored or b"", layer_timestamps(notes))
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


    def _keyless_detached(self, material: Keyless, signature: bytes | None, artifact: BinaryIO | None,
                          digest: tuple[str, bytes] | None) -> Result:
        """A signature and its certificate given apart (cosign's ``--signature`` and
        ``--certificate``): the log entry is looked up with the policy's client (its SET
        time then counts, once its proofs verify in step 4)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        from sigstack.verify.keyless import establish, load_certificate

        if signature is None or material.certificate is None:
            raise UsageError("keyless verification without a bundle needs the signature and its certificate")
        from sigstack.keys.software import PublicKeyVerifier, hash_for_public_key

        leaf = load_certificate(material.certificate)
        hash_name, prehash = hash_for_public_key(leaf.public_key())
        if not prehash:
            raise VerificationError("an Ed25519 signing certificate cannot sign artifact digests")
        message_digest = _artifact_digest(hash_name, artifact, digest)
        # step 2 first, with the certificate's key (its trust comes next): the log is only
        # searched for a signature that verifies, as cosign does
        _signature_step(lambda: PublicKeyVerifier(leaf.public_key()).verify_digest(signature, message_digest))
        entry = None
        if self.log.checked:
            entry = evidence.lookup_hashedrekord_pem(self.log, signature, message_digest, hash_name,
                                                     leaf.public_bytes(Encoding.PEM))
        signing = establish(material, certificate=None, chain=(), signature=signature, timestamps=(), entry=entry,
                            log_checked=self.log.checked)  # step 1: chain, SCT, identity at the verified times
        key = signing.verifier(None)
        if entry is not None:  # step 4: the entry found, verified offline and bound to this certificate
            evidence.keyless_blob_evidence(material.trusted_root, None, entry, key=key.public_key(),
                                           certificate=signing.der, signature=signature,
                                           digest=(hash_name, message_digest))
        return Result(signature, entry, signing.leaf)

    def verify_detached_envelope(self, envelope: Envelope, *, stored: bytes,
                                 check_content: Callable[[], object] | None = None) -> Result:
        """A DSSE envelope given on its own (cosign's ``verify-blob-attestation
        --signature``), ``stored`` its bytes as given. With a key, as an ``.att`` layer
        without annotations. Keyless, the certificate comes with the material (cosign's
        ``--certificate``) and the entry is looked up in the log (the dsse entry this
        envelope and certificate would make, else the intoto one), as cosign finds it:
        the signature is checked with the certificate's key first, then the certificate
        is trusted at the entry's time, then the entry is verified offline and bound."""
        if not isinstance(self.material, Keyless):
            return self.verify_envelope(envelope, stored=stored, annotations={}, check_content=check_content)
        from cryptography.hazmat.primitives.serialization import Encoding

        from sigstack.keys.software import PublicKeyVerifier
        from sigstack.payload import dsse
        from sigstack.verify.keyless import establish, load_certificate

        material = self.material
        if material.certificate is None:
            raise UsageError("keyless verification of an envelope without a bundle needs its signing certificate")
        if len(envelope.signatures) != 1:
            raise VerificationError("a keyless envelope must have exactly one signature")
        signature = envelope.signatures[0]
        leaf = load_certificate(material.certificate)
        _signature_step(lambda: dsse.verify(PublicKeyVerifier(leaf.public_key()), envelope))  # step 2 first
        if check_content is not None:  # step 3
            check_content()
        entry = None
        if self.log.checked:
            entry = evidence.lookup_envelope_pem(self.log, stored, leaf.public_bytes(Encoding.PEM))
        signing = establish(material, certificate=None, chain=(), signature=signature, timestamps=(), entry=entry,
                            log_checked=self.log.checked)  # step 1: chain, SCT, identity at the entry's time
        key = signing.verifier(None)
        if entry is not None:  # step 4: the entry found, verified offline and bound to this certificate
            evidence.keyless_blob_evidence(material.trusted_root, None, entry, key=key.public_key(),
                                           certificate=signing.der, signature=signature, envelope=envelope,
                                           stored=stored)
        return Result(signature, entry, signing.leaf)

    # ---- keyless images: bundles and legacy layers -----------------------------------------

    def _keyless_envelope_bundle(self, material: Keyless, envelope: Envelope, bundle: Bundle,
                                 check_content: Callable[[], object] | None) -> Result:
        """An image's (or attestation's) bundle referrer: its certificate, the PAE
        signature, the content callback, the bundle's log entry against the trusted root."""
        from sigstack.payload import dsse
        from sigstack.verify.keyless import establish

        sig = bundle.signature
        signing = establish(material, certificate=bundle.certificate, chain=bundle.chain, signature=sig,
                            timestamps=bundle.timestamps, entry=bundle.tlog_entry, log_checked=self.log.checked)
        key = signing.verifier(None)
        _signature_step(lambda: dsse.verify(key, envelope))  # step 2
        if check_content is not None:  # step 3
            check_content()
        entry = None
        if self.log.checked:  # step 4
            entry = evidence.keyless_blob_evidence(material.trusted_root, bundle, bundle.tlog_entry,
                                                   key=key.public_key(), certificate=signing.der, signature=sig,
                                                   envelope=envelope)
        return Result(sig, entry, signing.leaf)

    def _keyless_layer(self, material: Keyless, signature: bytes, payload: bytes, annotations: object,
                       check_content: Callable[[], object] | None, *, envelope: Envelope | None = None,
                       stored: bytes | None = None) -> Result:
        """A legacy ``.sig`` / oci-1-1 / ``.att`` layer signed keylessly: cosign stores the
        certificate and chain (PEM) and the SET-form log evidence in annotations."""
        from sigstack.payload import dsse
        from sigstack.verify.keyless import establish, layer_certificates, layer_timestamps

        notes: Any = annotations if isinstance(annotations, dict) else {}
        if envelope is not None:
            if len(envelope.signatures) != 1:
                raise VerificationError("a keyless envelope must have exactly one signature")
            signature = envelope.signatures[0]
        certificate, chain = layer_certificates(notes)
        found = evidence.layer_rekor_bundle(notes) if self.log.checked else None
        # cosign timestamps a .sig layer's raw signature, but an .att layer's stored
        # envelope (its signature annotation is empty; VerifyRFC3161Timestamp)
        stamped = stored if envelope is not None and stored is not None else signature
        signing = establish(material, certificate=certificate, chain=chain, signature=signature,
                            timestamps=layer_timestamps(notes), entry=found[0] if found else None,
                            log_checked=self.log.checked, timestamped=stamped)
        key = signing.verifier(None)
        if envelope is not None:
            _signature_step(lambda: dsse.verify(key, envelope))  # step 2
        else:
            _signature_step(lambda: key.verify(signature, payload))
        if check_content is not None:  # step 3
            check_content()
        entry = None
        if self.log.checked:  # step 4
            entry = evidence.keyless_layer_evidence(material.trusted_root, notes, key=key, certificate=signing.der,
                                                    signature=signature, payload=payload, envelope=envelope,
                                                    stored=stored)
        return Result(signature, entry, signing.leaf)


def _key_timestamps(key: KeyVerifier, stamped: bytes, tokens: tuple[bytes, ...] | list[bytes]) -> None:
    """Step 1 for a key whose signatures must carry RFC 3161 timestamps
    (:class:`~sigstack.verify.timestamp.TimestampedKey`); nothing for a plain key, which
    vouches for no time (cosign ignores timestamps unless asked to use them)."""
    if isinstance(key, TimestampedKey):
        key.check(stamped, tokens)


def _artifact_digest(hash_name: str, artifact: BinaryIO | None, digest: tuple[str, bytes] | None) -> bytes:
    """The artifact's ``hash_name`` digest: hashed from the stream, or the given one."""
    if artifact is not None:
        return hash_stream(artifact, hash_name)
    if digest is None:
        raise UsageError("an artifact or its digest is needed")
    if digest[0] != hash_name:
        raise VerificationError(f"a {digest[0]} digest cannot be checked against a signature over {hash_name} "
                                "digests")
    return digest[1]


def _check_subject(envelope: Envelope, sha256: bytes) -> None:
    """Step 3 for a DSSE blob: an in-toto statement whose subject names the artifact."""
    from sigstack.payload import intoto
    from sigstack.payload.dsse import INTOTO_PAYLOAD_TYPE

    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"the envelope's payload type {envelope.payload_type[:80]!r} is not an in-toto "
                                "statement")
    if intoto.parse(envelope.payload).names_digest("sha256:" + sha256.hex()) is None:
        raise VerificationError("the in-toto statement's subject does not name the artifact's sha256 digest")


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
