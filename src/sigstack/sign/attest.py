"""Attest images and blobs, as ``cosign attest`` / ``cosign attest-blob`` do (spec §2.7, §3.5).

The predicate becomes an in-toto statement naming the image digest; it is signed
as a DSSE envelope and appended to the ``.att`` image (legacy, the default), or
pushed as a Sigstore bundle referrer with ``new_bundle_format``. With a log client
the envelope is logged first as a ``dsse`` 0.0.1 entry (the entry type cosign v2
uses by default and v3 always uses), and the evidence goes into the layer's
``dev.sigstore.cosign/bundle`` annotation (SET form) or the bundle's ``tlogEntries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigstack.errors import UsageError, VerificationError
from sigstack.keys.base import Signer
from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.layouts import LEGACY, SignedEntity
from sigstack.oci.reference import Reference
from sigstack.payload import dsse, intoto
from sigstack.sign.image import (
    bundle_annotation,
    certificate_annotations,
    log_envelope,
    loggable,
    push_bundle,
    resolve_digests,
    timestamp_annotations,
)

if TYPE_CHECKING:  # the log client is imported only when an attestation is logged
    from sigstack.bundle.models import Bundle
    from sigstack.sign.blob import Timestamper
    from sigstack.tlog.client import RekorClient
    from sigstack.tlog.entry import TlogEntry


@dataclass(frozen=True)
class Attested:
    digest: str
    predicate_type: str
    stored_at: Reference
    envelope: bytes
    tlog_entry: TlogEntry | None = None


@dataclass(frozen=True)
class AttestOptions:
    """How ``attest`` stores and logs: ``new_bundle_format`` (a bundle referrer, else the
    ``.att`` image), ``replace`` (drop same-type attestations), ``target_repository``
    (cosign's ``COSIGN_REPOSITORY``; None: the image's), ``tag_prefix`` (cosign's
    ``--attachment-tag-prefix``: the ``[prefix]sha256-<hex>.att`` tag; bundles are
    referrers and do not use it), ``docker_types`` (a new ``.att`` image with Docker media
    types), ``log`` (log the envelope there first; None: not logged) and
    ``rekor_entry_type`` (``dsse`` 0.0.1, or ``intoto`` 0.0.1 for the legacy layout only:
    that entry keeps no signature, only the hash of the envelope stored beside the image)."""

    new_bundle_format: bool = False
    replace: bool = False
    target_repository: str | None = None
    tag_prefix: str = ""
    docker_types: bool = False
    log: RekorClient | None = None
    rekor_entry_type: str = "dsse"
    #: RFC 3161 timestamps (cosign's --timestamp-server-url): over the envelope's signature in
    #: a bundle, over the envelope itself in an ``.att`` layer's annotation, as cosign does
    timestamper: Timestamper | None = None


def attest_image(client: RegistryClient, signer: Signer, ref: Reference, predicate: bytes,
                 kind: str = "custom", options: AttestOptions | None = None) -> Attested:
    """Attest ``ref`` with the predicate ``kind`` (cosign's ``--type``), as ``options`` says."""
    opts = options or AttestOptions()
    new_bundle_format, replace, rekor_entry_type = opts.new_bundle_format, opts.replace, opts.rekor_entry_type
    tag_prefix, log = opts.tag_prefix, opts.log
    layout.check_tag_prefix(tag_prefix)
    if rekor_entry_type not in ("dsse", "intoto"):
        raise UsageError(f"invalid rekor entry type {rekor_entry_type!r}: use dsse or intoto")
    if rekor_entry_type == "intoto" and new_bundle_format:
        raise UsageError("an intoto log entry cannot be used with the bundle format "
                         "(a bundle's log entry must record the signature: use dsse)")
    uri = intoto.predicate_uri(kind)
    body = intoto.predicate_from_file(kind, predicate)
    desc = resolve_digests(client, ref, recursive=False)[0]
    if log is not None:  # after the look-up: the signer may still be loading (keys.background)
        loggable(signer)
    entity = SignedEntity.at(client, ref.repository, desc.digest, target_repository=opts.target_repository,
                             tag_prefix=tag_prefix, docker_types=opts.docker_types, subject=desc)
    statement = intoto.statement(uri, body, desc.digest, name=ref.repository.name)
    envelope = dsse.sign(signer, statement)
    entry = log_envelope(log, signer, envelope, rekor_entry_type) if log is not None else None
    if new_bundle_format:
        timestamps = tuple(opts.timestamper(envelope.signatures[0])) if opts.timestamper is not None else ()
        where = push_bundle(entity, signer, envelope, uri, entry, timestamps)
        return Attested(desc.digest, uri, where, envelope.to_json(), entry)
    annotations = {layout.SIGNATURE_ANNOTATION: "", "predicateType": uri, **certificate_annotations(signer),
                   **timestamp_annotations(opts.timestamper, envelope.to_json())}
    if entry is not None:
        annotations[layout.BUNDLE_ANNOTATION] = bundle_annotation(entry)
    layer = layout.Layer(layout.DSSE_MEDIA, envelope.to_json(), annotations)
    if replace:  # cosign: drop same-type attestations, new one first, rebuilt from empty
        where = LEGACY.replace_attestations(entity, layer, keep=lambda s: _predicate_type(s) != uri)
    else:
        where = LEGACY.add_attestations(entity, [layer], duplicate=lambda old, new: old.digest == new.digest)
    return Attested(desc.digest, uri, where, envelope.to_json(), entry)


def _predicate_type(stored: layout.StoredLayer) -> str | None:
    try:
        return intoto.parse(dsse.parse(stored.data).payload).predicate_type
    except VerificationError:
        return stored.annotations.get("predicateType")


@dataclass(frozen=True)
class AttestedBlob:
    """``attest-blob``'s result: the statement, its signed envelope, the log entry and
    the v0.3 bundle (envelope + entry + key hint or certificate) when asked for."""

    statement: bytes
    envelope: dsse.Envelope
    tlog_entry: TlogEntry | None
    bundle: Bundle | None
    timestamps: tuple[bytes, ...] = ()


def attest_blob(signer: Signer, name: str, digest: str, predicate: bytes, kind: str = "custom", *,
                log: RekorClient | None = None, bundle: bool = False,
                timestamper: Timestamper | None = None) -> AttestedBlob:
    """``cosign attest-blob``: an in-toto statement whose subject is ``name`` with
    ``digest`` (``sha256:<hex>``), signed as a DSSE envelope and, with ``log``, logged
    as a ``dsse`` 0.0.1 entry (what cosign logs for attestations); ``timestamper``
    timestamps the envelope's signature (RFC 3161) for the bundle."""
    from sigstack.bundle.models import Bundle
    from sigstack.tlog.checkpoint import public_key_der

    statement = intoto.statement(intoto.predicate_uri(kind), intoto.predicate_from_file(kind, predicate),
                                 digest, name=name)
    if log is not None:
        loggable(signer)
    envelope = dsse.sign(signer, statement)
    entry = log_envelope(log, signer, envelope) if log is not None else None
    timestamps = tuple(timestamper(envelope.signatures[0])) if timestamper is not None else ()
    made = Bundle.for_envelope(envelope, public_key_der(signer.public_key()), entry,
                               signer.certificate, timestamps) if bundle else None
    return AttestedBlob(statement, envelope, entry, made, timestamps)
