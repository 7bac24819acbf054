"""Where cosign keeps things in a registry: ``[prefix]sha256-<hex>.sig``/``.att``/``.sbom``
tags and OCI 1.1 referrers (with the ``sha256-<hex>`` index-tag fallback, never prefixed).

Manifests and configs are written as go-containerregistry writes them (field
order, compact JSON) so that a ``.sig`` image we append to is byte-identical to
one cosign would produce from the same layers (spec §2.3, §2.6, §2.10).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sigstack.bundle.models import BUNDLE_V03
from sigstack.errors import NotFoundError, ReferenceError, RegistryError
from sigstack.oci.client import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    RegistryClient,
    RegistryReader,
    sha256_digest,
)
from sigstack.oci.reference import Reference, Repository, parse_repository
from sigstack.oci.reference import check_tag_prefix as check_tag_prefix  # re-exported: the layout's rule
from sigstack.payload import gojson

SIMPLESIGNING_MEDIA = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA = "application/vnd.dsse.envelope.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_ARTIFACT = "application/vnd.dev.cosign.artifact.sbom.v1+json"
BUNDLE_MEDIA = BUNDLE_V03  # the bundle is the layer, and names the referrer's artifact type
EMPTY_MEDIA = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
MAX_LAYERS = 1000
_ZERO_TIME = "0001-01-01T00:00:00Z"


def attachment_tag(digest: str, suffix: str, prefix: str = "") -> str:
    """``[prefix]sha256-<hex>.sig``. ``prefix`` is cosign's ``--attachment-tag-prefix``
    (check it first with :func:`check_tag_prefix`); an empty suffix gives
    ``[prefix]sha256-<hex>``, which is what ``copy`` tags the image itself with."""
    base = prefix + digest.replace(":", "-")
    return f"{base}.{suffix}" if suffix else base


def referrers_tag(digest: str) -> str:
    """The OCI 1.1 referrers fallback index tag ``sha256-<hex>``. Never prefixed: ggcr
    computes it (``remote.fallbackTag``) without knowing cosign's tag prefix, so cosign
    with ``--attachment-tag-prefix`` still writes and reads the bare tag."""
    return digest.replace(":", "-")


def target_repository(image: Repository, override: str | None = None) -> Repository:
    """The image's repository, or ``COSIGN_REPOSITORY`` when set."""
    value = override if override is not None else os.environ.get("COSIGN_REPOSITORY", "")
    if not value:
        return image
    try:
        return parse_repository(value)
    except ReferenceError as exc:
        raise RegistryError(f"parsing COSIGN_REPOSITORY: {exc}") from None


def docker_media_types() -> bool:
    return os.environ.get("COSIGN_DOCKER_MEDIA_TYPES", "").strip() in (
        "1", "t", "T", "true", "TRUE", "True")


@dataclass(frozen=True)
class Layer:
    """One signature/attestation/SBOM layer: the raw content and its annotations."""

    media_type: str
    data: bytes
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out


def config_json(layers: Iterable[Layer]) -> bytes:
    """The image config ggcr computes for layers appended to ``empty.Image``."""
    diff_ids = [layer.digest for layer in layers]
    return gojson.dumps({
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in diff_ids],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    })


@dataclass(frozen=True)
class BuiltImage:
    manifest: bytes
    media_type: str
    config: bytes
    config_media_type: str
    layers: tuple[Layer, ...]


def build_image(layers: Iterable[Layer], *, docker_types: bool = False, config_media_type: str | None = None,
                subject: Descriptor | None = None, artifact_type: str | None = None) -> BuiltImage:
    layers = tuple(layers)
    config = config_json(layers)
    media = DOCKER_MANIFEST if docker_types else OCI_MANIFEST
    cmt = config_media_type or (DOCKER_CONFIG if docker_types else OCI_CONFIG)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media,
        "config": {"mediaType": cmt, "size": len(config), "digest": sha256_digest(config)},
        "layers": [layer.descriptor_json() for layer in layers],
    }
    if subject is not None:
        doc["subject"] = {"mediaType": subject.media_type, "size": subject.size, "digest": subject.digest}
    if artifact_type:
        doc["artifactType"] = artifact_type
    return BuiltImage(gojson.dumps(doc), media, config, cmt, layers)


def push_image(client: RegistryClient, ref: Reference, image: BuiltImage) -> str:
    """Blobs first, config next, manifest last (so a failure leaves no new manifest)."""
    repo = ref.repository
    for layer in image.layers:
        client.upload_blob(repo, layer.data, layer.digest)
    client.upload_blob(repo, image.config, sha256_digest(image.config))
    return client.put_manifest(ref, image.manifest, image.media_type)


@dataclass(frozen=True)
class StoredLayer:
    media_type: str
    digest: str
    data: bytes
    annotations: Mapping[str, str]

    def as_layer(self) -> Layer:
        return Layer(self.media_type, self.data, dict(self.annotations))


def layer_descriptors(manifest: Manifest) -> list[dict[str, Any]]:
    doc = manifest.json()
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise RegistryError(f"manifest {manifest.digest} has no layers list")
    if len(layers) > MAX_LAYERS:
        raise RegistryError(f"number of layers ({len(layers)}) exceeded the limit ({MAX_LAYERS})")
    out = []
    for d in layers:
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str):
            raise RegistryError(f"manifest {manifest.digest} has a malformed layer descriptor")
        out.append(d)
    return out


def fetch_layer(client: RegistryReader, repo: Repository, descriptor: Mapping[str, Any]) -> StoredLayer:
    """One layer (a descriptor from :func:`layer_descriptors`) with its content,
    checked against its digest and bounded in size."""
    digest = str(descriptor["digest"])
    size = descriptor.get("size")
    if isinstance(size, int) and size > client.options.max_blob_bytes:
        raise RegistryError(f"layer {digest} is {size} bytes, over the "
                            f"{client.options.max_blob_bytes}-byte attachment limit")
    data = client.get_blob(repo, digest)
    ann = descriptor.get("annotations") or {}
    return StoredLayer(str(descriptor.get("mediaType", "")), digest, data,
                       {str(k): str(v) for k, v in ann.items()} if isinstance(ann, dict) else {})


def read_layers(client: RegistryReader, repo: Repository, manifest: Manifest,
                workers: int = 10) -> list[StoredLayer]:
    """Every layer of ``manifest`` with its content (fetched concurrently, each
    checked against its digest and bounded in size)."""
    descs = layer_descriptors(manifest)
    if len(descs) <= 1:
        return [fetch_layer(client, repo, d) for d in descs]
    from concurrent.futures import ThreadPoolExecutor  # only when there is something to share

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(descs)))) as pool:
        return list(pool.map(lambda d: fetch_layer(client, repo, d), descs))


def read_attachment(client: RegistryReader, repo: Repository, digest: str, suffix: str,
                    workers: int = 10, *, prefix: str = "") -> list[StoredLayer]:
    """Layers of the ``[prefix]sha256-<hex>.sig``/``.att``/``.sbom`` image; a missing
    tag is empty."""
    ref = repo.tag(attachment_tag(digest, suffix, prefix))
    try:
        manifest = client.get_manifest(ref)
    except NotFoundError:
        return []
    return read_layers(client, repo, manifest, workers)


def append_layers(client: RegistryClient, repo: Repository, digest: str, suffix: str,
                  new: Iterable[Layer], *, duplicate: Callable[[StoredLayer, Layer], bool] | None = None,
                  docker_types: bool = False,
                  finalize: Callable[[Layer], Mapping[str, str]] | None = None,
                  prefix: str = "") -> Reference:
    """Append ``new`` at the end of the attachment image and re-PUT it (spec §2.6).
    A layer for which ``duplicate(existing, new)`` holds is not added again.

    ``finalize(layer)`` gives annotations to add to each new layer once its blob and
    the config are uploaded, just before the manifest is built: annotations live in
    the manifest only, so a signature can still be in the making (its key loading on
    another thread) while the blobs go up. ``prefix`` is the attachment tag prefix.
    """
    ref = repo.tag(attachment_tag(digest, suffix, prefix))
    try:
        current = client.get_manifest(ref)
        existing = read_layers(client, repo, current)
        docker_types = docker_types or current.media_type == DOCKER_MANIFEST  # keep the image's kind
    except NotFoundError:
        existing = []
    added = [layer for layer in new
             if duplicate is None or not any(duplicate(s, layer) for s in existing)]
    kept = [s.as_layer() for s in existing]
    if len(kept) + len(added) > MAX_LAYERS:
        raise RegistryError(f"number of layers ({len(kept) + len(added)}) exceeded the limit ({MAX_LAYERS})")
    for layer in added:  # the existing layers' blobs were just read from this repository
        client.upload_blob(repo, layer.data, layer.digest)
    config = config_json(kept + added)  # layer digests only: annotations do not change it
    client.upload_blob(repo, config, sha256_digest(config))
    if finalize is not None:
        added = [Layer(a.media_type, a.data, {**a.annotations, **finalize(a)}) for a in added]
    image = build_image(kept + added, docker_types=docker_types)
    client.put_manifest(ref, image.manifest, image.media_type)
    return ref


# ---- OCI 1.1 referrers ---------------------------------------------------------------

def _index_json(manifests: list[dict[str, Any]]) -> bytes:
    return gojson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})


def push_referrer(client: RegistryClient, repo: Repository, manifest: bytes, media_type: str,
                  subject_digest: str, artifact_type: str) -> Reference:
    """PUT a referrer by digest; when the registry lacks the referrers API, add it to
    the ``sha256-<hex>`` fallback index as ggcr does (sorted by digest)."""
    digest = sha256_digest(manifest)
    ref = repo.digest(digest)
    client.put_manifest(ref, manifest, media_type)
    if client.referrers(repo, subject_digest) is not None:
        return ref
    tag_ref = repo.tag(referrers_tag(subject_digest))
    entries: list[dict[str, Any]] = []
    try:
        current = client.get_manifest(tag_ref).json()
        found = current.get("manifests") or []
        if isinstance(found, list):
            entries = [e for e in found if isinstance(e, dict)]
    except NotFoundError:
        pass
    desc = {"mediaType": media_type, "size": len(manifest), "digest": digest, "artifactType": artifact_type}
    if not any(e.get("digest") == digest for e in entries):
        entries.append(desc)
    entries.sort(key=lambda e: str(e.get("digest", "")))
    client.put_manifest(tag_ref, _index_json(entries), OCI_INDEX)
    return ref


def list_referrers(client: RegistryReader, repo: Repository, digest: str,
                   artifact_type: str | None = None) -> list[Descriptor]:
    """Referrers of ``digest``: the API when the registry has it, else the fallback tag."""
    index = client.referrers(repo, digest, artifact_type)
    if index is None:
        try:
            index = client.get_manifest(repo.tag(referrers_tag(digest))).json()
        except NotFoundError:
            return []
    found = index.get("manifests") or []
    out: list[Descriptor] = []
    for e in found if isinstance(found, list) else []:
        if not isinstance(e, dict) or not isinstance(e.get("digest"), str):
            continue
        at = e.get("artifactType")
        if artifact_type and at != artifact_type:
            continue
        ann = e.get("annotations")
        out.append(Descriptor(str(e.get("mediaType", "")), int(e.get("size", 0)), e["digest"],
                              str(at) if at else None,
                              {str(k): str(v) for k, v in ann.items()} if isinstance(ann, dict) else None))
    return out


def bundle_manifest(bundle: bytes, subject: Descriptor, predicate_type: str, created: str) -> bytes:
    """The referrer manifest cosign v3 writes for a Sigstore bundle (spec §2.10)."""
    return gojson.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY_MEDIA, "size": 2, "digest": sha256_digest(EMPTY_JSON),
                   "artifactType": BUNDLE_MEDIA},
        "layers": [{"mediaType": BUNDLE_MEDIA, "size": len(bundle), "digest": sha256_digest(bundle)}],
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                        "dev.sigstore.bundle.predicateType": predicate_type,
                        "org.opencontainers.image.created": created},
        "subject": {"mediaType": subject.media_type, "size": subject.size, "digest": subject.digest},
        "artifactType": BUNDLE_MEDIA,
    })


def index_children(manifest: Manifest) -> list[str]:
    doc = manifest.json()
    items = doc.get("manifests") or []
    return [str(m["digest"]) for m in items if isinstance(m, dict) and isinstance(m.get("digest"), str)]


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise RegistryError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value
