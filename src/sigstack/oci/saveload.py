"""``save`` an image with its signatures to an OCI layout directory and ``load`` it back
into a registry, in cosign's on-disk format (see :mod:`sigstack.oci.ocilayout` for the
format facts), so that a directory written by either tool is read by the other.

What is carried, as cosign v3 does: the image (or a multi-platform index with all its
platform images), the ``.sig`` and ``.att`` images of that digest, and the OCI 1.1
referrers of that digest that have an ``artifactType`` (Sigstore bundles among them).
Unlike cosign v3.1.3, whose ``load`` pushes the bundle referrers only when the
directory holds no ``.att`` image, ``load`` here pushes every referrer whose subject
is the image.

``load`` checks every blob it will push (presence, size, digest) before it pushes
anything, so a damaged directory leaves the registry untouched; it then pushes blobs
before the manifests that name them, the image first and its attachments after.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sigstack._internal import safejson
from sigstack.errors import LayoutError, SigstackError
from sigstack.oci import layout
from sigstack.oci.client import INDEX_TYPES, OCI_MANIFEST, Manifest, RegistryClient
from sigstack.oci.layouts import LEGACY, SignedEntity
from sigstack.oci.layouts.referrers import push, referrers
from sigstack.oci.ocilayout import (
    KIND_ATTS,
    KIND_IMAGE,
    KIND_INDEX,
    KIND_SIGS,
    LayoutWriter,
    OciLayout,
    check_digest,
)
from sigstack.oci.reference import Reference, Repository

MAX_DEPTH = 4  # index -> index -> manifest is already unusual
Tree = list[tuple[Manifest, list[tuple[str, int]]]]  # manifests, children first, with verified blobs


def _blob_descriptors(m: Manifest) -> list[tuple[str, int | None]]:
    """(digest, size) of the config and layers of an image manifest."""
    doc = m.json()
    out: list[tuple[str, int | None]] = []
    items: Iterable[Any] = [doc.get("config"), *(doc.get("layers") or [])]
    if len(doc.get("layers") or []) > 10000:
        raise SigstackError(f"manifest {m.digest} has too many layers")
    for d in items:
        if not isinstance(d, dict):
            continue
        size = d.get("size")
        out.append((check_digest(d.get("digest"), f"manifest {m.digest}"),
                    size if isinstance(size, int) and not isinstance(size, bool) else None))
    return out


def _children(m: Manifest) -> list[tuple[str, str | None]]:
    doc = m.json()
    out = []
    for d in doc.get("manifests") or []:
        if isinstance(d, dict):
            mt = d.get("mediaType")
            out.append((check_digest(d.get("digest"), f"index {m.digest}"), mt if isinstance(mt, str) else None))
    return out


# ---- save --------------------------------------------------------------------------------

@dataclass
class SaveResult:
    digest: str
    kinds: list[str] = field(default_factory=list)  # index.json kinds written
    referrers: list[str] = field(default_factory=list)  # referrer manifests written as blobs


def _save_blob(client: RegistryClient, repo: Repository, w: LayoutWriter, digest: str) -> None:
    """Stream a blob of any size to its file (through a temporary name, so a blob file
    is always whole); the client checks the digest before the rename."""
    if w.has_blob(digest):
        return
    path = w.blob_path(digest)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", delete=False) as spool:
        try:
            client.stream_blob(repo, digest, spool)
        except BaseException:
            spool.close()
            os.unlink(spool.name)
            raise
    os.chmod(spool.name, 0o644)  # like the other files, not the temporary file's 0600
    os.replace(spool.name, path)


def _save_manifest(client: RegistryClient, repo: Repository, w: LayoutWriter, m: Manifest,
                   depth: int = 0) -> None:
    """A manifest with everything it names: blobs first, the manifest blob last."""
    if depth > MAX_DEPTH:
        raise SigstackError(f"index {m.digest} nests deeper than {MAX_DEPTH} levels")
    if m.media_type in INDEX_TYPES:
        for child, _mt in _children(m):
            _save_manifest(client, repo, w, client.get_manifest(repo.digest(child)), depth + 1)
    else:
        for digest, _size in _blob_descriptors(m):
            _save_blob(client, repo, w, digest)
    w.write_blob(m.digest, m.data)


def save(client: RegistryClient, ref: Reference, directory: str, *, tag_prefix: str = "",
         target_repository: str | None = None) -> SaveResult:
    """Write ``ref`` (image or index), its ``.sig``/``.att`` images and its referrers to
    a new OCI layout at ``directory``; nothing appears there unless all of it was saved.
    The attachments are read from ``target_repository`` (None: beside the image)."""
    layout.check_tag_prefix(tag_prefix)
    m = client.get_manifest(ref)
    repo = ref.repository
    entity = SignedEntity.at(client, repo, m.digest, target_repository=target_repository, tag_prefix=tag_prefix)
    target = entity.repository  # where sign/attest put attachments and referrers
    result = SaveResult(m.digest)
    with LayoutWriter(directory) as w:
        for desc in referrers(entity):  # whichever layout wrote them
            if not desc.artifact_type:  # as cosign: referrers without an artifactType are not saved
                continue
            _save_manifest(client, target, w, client.get_manifest(target.digest(desc.digest)))
            result.referrers.append(desc.digest)
        _save_manifest(client, repo, w, m)
        kind = KIND_INDEX if m.media_type in INDEX_TYPES else KIND_IMAGE
        w.add(m.descriptor(), kind, m.data)
        result.kinds.append(kind)
        for suffix, att_kind in (("sig", KIND_SIGS), ("att", KIND_ATTS)):
            att = LEGACY.manifest(entity, suffix)
            if att is None:
                continue
            _save_manifest(client, target, w, att)
            w.add(att.descriptor(), att_kind, att.data)
            result.kinds.append(att_kind)
        w.commit()
    return result


# ---- load --------------------------------------------------------------------------------

@dataclass
class LoadResult:
    image: Reference
    digest: str
    attachments: list[Reference] = field(default_factory=list)


def _check_tree(lay: OciLayout, m: Manifest, depth: int = 0) -> Tree:
    """Every manifest under ``m`` (children first) with its verified blobs."""
    if depth > MAX_DEPTH:
        raise LayoutError(f"index {m.digest} nests deeper than {MAX_DEPTH} levels")
    if m.media_type in INDEX_TYPES:
        out: Tree = []
        for child, mt in _children(m):
            out += _check_tree(lay, lay.manifest(child, mt), depth + 1)
        return [*out, (m, [])]
    return [(m, [(d, lay.verify_blob(d, size)) for d, size in _blob_descriptors(m)])]


def _push_blobs(client: RegistryClient, lay: OciLayout, repo: Repository, blobs: list[tuple[str, int]]) -> None:
    for digest, size in blobs:
        if not client.blob_exists(repo, digest):
            with lay.open_verified(digest, size) as (fh, length):
                client.upload_blob(repo, fh, digest, length)


def _push_tree(client: RegistryClient, lay: OciLayout, repo: Repository, tree: Tree,
               final: Reference | None) -> Manifest:
    """Blobs, then child manifests by digest, then the top one's blobs and, with ``final``,
    the top manifest there (the caller pushes it otherwise)."""
    for m, blobs in tree[:-1]:
        _push_blobs(client, lay, repo, blobs)
        client.put_manifest(repo.digest(m.digest), m.data, m.media_type)
    top, blobs = tree[-1]
    _push_blobs(client, lay, repo, blobs)
    if final is not None:
        client.put_manifest(final, top.data, top.media_type)
    return top


def load(client: RegistryClient, directory: str, ref: Reference, *, tag_prefix: str = "",
         target_repository: str | None = None) -> LoadResult:
    """Push what ``directory`` holds to ``ref``: the image or index, then its signatures
    and attestations (to ``sha256-<hex>.sig``/``.att`` in ``target_repository``, None:
    beside the image), then its referrers."""
    layout.check_tag_prefix(tag_prefix)
    lay = OciLayout(directory, client.options.max_blob_bytes)
    subject = lay.subject()
    image = _check_tree(lay, lay.entry_manifest(subject))
    if ref.digest and ref.digest != subject.digest:
        raise SigstackError(f"{directory} holds {subject.digest}, not {ref.digest}: give a tag or that digest")
    attachments: list[tuple[str, Tree]] = []
    for suffix, kind in (("sig", KIND_SIGS), ("att", KIND_ATTS)):
        e = lay.find(kind)
        if e is not None:
            attachments.append((suffix, _check_tree(lay, lay.entry_manifest(e))))
    found = []
    for digest, doc in lay.referrer_manifests(subject.digest):
        if not doc.get("artifactType") and not (doc.get("annotations") or {}).get(
                "dev.sigstore.bundle.predicateType"):
            continue
        m = lay.manifest(digest, str(doc.get("mediaType") or OCI_MANIFEST))
        found.append((m, _check_tree(lay, m), str(doc.get("artifactType") or "")))

    digest = _push_tree(client, lay, ref.repository, image, ref).digest
    result = LoadResult(ref, digest)
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    for suffix, tree in attachments:
        tag = LEGACY.tag(entity, suffix)
        _push_tree(client, lay, entity.repository, tree, tag)
        result.attachments.append(tag)
    for m, tree, artifact_type in found:
        _push_tree(client, lay, entity.repository, tree, None)
        result.attachments.append(push(entity, m.data, m.media_type, artifact_type or _config_type(m)))
    return result


def _config_type(m: Manifest) -> str:
    try:
        cfg = safejson.loads(m.data).get("config") or {}
        return str(cfg.get("mediaType") or "")
    except (ValueError, AttributeError):
        return ""
