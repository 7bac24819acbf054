"""Sign container images in place, as ``cosign sign --key`` does.

Three storage layouts (spec §2.2-§2.10):

* ``legacy`` (default): a simple-signing payload per image digest, appended as a
  layer to the ``[prefix]sha256-<hex>.sig`` image in the target repository
  (deduplicated; ``tag_prefix`` is cosign's ``--attachment-tag-prefix``).
* ``oci-1-1``: the same ``.sig``-style image pushed by digest as an OCI 1.1
  referrer with ``artifactType`` ``application/vnd.dev.cosign.artifact.sig.v1+json``.
* ``new_bundle_format``: a DSSE in-toto statement (``cosign/sign/v1``) in a
  Sigstore bundle v0.3, pushed as a referrer (with the fallback index tag, which
  the tag prefix never changes, as in cosign).

With a log client (``options.log``; the CLI's default ``--tlog-upload=true``), each signature
is logged first, as cosign does: a ``hashedrekord`` entry over the SHA-256 of the
simple-signing payload, kept in the layer's ``dev.sigstore.cosign/bundle``
annotation in cosign's SET form; bundles log the DSSE envelope (``dsse`` 0.0.1)
and carry the whole entry (SET, inclusion proof, checkpoint). Nothing is pushed
when the upload fails.

The library never prints: it returns what it did, the CLI tells the user.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigstack.errors import NotFoundError, SigstackError, UsageError, VerificationError
from sigstack.keys.base import Signer
from sigstack.oci import layout
from sigstack.oci.client import INDEX_TYPES, Descriptor, RegistryClient
from sigstack.oci.layouts import BUNDLES, LEGACY, OCI11, SignedEntity, target_repository
from sigstack.oci.reference import Reference
from sigstack.payload import dsse, intoto, simplesigning

if TYPE_CHECKING:  # the log client is imported only when a signature is logged
    from sigstack.sign.blob import Timestamper
    from sigstack.tlog.client import RekorClient
    from sigstack.tlog.entry import TlogEntry


@dataclass(frozen=True)
class ImageSignOptions:
    annotations: Mapping[str, str] = field(default_factory=dict)
    recursive: bool = False
    target_repository: str | None = None  # where signatures go (cosign's COSIGN_REPOSITORY); None: beside the image
    docker_types: bool = False  # a new .sig image gets Docker media types (cosign's COSIGN_DOCKER_MEDIA_TYPES)
    tag_prefix: str = ""  # cosign's --attachment-tag-prefix: [prefix]sha256-<hex>.sig
    referrers_mode: str = "legacy"  # or "oci-1-1"
    new_bundle_format: bool = False
    upload: bool = True  # False: sign only, store nothing (cosign --upload=false)
    log: RekorClient | None = None  # log each signature here (cosign's --tlog-upload); None: key only
    #: RFC 3161 timestamps of each signature (cosign's --timestamp-server-url): in the bundle's
    #: timestampVerificationData, or a legacy layer's ``rfc3161timestamp`` annotation
    timestamper: Timestamper | None = None


@dataclass(frozen=True)
class SignedDigest:
    digest: str
    stored_at: Reference | None  # None when not uploaded
    payload: bytes
    signature: bytes = b""
    tlog_entry: TlogEntry | None = None


def resolve_digests(client: RegistryClient, ref: Reference, recursive: bool) -> list[Descriptor]:
    """The digests to sign: the one named, plus every child of an index with ``recursive``.
    A digest reference without ``recursive`` is signed even if the registry lacks it."""
    if ref.digest and not recursive:
        try:
            return [client.head_manifest(ref)]
        except NotFoundError:
            return [Descriptor("", 0, ref.digest)]
    manifest = client.get_manifest(ref)
    out = [manifest.descriptor()]
    if recursive and manifest.media_type in INDEX_TYPES:
        out += [client.head_manifest(ref.with_digest(d)) for d in layout.index_children(manifest)]
    return out


def _same_signature(signer: Signer) -> Callable[[layout.StoredLayer, layout.Layer], bool]:
    """cosign's dupe detector: same payload, media type and annotations, and the
    stored signature verifies with this signer's key."""
    from sigstack.keys.software import PublicKeyVerifier

    verifiers: list[PublicKeyVerifier] = []  # made on first need: the key may still be loading

    def duplicate(existing: layout.StoredLayer, new: layout.Layer) -> bool:
        if existing.media_type != new.media_type or existing.digest != new.digest:
            return False
        for k, v in new.annotations.items():
            if k != layout.SIGNATURE_ANNOTATION and existing.annotations.get(k) != v:
                return False
        try:
            sig = base64.b64decode(existing.annotations.get(layout.SIGNATURE_ANNOTATION, ""), validate=True)
            if not verifiers:
                verifiers.append(PublicKeyVerifier(signer.public_key()))
            verifiers[0].verify(sig, new.data)
        except (ValueError, VerificationError):
            return False
        return True

    return duplicate


def loggable(signer: Signer) -> None:
    """Rekor's hashedrekord and cosign's checks need a digest-signing key."""
    if not signer.prehash:
        raise UsageError("Ed25519 keys cannot be logged as hashedrekord entries (they need Ed25519ph)",
                         hint="no_tlog_upload")


def log_rekord(log: RekorClient, signer: Signer, payload: bytes) -> tuple[bytes, TlogEntry]:
    """Sign ``payload`` over its digest and log it as a hashedrekord; returns (signature, entry)."""
    import hashlib

    from sigstack.tlog.client import hashedrekord

    digest = hashlib.new(signer.hash_name, payload).digest()
    sig = signer.sign_digest(digest)
    return sig, log.upload(hashedrekord(sig, digest, signer.hash_name, signer.verifier_pem()))


def certificate_annotations(signer: Signer) -> dict[str, str]:
    """A keyless signer's certificate and chain, as cosign annotates a legacy layer
    (``dev.sigstore.cosign/certificate``: the leaf PEM; ``dev.sigstore.cosign/chain``:
    the intermediates and root, PEM one after another); nothing for a key."""
    if signer.certificate is None:
        return {}
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    out = {layout.CERT_ANNOTATION: signer.verifier_pem().decode()}
    if signer.chain:
        out[layout.CHAIN_ANNOTATION] = b"".join(
            x509.load_der_x509_certificate(c).public_bytes(serialization.Encoding.PEM) for c in signer.chain).decode()
    return out


def timestamp_annotations(timestamper: Timestamper | None, message: bytes) -> dict[str, str]:
    """cosign's ``dev.sigstore.cosign/rfc3161timestamp`` annotation of a legacy layer:
    ``{"SignedRFC3161Timestamp": "<b64 DER TimeStampResp>"}`` (one: cosign keeps one),
    over the raw signature (a ``.sig`` layer) or the layer's payload (an ``.att``
    layer's envelope, whose signature annotation is empty)."""
    if timestamper is None:
        return {}
    tokens = timestamper(message)
    if not tokens:
        return {}
    from sigstack.payload import gojson

    return {layout.TIMESTAMP_ANNOTATION: gojson.dumps({"SignedRFC3161Timestamp": base64.b64encode(tokens[0]).decode()})
            .decode()}


def bundle_annotation(entry: TlogEntry) -> str:
    """The ``dev.sigstore.cosign/bundle`` value, byte for byte as cosign's ``encoding/json``."""
    from sigstack.bundle.models import rekor_bundle
    from sigstack.payload import gojson

    return gojson.dumps(rekor_bundle(entry)).decode()


def sign_image(client: RegistryClient, signer: Signer, ref: Reference,
               options: ImageSignOptions | None = None) -> list[SignedDigest]:
    opts = options or ImageSignOptions()
    if opts.referrers_mode not in ("legacy", "oci-1-1"):
        raise SigstackError(f"invalid registry referrers mode {opts.referrers_mode!r}: "
                            "use legacy or oci-1-1")
    layout.check_tag_prefix(opts.tag_prefix)  # before anything is read or written
    targets = resolve_digests(client, ref, opts.recursive)
    if opts.log is not None:  # after the look-up: the signer may still be loading (keys.background)
        loggable(signer)
    repo = target_repository(ref.repository, opts.target_repository)
    results = []
    for desc in targets:
        entity = SignedEntity(client, ref.repository, desc.digest, repo, opts.tag_prefix, opts.docker_types, desc)
        if opts.new_bundle_format:
            results.append(_sign_bundle(entity, signer, opts))
        else:
            results.append(_sign_legacy(entity, signer, opts))
    return results


def _sign_legacy(entity: SignedEntity, signer: Signer, opts: ImageSignOptions) -> SignedDigest:
    payload = simplesigning.make(entity.image.name, entity.digest, opts.annotations)
    if opts.upload and opts.referrers_mode == "legacy" and opts.log is None:
        # Sign at the last moment, after the blobs are up (the key may still be loading).
        signed: list[bytes] = []

        def finalize(layer: layout.Layer) -> dict[str, str]:
            signed.append(signer.sign(layer.data))
            return {layout.SIGNATURE_ANNOTATION: base64.b64encode(signed[-1]).decode(),
                    **certificate_annotations(signer), **timestamp_annotations(opts.timestamper, signed[-1])}

        where = LEGACY.add_signature(entity, layout.Layer(layout.SIMPLESIGNING_MEDIA, payload),
                                     duplicate=_same_signature(signer), finalize=finalize)
        return SignedDigest(entity.digest, where, payload, signed[-1] if signed else signer.sign(payload))
    entry = None
    if opts.log is not None:
        sig, entry = log_rekord(opts.log, signer, payload)
    else:
        sig = signer.sign(payload)
    if not opts.upload:
        return SignedDigest(entity.digest, None, payload, sig, entry)
    annotations = {layout.SIGNATURE_ANNOTATION: base64.b64encode(sig).decode(), **certificate_annotations(signer),
                   **timestamp_annotations(opts.timestamper, sig)}
    if entry is not None:
        annotations[layout.BUNDLE_ANNOTATION] = bundle_annotation(entry)
    layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, payload, annotations)
    if opts.referrers_mode == "oci-1-1":
        where = OCI11.add_signature(entity, layer)
    else:
        where = LEGACY.add_signature(entity, layer, duplicate=_same_signature(signer))
    return SignedDigest(entity.digest, where, payload, sig, entry)


def _sign_bundle(entity: SignedEntity, signer: Signer, opts: ImageSignOptions) -> SignedDigest:
    statement = intoto.statement(intoto.COSIGN_SIGN_PREDICATE, {}, entity.digest,
                                 annotations=opts.annotations, version=intoto.STATEMENT_V1)
    envelope = dsse.sign(signer, statement)
    entry = log_envelope(opts.log, signer, envelope) if opts.log is not None else None
    if not opts.upload:
        return SignedDigest(entity.digest, None, statement, envelope.signatures[0], entry)
    timestamps = tuple(opts.timestamper(envelope.signatures[0])) if opts.timestamper is not None else ()
    where = push_bundle(entity, signer, envelope, intoto.COSIGN_SIGN_PREDICATE, entry, timestamps)
    return SignedDigest(entity.digest, where, statement, envelope.signatures[0], entry)


def log_envelope(log: RekorClient, signer: Signer, envelope: dsse.Envelope, entry_type: str = "dsse") -> TlogEntry:
    """Log a DSSE envelope as a ``dsse`` 0.0.1 entry (cosign's default for attestations),
    or as ``intoto`` 0.0.1 (cosign v2's ``--rekor-entry-type intoto``)."""
    from sigstack.tlog.client import dsse_proposal, intoto_proposal

    propose = intoto_proposal if entry_type == "intoto" else dsse_proposal
    return log.upload(propose(envelope.to_json(), signer.verifier_pem()))


def push_bundle(entity: SignedEntity, signer: Signer, envelope: dsse.Envelope, predicate_type: str,
                entry: TlogEntry | None = None, timestamps: tuple[bytes, ...] = ()) -> Reference:
    """Store ``envelope`` (and its log entry and timestamps) as a Sigstore bundle referrer of the entity."""
    from sigstack.bundle.models import Bundle
    from sigstack.tlog.checkpoint import public_key_der

    data = Bundle.for_envelope(envelope, public_key_der(signer.public_key()), entry, signer.certificate,
                               timestamps).to_json()
    return BUNDLES.add(entity, data, predicate_type)
