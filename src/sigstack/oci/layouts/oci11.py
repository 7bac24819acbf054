"""The ``oci-1-1`` layout (``--registry-referrers-mode=oci-1-1``, spec §2.8, §2.9): the
``.sig``-style image (or the ``.sbom`` one) pushed by its own digest as an OCI 1.1
referrer of the image, its config media type and ``artifactType`` naming what it is.

Readers take the newest signature referrer only (the last one listed), as cosign's
``verify --experimental-oci11`` does, and every SBOM referrer.

Attestations stored as referrers (cosign's ``WriteAttestationsReferrer``: the ``.att``
image's DSSE layers in a manifest whose ``artifactType`` is ``application/vnd.in-toto+json``)
are every referrer whose artifact type names in-toto, as policy-controller's
``enable-oci11`` lookup selects them.
"""

from __future__ import annotations

from sigstack.oci.client import Manifest, sha256_digest
from sigstack.oci.layout import SBOM_ARTIFACT, SIG_ARTIFACT, BuiltImage, Layer, build_image
from sigstack.oci.layouts import referrers
from sigstack.oci.layouts.base import Layout, Record, SignedEntity, layer_records
from sigstack.oci.reference import Reference

NAME = "oci-1-1"


class Oci11Referrers(Layout):
    name = NAME

    def signatures(self, entity: SignedEntity) -> list[Record]:
        found = referrers.referrers(entity, SIG_ARTIFACT)
        if not found:
            return []
        manifest = entity.reader.get_manifest(entity.repository.digest(found[-1].digest))
        return layer_records(NAME, entity, manifest)

    def attestations(self, entity: SignedEntity) -> list[Record]:
        """Every layer of every in-toto referrer (artifact type containing ``in-toto``)."""
        out: list[Record] = []
        for d in referrers.referrers(entity):
            if d.artifact_type and "in-toto" in d.artifact_type:
                out += layer_records(NAME, entity, entity.reader.get_manifest(entity.repository.digest(d.digest)))
        return out

    def sbom_manifests(self, entity: SignedEntity) -> list[Manifest]:
        """Every SBOM referrer's manifest (each may hold several layers)."""
        return [entity.reader.get_manifest(entity.repository.digest(d.digest))
                for d in referrers.referrers(entity, SBOM_ARTIFACT)]

    def sboms(self, entity: SignedEntity) -> list[Record]:
        return [r for m in self.sbom_manifests(entity) for r in layer_records(NAME, entity, m)]

    def references(self, entity: SignedEntity) -> list[Reference]:
        return [entity.repository.digest(d.digest) for d in referrers.referrers(entity)
                if d.artifact_type in (SIG_ARTIFACT, SBOM_ARTIFACT)]

    def _push(self, entity: SignedEntity, image: BuiltImage, artifact_type: str) -> Reference:
        client = entity.writer()
        for layer in image.layers:
            client.upload_blob(entity.repository, layer.data, layer.digest)
        client.upload_blob(entity.repository, image.config, sha256_digest(image.config))
        return referrers.push(entity, image.manifest, image.media_type, artifact_type)

    def add_signature(self, entity: SignedEntity, layer: Layer) -> Reference:
        """The one-layer ``.sig``-style image as a referrer (its own ``artifactType`` set)."""
        image = build_image([layer], docker_types=entity.docker_types, config_media_type=SIG_ARTIFACT,
                            subject=entity.descriptor(), artifact_type=SIG_ARTIFACT)
        return self._push(entity, image, SIG_ARTIFACT)

    def add_sbom(self, entity: SignedEntity, layer: Layer) -> Reference:
        """The SBOM as a referrer: OCI media types and no ``artifactType`` field, as cosign
        writes it (the config media type says what it is)."""
        image = build_image([layer], config_media_type=SBOM_ARTIFACT, subject=entity.descriptor())
        return self._push(entity, image, SBOM_ARTIFACT)


OCI11 = Oci11Referrers()
