"""The interface every storage layout implements, in the shape of cosign's ``pkg/oci``:
a *signed entity* (one image digest, and where its attachments live) and, per
layout, the signatures, attestations and SBOMs stored for it.

Why an interface: cosign has kept signatures in three ways over its life (legacy
``.sig``/``.att``/``.sbom`` tags, the ``.sig``-style image as an OCI 1.1 referrer,
Sigstore bundle referrers), and sign, verify, attach, download, tree, copy, clean and
save/load each need some of them. Written as ``if`` branches in every command, each new
kind of evidence would be written once per command; here a layout is one module
(:mod:`.legacy`, :mod:`.oci11`, :mod:`.bundle`) and the commands ask it.

Reading is lazy: a layout lists :class:`Record` s (what the manifests say: one per
stored layer or bundle referrer) and each record's :meth:`Record.fetch` reads and
checks the content. Verification fetches and checks each record on the worker that
fetched it, so the checks run while other layers are still on the wire.

Everything is read through :class:`~sigstack.oci.client.RegistryReader`, so the read-only
view of a ``save`` directory (:class:`~sigstack.oci.ocilayout.LayoutRegistry`) is read by
the same code as a registry. Nothing here reads the process environment: the target
repository (cosign's ``COSIGN_REPOSITORY``) and the Docker media types choice
(``COSIGN_DOCKER_MEDIA_TYPES``) are the caller's to give, and only the CLI reads them.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sigstack.errors import ReferenceError, RegistryError, SigstackError
from sigstack.oci.client import Descriptor, Manifest, RegistryReader
from sigstack.oci.layout import StoredLayer, check_tag_prefix, fetch_layer, layer_descriptors
from sigstack.oci.reference import Reference, Repository, parse_repository

if TYPE_CHECKING:
    from sigstack.bundle.models import Bundle
    from sigstack.oci.client import RegistryClient

T = TypeVar("T")


def target_repository(image: Repository, override: str | None = None) -> Repository:
    """Where attachments of an image in ``image`` live: ``override`` (cosign's
    ``COSIGN_REPOSITORY``, which may name another registry) when given, else ``image``."""
    if not override:
        return image
    try:
        return parse_repository(override)
    except ReferenceError as exc:
        raise RegistryError(f"parsing the target repository {override!r}: {exc}") from None


@dataclass(frozen=True)
class SignedEntity:
    """One image digest as the layouts see it: its own repository, the repository its
    attachments are kept in, the legacy tag prefix and the media types to write.

    ``subject`` is the image's descriptor when the caller already has it (referrers
    name it); otherwise :meth:`descriptor` asks the registry, once a layout needs it.
    """

    reader: RegistryReader
    image: Repository
    digest: str
    repository: Repository  # the target repository
    tag_prefix: str = ""  # cosign's --attachment-tag-prefix (legacy tags only)
    docker_types: bool = False  # new legacy images use Docker media types
    subject: Descriptor | None = None

    @classmethod
    def at(cls, reader: RegistryReader, image: Repository, digest: str, *,
           target_repository: str | None = None, tag_prefix: str = "", docker_types: bool = False,
           subject: Descriptor | None = None) -> SignedEntity:
        """The entity for ``image@digest``, with the tag prefix checked and the target
        repository (``None``: the image's own) parsed."""
        check_tag_prefix(tag_prefix)
        return cls(reader, image, digest, _target(image, target_repository), tag_prefix, docker_types,
                   subject)

    def reference(self) -> Reference:
        """The image itself, by digest."""
        return self.image.digest(self.digest)

    def descriptor(self) -> Descriptor:
        """The image's descriptor (a HEAD unless the caller gave a full one)."""
        if self.subject is not None and self.subject.media_type:
            return self.subject
        return self.reader.head_manifest(self.reference())

    def writer(self) -> RegistryClient:
        """The registry client to write with; a read-only view (a saved directory) is refused."""
        from sigstack.oci.client import RegistryClient

        if not isinstance(self.reader, RegistryClient):
            raise RegistryError("this image is read through a read-only view; nothing can be written to it")
        return self.reader


_target = target_repository  # SignedEntity.at's keyword shadows the function's name


@dataclass(frozen=True)
class Record:
    """One stored signature, attestation or SBOM, as listed: the layout that keeps it,
    the digest of its layer (or, for a bundle, of its referrer manifest) and how to
    read it. :meth:`fetch` does the round trips and checks the content's digest."""

    layout: str
    digest: str
    _fetch: Callable[[], StoredLayer]

    def fetch(self) -> StoredLayer:
        return self._fetch()


@dataclass(frozen=True)
class StoredBundle(StoredLayer):
    """A Sigstore bundle referrer's layer (``data`` is the bundle document as stored),
    parsed, with the digest of the referrer manifest that holds it."""

    bundle: Bundle
    manifest_digest: str


class Layout(ABC):
    """One way of storing things beside an image. A layout lists what it holds for an
    entity (nothing, unless it overrides the method); writing is layout-specific (a
    legacy signature is a layer, a bundle is a document) and so is in each module."""

    name: ClassVar[str]

    def signatures(self, entity: SignedEntity) -> list[Record]:
        return []

    def attestations(self, entity: SignedEntity) -> list[Record]:
        return []

    def sboms(self, entity: SignedEntity) -> list[Record]:
        return []

    def references(self, entity: SignedEntity) -> list[Reference]:
        """The manifests this layout may have written for ``entity`` (by tag or by
        digest), for ``clean``, ``copy``, ``tree`` and ``save``; some may not exist."""
        return []


def layer_records(layout: str, entity: SignedEntity, manifest: Manifest) -> list[Record]:
    """A record per layer of an attachment image in the target repository (the
    descriptors are checked now, the content when each record is fetched)."""

    def reader(descriptor: dict[str, Any]) -> Callable[[], StoredLayer]:
        return lambda: fetch_layer(entity.reader, entity.repository, descriptor)

    return [Record(layout, str(d["digest"]), reader(d)) for d in layer_descriptors(manifest)]


def _map(fn: Callable[[Record], T], records: Sequence[Record], workers: int) -> list[T]:
    if len(records) <= 1 or workers <= 1:
        return [fn(r) for r in records]
    from concurrent.futures import ThreadPoolExecutor  # only when there is something to share

    with ThreadPoolExecutor(max_workers=min(workers, len(records))) as pool:
        return list(pool.map(fn, records))


def fetch_all(records: Sequence[Record], workers: int = 10) -> list[StoredLayer]:
    """Every record's content, fetched concurrently, in order; a failure ends it."""
    return _map(Record.fetch, records, workers)


def fetch_valid(records: Sequence[Record], workers: int = 10) -> list[StoredLayer]:
    """The records that can be read and parsed, fetched concurrently, in order; the
    others are skipped (as cosign skips referrers that are not valid bundles)."""

    def attempt(record: Record) -> StoredLayer | None:
        try:
            return record.fetch()
        except SigstackError:
            return None

    return [s for s in _map(attempt, records, workers) if s is not None]
