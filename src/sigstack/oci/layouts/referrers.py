"""OCI 1.1 referrers, shared by the layouts that store by subject (:mod:`.oci11`,
:mod:`.bundle`) and by the commands that carry every referrer (``copy``, ``save``,
``load``, ``tree``, ``clean``).

Registries without the referrers API (distribution 2.8, which the tests run) get what
ggcr gives them (spec §2.10): the ``sha256-<hex>`` fallback index, never prefixed,
with the referrers' descriptors sorted by digest; reads fall back to it the same way.
Concurrent writers of that index lose nothing (:mod:`.merge`).
"""

from __future__ import annotations

from typing import Any

from sigstack.errors import NotFoundError
from sigstack.oci.client import OCI_INDEX, Descriptor, Manifest, RegistryClient, RegistryReader, sha256_digest
from sigstack.oci.layout import referrers_tag
from sigstack.oci.layouts.base import SignedEntity
from sigstack.oci.layouts.merge import read_tag, write_merged
from sigstack.oci.reference import Reference, Repository
from sigstack.payload import gojson


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
    desc = {"mediaType": media_type, "size": len(manifest), "digest": digest, "artifactType": artifact_type}

    def merge(current: Manifest | None) -> tuple[bytes, str] | None:
        entries: list[dict[str, Any]] = []
        if current is not None:
            found = current.json().get("manifests") or []
            if isinstance(found, list):
                entries = [e for e in found if isinstance(e, dict)]
        if any(e.get("digest") == digest for e in entries):
            return None
        entries.append(desc)
        entries.sort(key=lambda e: str(e.get("digest", "")))
        return _index_json(entries), OCI_INDEX

    write_merged(client, tag_ref, read_tag(client, tag_ref), merge, "the referrers index")
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


def referrers(entity: SignedEntity, artifact_type: str | None = None) -> list[Descriptor]:
    """The referrers of the entity's digest in its target repository."""
    return list_referrers(entity.reader, entity.repository, entity.digest, artifact_type)


def push(entity: SignedEntity, manifest: bytes, media_type: str, artifact_type: str) -> Reference:
    """Store ``manifest`` (its blobs already uploaded) as a referrer of the entity."""
    return push_referrer(entity.writer(), entity.repository, manifest, media_type, entity.digest, artifact_type)


def fallback_index(entity: SignedEntity) -> Reference:
    """The ``sha256-<hex>`` index tag a registry without the referrers API keeps them in."""
    return entity.repository.tag(referrers_tag(entity.digest))
