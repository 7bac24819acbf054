"""The Sigstore bundle layout, cosign v3's default (spec §2.10): each signature or
attestation is a bundle v0.3 document, the one layer of a referrer manifest pushed by
its own digest, with an empty ``{}`` config.

Reading follows cosign's ``GetBundles``: every referrer of the image (no artifactType
filter) whose manifest has exactly one layer of a bundle media type holding a v0.3+
bundle; the others are skipped. Signatures and attestations are the same list: what a
bundle is about is in its statement.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sigstack.errors import VerificationError
from sigstack.oci.client import OCI_MANIFEST, Descriptor, sha256_digest
from sigstack.oci.layout import BUNDLE_MEDIA, EMPTY_JSON, EMPTY_MEDIA, parse_json
from sigstack.oci.layouts import referrers
from sigstack.oci.layouts.base import Layout, Record, SignedEntity, StoredBundle, fetch_valid
from sigstack.oci.reference import Reference
from sigstack.payload import gojson

NAME = "bundle"
_BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"


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


def _fetch(entity: SignedEntity, manifest_digest: str) -> StoredBundle:
    """The DSSE bundle a referrer holds, parsed; an error when it holds none."""
    from sigstack.bundle.models import Bundle
    from sigstack.errors import BundleError
    from sigstack.payload.dsse import Envelope

    manifest = entity.reader.get_manifest(entity.repository.digest(manifest_digest))
    layers = parse_json(manifest.data, "referrer manifest").get("layers") or []
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict) \
            or not str(layers[0].get("mediaType", "")).startswith(_BUNDLE_PREFIX) \
            or not isinstance(layers[0].get("digest"), str):
        raise VerificationError("not a bundle referrer")
    layer = layers[0]
    digest = layer["digest"]
    data = entity.reader.get_blob(entity.repository, digest)
    try:
        found = Bundle.from_json(data)
    except BundleError as exc:
        raise VerificationError(exc.message) from None
    if not isinstance(found.content, Envelope):
        raise VerificationError("the bundle holds no DSSE envelope")
    return StoredBundle(str(layer["mediaType"]), digest, data, {}, found, manifest.digest)


class BundleReferrers(Layout):
    name = NAME

    def signatures(self, entity: SignedEntity) -> list[Record]:
        """A candidate per referrer of the image; one that holds no valid bundle fails
        when fetched (:meth:`read` skips those)."""

        def reader(digest: str) -> Record:
            return Record(NAME, digest, lambda: _fetch(entity, digest))

        return [reader(d.digest) for d in referrers.referrers(entity)]

    def attestations(self, entity: SignedEntity) -> list[Record]:
        return self.signatures(entity)

    def read(self, entity: SignedEntity, workers: int = 10) -> list[StoredBundle]:
        """Every valid bundle stored for the entity, fetched concurrently, in listing order."""
        return [s for s in fetch_valid(self.signatures(entity), workers) if isinstance(s, StoredBundle)]

    def references(self, entity: SignedEntity) -> list[Reference]:
        return [entity.repository.digest(d.digest) for d in referrers.referrers(entity)
                if d.artifact_type == BUNDLE_MEDIA]

    def add(self, entity: SignedEntity, document: bytes, predicate_type: str) -> Reference:
        """Upload ``{}``, the bundle, then the referrer manifest by digest (spec §2.10)."""
        client = entity.writer()
        subject = entity.descriptor()
        client.upload_blob(entity.repository, EMPTY_JSON, sha256_digest(EMPTY_JSON))
        client.upload_blob(entity.repository, document, sha256_digest(document))
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        manifest = bundle_manifest(document, subject, predicate_type, created)
        return referrers.push(entity, manifest, OCI_MANIFEST, BUNDLE_MEDIA)


BUNDLES = BundleReferrers()
