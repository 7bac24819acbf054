"""Read-only views of what is attached to an image: ``triangulate`` and ``tree``."""

from __future__ import annotations

from dataclasses import dataclass

from sigstack.oci import layout
from sigstack.oci.client import Descriptor, RegistryClient
from sigstack.oci.layouts import LEGACY, SignedEntity
from sigstack.oci.layouts.legacy import SUFFIXES
from sigstack.oci.layouts.referrers import list_referrers
from sigstack.oci.reference import Reference


def triangulate(client: RegistryClient, ref: Reference, kind: str = "signature", *,
                tag_prefix: str = "", target_repository: str | None = None) -> str:
    """Where cosign would store ``kind`` for ``ref`` (tag name), or ``repo@digest``.

    ``tag_prefix`` (cosign's ``--attachment-tag-prefix``) prefixes the tag names. For
    ``digest`` it is left out: cosign then prints ``repo@<prefix>sha256:<hex>``, which is
    not a reference at all."""
    layout.check_tag_prefix(tag_prefix)
    digest = ref.digest or client.head_manifest(ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    if kind == "digest":  # in the target repository (COSIGN_REPOSITORY), as cosign prints it
        return f"{entity.repository.name}@{digest}"
    return LEGACY.tag(entity, SUFFIXES[kind]).name


@dataclass(frozen=True)
class Tree:
    digest: str
    tags: dict[str, list[str]]  # kind -> layer digests, for kinds that exist
    tag_names: dict[str, str]
    referrers: list[tuple[Descriptor, str, list[str]]]  # (descriptor, kind, layer digests)


def tree(client: RegistryClient, ref: Reference, referrers: bool = True, *, tag_prefix: str = "",
         target_repository: str | None = None) -> Tree:
    """What is attached to ``ref``: the three legacy tags (``[tag_prefix]sha256-<hex>.*``)
    and (as cosign v3 does by default) every OCI 1.1 referrer, named by its predicate
    type or artifact type."""
    layout.check_tag_prefix(tag_prefix)
    digest = client.head_manifest(ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    repo = entity.repository
    tags: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for kind, suffix in SUFFIXES.items():
        manifest = LEGACY.manifest(entity, suffix)
        if manifest is None:
            continue
        doc = manifest.json()
        tags[kind] = [str(d.get("digest")) for d in doc.get("layers") or [] if isinstance(d, dict)]
        names[kind] = LEGACY.tag(entity, suffix).name
    found = []
    for desc in list_referrers(client, repo, digest) if referrers else []:  # whichever layout wrote them
        doc = client.get_manifest(repo.digest(desc.digest)).json()
        ann = doc.get("annotations") if isinstance(doc.get("annotations"), dict) else {}
        kind = str((ann or {}).get("dev.sigstore.bundle.predicateType") or doc.get("artifactType")
                   or desc.artifact_type or "")
        found.append((desc, kind, [str(d.get("digest")) for d in doc.get("layers") or []
                                   if isinstance(d, dict)]))
    return Tree(digest, tags, names, found)


_GROUP = {"signature": "🔐 Signatures", "sbom": "📦 SBOMs", "attestation": "💾 Attestations"}


def render_tree(ref: Reference, t: Tree) -> str:
    """cosign's ``tree`` text (groups in a fixed order: signatures, SBOMs, attestations)."""
    lines = [f"📦 Supply Chain Security Related artifacts for an image: {ref.name}"]
    for kind in ("signature", "sbom", "attestation"):
        if kind not in t.tags:
            continue
        lines.append(f"└── {_GROUP[kind]} for an image tag: {t.tag_names[kind]}")
        layers = t.tags[kind]
        for i, d in enumerate(layers):
            lines.append(f"   {'└──' if i == len(layers) - 1 else '├──'} 🍒 {d}")
    for desc, kind, layers in t.referrers:
        lines.append(f"└── 🔗 {kind} artifacts via OCI referrer: {ref.repository.name}@{desc.digest}")
        for i, d in enumerate(layers):
            lines.append(f"   {'└──' if i == len(layers) - 1 else '├──'} 🍒 {d}")
    if not t.tags and not t.referrers:
        lines.append(f"No Supply Chain Security Related Artifacts found for image {ref.name},\n"
                     " start creating one with simply running$ cosign sign <img>")
        return "\n".join(lines)  # cosign ends this message without a newline
    return "\n".join(lines) + "\n"
