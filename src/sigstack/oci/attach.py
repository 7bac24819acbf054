"""Attachments beyond signing: ``attach sbom|signature``, ``download``, ``clean``,
``copy`` (spec §2.8, §3.6). Registry writes keep the blobs-first, manifest-last
order so a failure never leaves a half-written tag.

Every command's function takes ``tag_prefix``, cosign's ``--attachment-tag-prefix``: the legacy
tags are ``[tag_prefix]sha256-<hex>.sig|att|sbom``. It is checked before anything is
read or written. OCI 1.1 referrers and their ``sha256-<hex>`` fallback index tag do
not use it (as in cosign, whose fallback tag ggcr computes). ``target_repository`` is
cosign's ``COSIGN_REPOSITORY`` (None: beside the image), and ``docker_types`` its
``COSIGN_DOCKER_MEDIA_TYPES`` for new legacy images: the caller decides both.

Where things are kept is asked of the layouts (:mod:`sigstack.oci.layouts`).
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sigstack._internal import safejson
from sigstack.errors import NotFoundError, RegistryError, SigstackError
from sigstack.oci import layout
from sigstack.oci.client import INDEX_TYPES, OCI_MANIFEST, Descriptor, Manifest, RegistryClient
from sigstack.oci.layouts import BUNDLES, LEGACY, OCI11, SignedEntity, fetch_all, layer_records
from sigstack.oci.layouts.referrers import fallback_index, list_referrers, push_referrer
from sigstack.oci.reference import Reference, Repository
from sigstack.payload import dsse, gojson, simplesigning

SBOM_DEPRECATION = (
    "WARNING: SBOM attachments are deprecated and support will be removed in a Cosign release soon "
    "after 2024-02-22 (see https://github.com/sigstore/cosign/issues/2755). Instead, please use SBOM "
    "attestations.")
MAX_DOWNLOAD_SIGNATURES = 100


def sbom_media_type(kind: str, path: str, input_format: str | None = None) -> str:
    as_json = input_format == "json" or (input_format is None and path.endswith(".json"))
    if kind == "spdx":
        return "text/spdx+json" if as_json else "text/spdx"
    if kind == "cyclonedx":
        return "application/vnd.cyclonedx+json" if as_json else "application/vnd.cyclonedx+xml"
    if kind == "syft":
        return "application/vnd.syft+json"
    raise SigstackError(f"unknown SBOM type {kind!r}: use spdx, cyclonedx or syft")


def _subject(client: RegistryClient, ref: Reference) -> Descriptor:
    try:
        return client.head_manifest(ref)
    except NotFoundError:
        if ref.digest:
            return Descriptor(OCI_MANIFEST, 0, ref.digest)
        raise


def attach_sbom(client: RegistryClient, ref: Reference, sbom: bytes, media_type: str,
                referrers_mode: str = "legacy", *, tag_prefix: str = "", target_repository: str | None = None,
                docker_types: bool = False) -> Reference:
    """Replace the ``.sbom`` image (legacy) or push an SBOM referrer (oci-1-1)."""
    layout.check_tag_prefix(tag_prefix)
    subject = _subject(client, ref)
    entity = SignedEntity.at(client, ref.repository, subject.digest, target_repository=target_repository,
                             tag_prefix=tag_prefix, docker_types=docker_types, subject=subject)
    layer = layout.Layer(media_type, sbom)
    if referrers_mode == "oci-1-1":
        return OCI11.add_sbom(entity, layer)
    return LEGACY.add_sbom(entity, layer)


def attach_signature(client: RegistryClient, ref: Reference, signature_b64: str,
                     payload: bytes | None = None, *, tag_prefix: str = "", target_repository: str | None = None,
                     docker_types: bool = False) -> tuple[Reference, bool]:
    """Append a given signature to ``.sig`` without dedupe (as cosign). Returns the tag
    and whether the payload was implied (built here because none was given)."""
    layout.check_tag_prefix(tag_prefix)
    digest = ref.digest or client.head_manifest(ref).digest
    implied = payload is None
    if payload is None:
        payload = simplesigning.make(ref.repository.name, digest)
    try:
        base64.b64decode(signature_b64.strip(), validate=True)
    except ValueError:
        raise SigstackError("the signature is not valid base64") from None
    layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, payload,
                         {layout.SIGNATURE_ANNOTATION: signature_b64.strip()})
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix, docker_types=docker_types)
    return LEGACY.add_signature(entity, layer), implied


def attach_attestations(client: RegistryClient, ref: Reference, documents: Iterable[bytes], *,
                        tag_prefix: str = "", target_repository: str | None = None,
                        docker_types: bool = False) -> Reference:
    """Append DSSE envelopes (``attach attestation``) to ``.att``: each must carry an
    in-toto payload and at least one signature; only the empty signature annotation is
    written, as cosign does. The bytes are stored as given."""
    layout.check_tag_prefix(tag_prefix)
    layers = []
    for data in documents:
        try:
            env = dsse.parse(data)
        except SigstackError:
            raise SigstackError("the attestation is not a DSSE envelope") from None
        if env.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
            raise SigstackError(f"invalid payloadType {env.payload_type} on envelope. "
                                f"Expected {dsse.INTOTO_PAYLOAD_TYPE}")
        if not env.signatures:
            raise SigstackError("could not attach attestation without having signatures")
        layers.append(layout.Layer(layout.DSSE_MEDIA, data, {layout.SIGNATURE_ANNOTATION: ""}))
    digest = ref.digest or client.head_manifest(ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix, docker_types=docker_types)
    return LEGACY.add_attestations(entity, layers)


# ---- download --------------------------------------------------------------------------

def _entity(client: RegistryClient, ref: Reference, tag_prefix: str,
            target_repository: str | None) -> SignedEntity:
    """The image ``ref`` names (a tag is resolved), for the commands that only read or
    delete what is stored: the prefix is checked before the first request."""
    layout.check_tag_prefix(tag_prefix)
    digest = ref.digest or client.head_manifest(ref).digest
    return SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                           tag_prefix=tag_prefix)


def download_signatures(client: RegistryClient, ref: Reference, *, tag_prefix: str = "",
                        target_repository: str | None = None) -> list[bytes]:
    """One JSON document per signature: bundles when any exist, else cosign's
    ``SignedPayload`` objects from the ``.sig`` image."""
    entity = _entity(client, ref, tag_prefix, target_repository)
    found = BUNDLES.read(entity)
    if found:
        return [json.dumps(safejson.loads(b.data), separators=(",", ":")).encode() for b in found]
    layers = LEGACY.read(entity, "sig")
    if not layers:
        raise SigstackError(f"{ref.name}: no signatures associated")
    if len(layers) > MAX_DOWNLOAD_SIGNATURES:
        raise SigstackError(f"maximum number of signatures on an image is {MAX_DOWNLOAD_SIGNATURES}, "
                            f"found {len(layers)}")
    return [gojson.dumps({
        "Base64Signature": s.annotations.get(layout.SIGNATURE_ANNOTATION, ""),
        "Payload": base64.b64encode(s.data).decode(),
        "Cert": None, "Chain": None, "Bundle": _maybe_json(s.annotations.get(layout.BUNDLE_ANNOTATION)),
        "RFC3161Timestamp": None,
    }) for s in layers]


def _maybe_json(text: str | None) -> object:
    if not text:
        return None
    try:
        return safejson.loads(text)
    except ValueError:
        return None


def download_attestations(client: RegistryClient, ref: Reference,
                          predicate_type: str | None = None, *, tag_prefix: str = "",
                          target_repository: str | None = None) -> list[bytes]:
    entity = _entity(client, ref, tag_prefix, target_repository)
    out = [b.data for b in BUNDLES.read(entity)]
    for stored in LEGACY.read(entity, "att"):
        try:
            env = dsse.parse(stored.data)
            raw = safejson.loads(stored.data)
        except (SigstackError, ValueError):
            continue
        if predicate_type:
            from sigstack.payload import intoto

            try:
                if intoto.parse(env.payload).predicate_type != predicate_type:
                    continue
            except SigstackError:
                continue
        sigs = [{"keyid": str(s.get("keyid", "")), "sig": str(s.get("sig", ""))}
                for s in raw.get("signatures") or [] if isinstance(s, dict)]
        out.append(gojson.dumps({"payloadType": env.payload_type, "payload": raw.get("payload", ""),
                                 "signatures": sigs}))
    return out  # none found: empty output and success, as cosign


@dataclass(frozen=True)
class Sbom:
    media_type: str
    data: bytes


def download_sbom(client: RegistryClient, ref: Reference, *, tag_prefix: str = "",
                  target_repository: str | None = None) -> list[Sbom]:
    """SBOM referrers first (artifactType sbom), else the ``.sbom`` tag."""
    entity = _entity(client, ref, tag_prefix, target_repository)
    records = [(OCI11.name, m) for m in OCI11.sbom_manifests(entity)]
    if not records:
        tagged = LEGACY.manifest(entity, "sbom")
        if tagged is None:
            raise SigstackError("no sbom attached to reference")
        records = [(LEGACY.name, tagged)]
    stored = fetch_all([r for name, m in records for r in layer_records(name, entity, m)])
    return [Sbom(s.media_type, s.data) for s in stored]


# ---- clean -----------------------------------------------------------------------------

_CLEAN = {"signature": ["sig"], "attestation": ["att"], "sbom": ["sbom"], "referrer": [], "all": []}


def clean(client: RegistryClient, ref: Reference, kind: str = "all", *, tag_prefix: str = "",
          target_repository: str | None = None) -> list[Reference]:
    """Delete attachment tags (and bundle referrers for ``referrer``/``all``).

    cosign v3's ``clean`` accepts ``--attachment-tag-prefix`` but ignores it (and
    ``COSIGN_REPOSITORY``): it always deletes the bare tags in the image's repository.
    Here both are honoured, so ``clean`` removes what ``sign`` with the same flags wrote.
    """
    if kind not in _CLEAN:
        raise SigstackError(f"invalid clean type {kind!r}: use signature, attestation, sbom, referrer or all")
    entity = _entity(client, ref, tag_prefix, target_repository)
    owned = LEGACY.references(entity) if kind == "all" else [LEGACY.tag(entity, s) for s in _CLEAN[kind]]
    if kind in ("referrer", "all"):  # the bundles (not other referrers), then the whole fallback index
        owned += [*BUNDLES.references(entity), fallback_index(entity)]
    return [where for where in owned if _delete(client, where)]


def _delete(client: RegistryClient, ref: Reference) -> bool:
    """Delete a manifest; a registry refusing tag deletes (400/405) is retried by digest."""
    try:
        client.delete_manifest(ref)
        return True
    except NotFoundError:
        return False
    except RegistryError as exc:
        if ref.digest or exc.status not in (400, 405):
            raise
    try:
        desc = client.head_manifest(ref)
    except NotFoundError:
        return False
    client.delete_manifest(ref.with_digest(desc.digest))
    return True


# ---- copy ------------------------------------------------------------------------------

def _copy_blob(src: RegistryClient, dst: RegistryClient, src_repo: Repository, dst_repo: Repository,
               digest: str, size: int | None) -> None:
    if dst.blob_exists(dst_repo, digest):
        return
    with tempfile.TemporaryFile() as spool:  # never hold a whole layer in memory
        length = src.stream_blob(src_repo, digest, spool)
        spool.seek(0)
        dst.upload_blob(dst_repo, spool, digest, length if size is None else size)


def _copy_manifest(src: RegistryClient, dst: RegistryClient, src_ref: Reference, dst_ref: Reference,
                   manifest: Manifest | None = None) -> Manifest:
    m = manifest or src.get_manifest(src_ref)
    doc = m.json()
    if m.media_type in INDEX_TYPES:
        for child in layout.index_children(m):
            _copy_manifest(src, dst, src_ref.with_digest(child), dst_ref.with_digest(child))
    else:
        blobs: Iterable[dict[str, object]] = [doc.get("config") or {}, *(doc.get("layers") or [])]
        for b in blobs:
            if isinstance(b, dict) and isinstance(b.get("digest"), str):
                size = b.get("size")
                _copy_blob(src, dst, src_ref.repository, dst_ref.repository, str(b["digest"]),
                           size if isinstance(size, int) else None)
    dst.put_manifest(dst_ref, m.data, m.media_type)
    return m


def copy(src: RegistryClient, dst: RegistryClient, src_ref: Reference, dst_ref: Reference, *,
         only: Iterable[str] = ("sig", "att", "sbom"), force: bool = False,
         referrers: bool = True, tag_prefix: str = "", target_repository: str | None = None) -> list[Reference]:
    """Copy an image and its ``.sig``/``.att``/``.sbom`` tags to another repository.

    Unlike cosign's ``copy``, OCI 1.1 referrers (Sigstore bundles, oci-1-1 signatures,
    SBOM referrers) are copied too unless ``referrers`` is false: a mirror that drops
    them silently loses every new-format signature.

    With ``tag_prefix``, the ``[tag_prefix]sha256-<hex>.<suffix>`` tags are copied under
    the same names, and a digest source copied to an untagged destination is tagged
    ``[tag_prefix]sha256-<hex>``, as cosign tags the copied image. The attachments are
    read from the source's ``target_repository`` and written beside the destination."""
    layout.check_tag_prefix(tag_prefix)
    m = src.get_manifest(src_ref)
    if dst_ref.tag == "latest" and src_ref.tag != "latest":
        dst_ref = dst_ref.repository.tag(src_ref.tag or layout.attachment_tag(m.digest, "", tag_prefix))
    source = SignedEntity.at(src, src_ref.repository, m.digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    dest = SignedEntity.at(dst, dst_ref.repository, m.digest, tag_prefix=tag_prefix)
    found = list_referrers(src, source.repository, m.digest) if referrers else []
    if found and dst_ref.tag == fallback_index(dest).tag and dst.referrers(dst_ref.repository, m.digest) is None:
        # Checked before anything is copied: the fallback index would take the image's tag.
        raise SigstackError(
            f"{dst_ref.name}: without the OCI 1.1 referrers API the destination keeps referrers in "
            f"an index tagged {dst_ref.tag}, the tag the copied image would get; give the "
            "destination a tag (DST:TAG), or skip the referrers with --referrers=false")
    if not force:
        try:
            existing = dst.head_manifest(dst_ref)
            if existing.digest != m.digest:
                raise SigstackError(f'image "{dst_ref.name}" already exists. Use `-f` to overwrite')
        except NotFoundError:
            pass
    copied = [dst_ref]
    _copy_manifest(src, dst, src_ref.with_digest(m.digest), dst_ref, m)
    for suffix in only:
        try:
            _copy_manifest(src, dst, LEGACY.tag(source, suffix), LEGACY.tag(dest, suffix))
        except NotFoundError:
            continue
        copied.append(LEGACY.tag(dest, suffix))
    for desc in found:  # every referrer, whichever layout wrote it
        got = _copy_manifest(src, dst, source.repository.digest(desc.digest), dest.repository.digest(desc.digest))
        copied.append(push_referrer(dst, dest.repository, got.data, got.media_type, m.digest,
                                    desc.artifact_type or ""))
    return copied


def read_payload(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigstackError(f"reading {path}: {exc.strerror or exc}") from None
