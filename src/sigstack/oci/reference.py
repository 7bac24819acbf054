"""Image references parsed the way Docker (and go-containerregistry) parse them.

``ubuntu`` is ``index.docker.io/library/ubuntu:latest``; the first path component
is a registry only if it has a ``.`` or ``:`` or is ``localhost``. Names print as
ggcr's ``Name()`` does, because cosign writes those strings into signed payloads
(``docker-reference``) and tag names, so they must match to the byte.

The grammar is small and fixed (distribution's ``reference`` regexps); no
maintained Python package implements it with ggcr's Docker Hub normalisation, so
it is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigstack.errors import ReferenceError

DOCKER_HUB = "index.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # ASCII only, as distribution
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")
_CHARS = "repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`"




@dataclass(frozen=True)
class Repository:
    registry: str
    path: str

    @property
    def name(self) -> str:
        """``registry/path``: the ``docker-reference`` cosign signs."""
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        return self.name

    def tag(self, tag: str) -> Reference:
        return Reference(self, tag=tag)

    def digest(self, digest: str) -> Reference:
        return Reference(self, digest=digest)


@dataclass(frozen=True)
class Reference:
    """A repository plus a tag or a digest (exactly one)."""

    repository: Repository
    tag: str | None = None
    digest: str | None = None

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/`` in the registry API."""
        return self.digest or self.tag or "latest"

    @property
    def name(self) -> str:
        if self.digest:
            return f"{self.repository.name}@{self.digest}"
        return f"{self.repository.name}:{self.tag}"

    def __str__(self) -> str:
        return self.name

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.repository, digest=digest)


def _split_registry(text: str) -> tuple[str, str]:
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise ReferenceError(f"could not parse reference: {text}")
        registry = DOCKER_HUB if first in _HUB_ALIASES else first
        return registry, rest
    return DOCKER_HUB, text


def parse_repository(text: str) -> Repository:
    """Parse ``[registry/]path`` (no tag or digest)."""
    if not text or text != text.strip():
        raise ReferenceError(f"{_CHARS}: {text}")
    registry, path = _split_registry(text)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    for part in path.split("/"):
        if not _COMPONENT.fullmatch(part):
            raise ReferenceError(f"{_CHARS}: {path}")
    if len(path) > 255:
        raise ReferenceError(f"repository name too long: {path}")
    return Repository(registry, path)


def parse_reference(text: str) -> Reference:
    """Parse an image reference; no tag and no digest means ``:latest``."""
    name, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ReferenceError(f"could not parse reference: {text}")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag: str | None = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ReferenceError(f"could not parse reference: {text}")
    try:
        repo = parse_repository(name)
    except ReferenceError:
        raise ReferenceError(f"could not parse reference: {text}") from None
    if at:
        return Reference(repo, digest=digest)
    return Reference(repo, tag=tag or "latest")


_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "0123456789_.-")
MAX_TAG = 128  # distribution's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
# The longest attachment tag a prefix must leave room for: sha256-<64 hex>.sbom.
_LONGEST_SUFFIX = len("sha256-") + 64 + len(".sbom")
MAX_TAG_PREFIX = MAX_TAG - _LONGEST_SUFFIX


def check_tag_prefix(prefix: str) -> str:
    """``prefix`` if every attachment tag made with it (cosign's
    ``--attachment-tag-prefix``: ``[prefix]sha256-<hex>.sig|att|sbom``) is a valid tag,
    else a :class:`ReferenceError` naming the problem.

    cosign does not check: it uploads the blobs and then fails on the manifest PUT
    with the registry's 404 for the malformed URL. Checking first means a bad prefix
    writes nothing at all.
    """
    if not prefix:
        return prefix
    bad = sorted({c for c in prefix if c not in _TAG_CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ReferenceError(f"invalid attachment tag prefix {prefix!r}: a tag may only contain letters, "
                             f"digits, '_', '.' and '-' (found {shown})")
    if prefix[0] in ".-":
        raise ReferenceError(f"invalid attachment tag prefix {prefix!r}: a tag cannot start with "
                             f"{prefix[0]!r}")
    if len(prefix) > MAX_TAG_PREFIX:
        raise ReferenceError(f"invalid attachment tag prefix: {len(prefix)} characters, at most "
                             f"{MAX_TAG_PREFIX} fit (tags are limited to {MAX_TAG} characters)")
    return prefix
