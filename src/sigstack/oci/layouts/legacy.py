"""The legacy layout: ``[prefix]sha256-<hex>.sig``/``.att``/``.sbom`` images in the
target repository, one layer per signature, attestation or SBOM (spec §2.2-§2.8).

Appending reads the current image, adds the new layers at the end and re-PUTs the
whole manifest at the same tag, as cosign does; a missing tag is an empty image. The
image keeps the kind of media types it was written with (Docker or OCI). Unlike
cosign, a layer lost to a concurrent writer is noticed and written again
(:mod:`.merge`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sigstack.errors import NotFoundError, RegistryError
from sigstack.oci.client import DOCKER_MANIFEST, Manifest, RegistryReader, sha256_digest
from sigstack.oci.layout import (
    MAX_LAYERS,
    Layer,
    StoredLayer,
    attachment_tag,
    build_image,
    layer_descriptors,
    push_image,
)
from sigstack.oci.layouts.base import Layout, Record, SignedEntity, fetch_all, layer_records
from sigstack.oci.layouts.merge import read_tag, write_merged
from sigstack.oci.reference import Reference, Repository

NAME = "legacy"
SUFFIXES = {"signature": "sig", "attestation": "att", "sbom": "sbom"}


class LegacyTags(Layout):
    """Signatures in ``.sig``, attestations in ``.att``, an SBOM in ``.sbom``."""

    name = NAME

    def tag(self, entity: SignedEntity, suffix: str) -> Reference:
        """``[prefix]sha256-<hex>.<suffix>`` in the target repository."""
        return entity.repository.tag(attachment_tag(entity.digest, suffix, entity.tag_prefix))

    def manifest(self, entity: SignedEntity, suffix: str) -> Manifest | None:
        """The attachment image's manifest, or None when the tag does not exist."""
        try:
            return entity.reader.get_manifest(self.tag(entity, suffix))
        except NotFoundError:
            return None

    def records(self, entity: SignedEntity, suffix: str) -> list[Record]:
        manifest = self.manifest(entity, suffix)
        return [] if manifest is None else layer_records(NAME, entity, manifest)

    def signatures(self, entity: SignedEntity) -> list[Record]:
        return self.records(entity, "sig")

    def attestations(self, entity: SignedEntity) -> list[Record]:
        return self.records(entity, "att")

    def sboms(self, entity: SignedEntity) -> list[Record]:
        return self.records(entity, "sbom")

    def references(self, entity: SignedEntity) -> list[Reference]:
        return [self.tag(entity, s) for s in SUFFIXES.values()]

    def read(self, entity: SignedEntity, suffix: str, workers: int = 10) -> list[StoredLayer]:
        """Every layer of the attachment image with its content (none if it is missing)."""
        return fetch_all(self.records(entity, suffix), workers)

    def append(self, entity: SignedEntity, suffix: str, new: Iterable[Layer], *,
               duplicate: Callable[[StoredLayer, Layer], bool] | None = None,
               finalize: Callable[[Layer], Mapping[str, str]] | None = None) -> Reference:
        """Append ``new`` at the end of the attachment image and re-PUT it (spec §2.6).
        A layer for which ``duplicate(existing, new)`` holds is not added again.

        ``finalize(layer)`` gives annotations to add to each new layer once its blob and
        the config are uploaded, just before the manifest is built: annotations live in
        the manifest only, so a signature can still be in the making (its key loading on
        another thread) while the blobs go up.
        """
        client, repo = entity.writer(), entity.repository
        ref = self.tag(entity, suffix)
        docker_types = entity.docker_types
        current = read_tag(client, ref)
        fetched: dict[str, list[StoredLayer]] = {}

        def layers_of(manifest: Manifest) -> list[StoredLayer]:
            if manifest.digest not in fetched:
                fetched[manifest.digest] = fetch_all(layer_records(NAME, entity, manifest))
            return fetched[manifest.digest]

        existing: list[StoredLayer] = []
        if current is not None:
            existing = layers_of(current)
            docker_types = docker_types or current.media_type == DOCKER_MANIFEST  # keep the image's kind
        added = [layer for layer in new
                 if duplicate is None or not any(duplicate(s, layer) for s in existing)]
        if len(existing) + len(added) > MAX_LAYERS:
            raise RegistryError(f"number of layers ({len(existing) + len(added)}) exceeded the limit ({MAX_LAYERS})")
        for layer in added:  # the existing layers' blobs were just read from this repository
            client.upload_blob(repo, layer.data, layer.digest)
        if finalize is not None:
            added = [Layer(a.media_type, a.data, {**a.annotations, **finalize(a)}) for a in added]

        def merge(now: Manifest | None) -> tuple[bytes, str] | None:
            """The image with our layers that ``now`` lacks appended (spec §2.6)."""
            stored = [] if now is None else layer_descriptors(now)
            missing = [a for a in added if not any(_same_layer(d, a) for d in stored)]
            if not missing:
                return None
            kept = [] if now is None else [s.as_layer() for s in layers_of(now)]
            if len(kept) + len(missing) > MAX_LAYERS:
                raise RegistryError(f"number of layers ({len(kept) + len(missing)}) exceeded the limit "
                                    f"({MAX_LAYERS})")
            image = build_image(kept + missing, docker_types=docker_types)
            client.upload_blob(repo, image.config, sha256_digest(image.config))  # layer digests only
            return image.manifest, image.media_type

        write_merged(client, ref, current, merge, f"the .{suffix} image")
        return ref

    def replace(self, entity: SignedEntity, suffix: str, layers: Iterable[Layer]) -> Reference:
        """Write the attachment image anew with just ``layers`` (``.sbom``, ``attest --replace``)."""
        where = self.tag(entity, suffix)
        push_image(entity.writer(), where, build_image(layers, docker_types=entity.docker_types))
        return where

    def add_signature(self, entity: SignedEntity, layer: Layer, *,
                      duplicate: Callable[[StoredLayer, Layer], bool] | None = None,
                      finalize: Callable[[Layer], Mapping[str, str]] | None = None) -> Reference:
        return self.append(entity, "sig", [layer], duplicate=duplicate, finalize=finalize)

    def add_attestations(self, entity: SignedEntity, layers: Iterable[Layer], *,
                         duplicate: Callable[[StoredLayer, Layer], bool] | None = None) -> Reference:
        return self.append(entity, "att", layers, duplicate=duplicate)

    def replace_attestations(self, entity: SignedEntity, layer: Layer,
                             keep: Callable[[StoredLayer], bool]) -> Reference:
        """cosign's ``attest --replace``: the image rebuilt from empty with ``layer`` first,
        then the current attestations for which ``keep`` holds."""
        kept = [s.as_layer() for s in self.read(entity, "att") if keep(s)]
        return self.replace(entity, "att", [layer, *kept])

    def add_sbom(self, entity: SignedEntity, layer: Layer) -> Reference:
        return self.replace(entity, "sbom", [layer])


LEGACY = LegacyTags()


def _same_layer(descriptor: Mapping[str, Any], layer: Layer) -> bool:
    """Whether a stored descriptor is exactly ``layer``: signatures live in annotations, so
    two signers' layers share a digest and differ only there."""
    ann = descriptor.get("annotations") or {}
    return (descriptor.get("digest") == layer.digest and descriptor.get("mediaType") == layer.media_type
            and isinstance(ann, dict) and ann == dict(layer.annotations))


def read_attachment(client: RegistryReader, repo: Repository, digest: str, suffix: str,
                    workers: int = 10, *, prefix: str = "") -> list[StoredLayer]:
    """Layers of ``repo:[prefix]sha256-<hex>.<suffix>`` with their content; a missing
    tag is empty. (For callers that have a repository rather than a signed entity.)"""
    return LEGACY.read(SignedEntity.at(client, repo, digest, tag_prefix=prefix), suffix, workers)
