"""The wire format every storage layout (:mod:`sigstack.oci.layouts`) writes and reads:
media types and annotation keys, attachment tag names, and attachment images.

Manifests and configs are written as go-containerregistry writes them (field
order, compact JSON) so that a ``.sig`` image we append to is byte-identical to
one cosign would produce from the same layers (spec §2.3, §2.6, §2.10). Where each
layout keeps its images, and how it appends to them, is the layout's own module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sigstack._internal import safejson
from sigstack.bundle.models import BUNDLE_V03
from sigstack.errors import RegistryError
from sigstack.oci.client import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    RegistryClient,
    RegistryReader,
    sha256_digest,
)
from sigstack.oci.reference import Reference, Repository
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
TIMESTAMP_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"  # {"SignedRFC3161Timestamp": b64 DER}
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


def index_children(manifest: Manifest) -> list[str]:
    doc = manifest.json()
    items = doc.get("manifests") or []
    if not isinstance(items, list):  # "manifests": true was a TypeError traceback
        raise RegistryError(f"index {manifest.digest} has no manifests list")
    return [str(m["digest"]) for m in items if isinstance(m, dict) and isinstance(m.get("digest"), str)]


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = safejson.loads(data)
    except ValueError:
        raise RegistryError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value
