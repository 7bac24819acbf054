"""OCI image layout directories as ``cosign save``/``load``/``verify --local-image`` use them.

Format facts this module relies on, read from cosign v3.1.3 (``pkg/oci/layout/write.go``,
``index.go``, ``cmd/cosign/cli/save.go``, ``load.go``, ``pkg/oci/remote/write.go``
``WriteSignedImageIndexImages``, ``pkg/cosign/verify.go`` ``VerifyLocalImage*`` and
``getLocalBundleDescriptors``) and go-containerregistry v0.21.7 (``pkg/v1/layout``),
and checked against directories the real cosign wrote:

* ``oci-layout`` is ``{"imageLayoutVersion": "1.0.0"}`` (ggcr writes it with a
  four-space indent); ``index.json`` is an OCI image index, rewritten by ggcr's
  ``AppendDescriptor`` as ``json.MarshalIndent(index, "", "   ")`` (three spaces, no
  final newline); every blob is ``blobs/sha256/<hex>``.
* ``index.json`` entries carry the annotation ``kind``:
  ``dev.cosignproject.cosign/image`` (the saved image) or ``.../imageIndex`` (a saved
  multi-platform index, whose child manifests and their blobs are all written too),
  ``.../sigs`` (the ``.sig`` image) and ``.../atts`` (the ``.att`` image). The
  signature and attestation entries are written only when those tags exist. A
  reader takes the first entry of each kind. Entries are ``mediaType, size, digest,
  annotations`` and, for an image manifest, ``artifactType``: the manifest's own
  ``artifactType`` or else its config media type (ggcr's ``partial.Descriptor``).
* cosign v3's ``save`` also writes every OCI 1.1 referrer of the image that has an
  ``artifactType`` (Sigstore bundles from ``--new-bundle-format``, SBOM and ``oci-1-1``
  signature referrers), but only as blobs: each ``WriteSignedImage`` call starts with
  ggcr's ``layout.Write(path, empty.Index)``, which rewrites ``index.json``, so the
  referrers are not listed there. Readers find them as cosign does, by reading the
  files under ``blobs/sha256`` as manifests whose ``subject`` is the image
  (``load`` pushes those carrying ``dev.sigstore.bundle.predicateType``;
  ``verify --local-image`` verifies their bundle layers instead of the ``.sig``
  image when any exist).
* ``load`` pushes the image (or index) to the given reference, the signatures to
  ``sha256-<hex>.sig`` and attestations to ``sha256-<hex>.att`` in the target
  repository (``COSIGN_REPOSITORY`` honoured), manifests byte for byte.

Why hand-written: the OCI image layout is three kinds of file, and no maintained
Python package reads and writes it with the checks wanted here. Every blob is
verified against its digest (and descriptor size) when read, reads are bounded
(manifests and ``index.json`` 4 MiB; large layers are streamed, never held in
memory), and blob paths are built only from validated ``sha256:<64 hex>`` digests,
so a hostile ``index.json`` cannot name a file outside the directory. A directory
is written under a temporary name beside the target and renamed into place only
when complete (blobs first, ``index.json`` last), so a failed ``save`` leaves no
directory that looks like a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sigstack._internal import safejson
from sigstack.errors import DigestMismatchError, LayoutError, NotFoundError, TooLargeError
from sigstack.oci.client import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    RegistryOptions,
)
from sigstack.oci.reference import Reference, Repository

KIND = "kind"
KIND_IMAGE = "dev.cosignproject.cosign/image"
KIND_INDEX = "dev.cosignproject.cosign/imageIndex"
KIND_SIGS = "dev.cosignproject.cosign/sigs"
KIND_ATTS = "dev.cosignproject.cosign/atts"
BUNDLE_PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
OCI_LAYOUT_FILE = b'{\n    "imageLayoutVersion": "1.0.0"\n}'
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]{64}")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_COPY_CHUNK = 1 << 20
MAX_INDEX_ENTRIES = 10000




def index_json(manifests: list[dict[str, Any]]) -> bytes:
    """``index.json`` as ggcr's ``AppendDescriptor`` writes it (three-space indent)."""
    text = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                      indent=3, ensure_ascii=False)
    for raw, esc in _GO_ESCAPES.items():
        text = text.replace(raw, esc)
    return text.encode()


def entry(desc: Descriptor, kind: str, manifest: bytes | None = None) -> dict[str, Any]:
    """An ``index.json`` descriptor with its ``kind``; an image manifest's gets ggcr's
    ``artifactType`` (the manifest's own, else its config media type)."""
    out: dict[str, Any] = {"mediaType": desc.media_type, "size": desc.size, "digest": desc.digest,
                           "annotations": {KIND: kind}}
    if manifest is not None and desc.media_type not in INDEX_TYPES:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            doc = safejson.loads(manifest)
            at = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
            if isinstance(at, str) and at:
                out["artifactType"] = at
    return out


def check_digest(digest: object, what: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise LayoutError(f"{what}: unsupported or malformed digest {str(digest)[:80]!r} "
                          "(expected sha256:<64 hex digits>)")
    return digest


# ---- reading ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexEntry:
    media_type: str
    size: int
    digest: str
    annotations: Mapping[str, str]

    @property
    def kind(self) -> str:
        return self.annotations.get(KIND, "")


class OciLayout:
    """A read-only OCI image layout directory; every read is checked and bounded."""

    def __init__(self, path: str | os.PathLike[str], max_blob_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_blob_bytes = max_blob_bytes or RegistryOptions().max_blob_bytes
        self._scan: list[tuple[str, dict[str, Any]]] | None = None
        name = str(path)
        if not self.path.exists():
            raise LayoutError(f"{name}: no such directory")
        if not self.path.is_dir():
            raise LayoutError(f"{name} is not a directory")
        marker = self.path / "oci-layout"
        if not marker.is_file():
            raise LayoutError(f"{name} is not an OCI image layout: it has no oci-layout file "
                              "(write one with `sigstack save` or `cosign save`)")
        try:
            version = safejson.loads(self._read_small(marker, 65536, "oci-layout")).get("imageLayoutVersion")
        except (ValueError, AttributeError):
            version = None
        if not isinstance(version, str) or not version.startswith("1."):
            raise LayoutError(f"{name}/oci-layout is malformed: it must be JSON with an "
                              "imageLayoutVersion 1.x")
        self.entries = self._read_index()

    def _read_small(self, path: Path, limit: int, what: str) -> bytes:
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            raise LayoutError(f"reading {self.path}/{what}: {exc.strerror or exc}") from None
        if len(data) > limit:
            raise LayoutError(f"{self.path}/{what} is larger than {limit} bytes")
        return data

    def _read_index(self) -> list[IndexEntry]:
        where = f"{self.path}/index.json"
        if not (self.path / "index.json").is_file():
            raise LayoutError(f"{self.path} is not an OCI image layout: it has no index.json")
        try:
            doc = safejson.loads(self._read_small(self.path / "index.json", MAX_MANIFEST_BYTES, "index.json"))
        except ValueError:
            raise LayoutError(f"{where} is not valid JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
            raise LayoutError(f"{where} is malformed: it must be an object with a manifests list")
        if len(doc["manifests"]) > MAX_INDEX_ENTRIES:
            raise LayoutError(f"{where} lists more than {MAX_INDEX_ENTRIES} manifests")
        out = []
        for i, d in enumerate(doc["manifests"]):
            if not isinstance(d, dict) or not isinstance(d.get("mediaType"), str) \
                    or not isinstance(d.get("size"), int) or isinstance(d.get("size"), bool) or d["size"] < 0:
                raise LayoutError(f"{where} is malformed: manifests[{i}] needs mediaType, size and digest")
            ann = d.get("annotations") or {}
            if not isinstance(ann, dict):
                raise LayoutError(f"{where} is malformed: manifests[{i}].annotations is not an object")
            out.append(IndexEntry(d["mediaType"], d["size"], check_digest(d.get("digest"), where),
                                  {str(k): str(v) for k, v in ann.items()}))
        return out

    def find(self, *kinds: str) -> IndexEntry | None:
        """The first ``index.json`` entry of the first of ``kinds`` present (cosign's order)."""
        for kind in kinds:
            for e in self.entries:
                if e.kind == kind:
                    return e
        return None

    def subject(self) -> IndexEntry:
        """The saved image or index (cosign looks for the index first)."""
        found = self.find(KIND_INDEX, KIND_IMAGE)
        if found is None:
            raise LayoutError(f"{self.path}/index.json names no image: no entry has the annotation "
                              f"kind={KIND_IMAGE} or {KIND_INDEX}")
        return found

    def blob_path(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / check_digest(digest, "blob")[len("sha256:"):]

    def _open_blob(self, digest: str) -> tuple[IO[bytes], int]:
        path = self.blob_path(digest)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise LayoutError(f"{self.path} is incomplete: blob {digest} is missing") from None
        except OSError as exc:
            raise LayoutError(f"reading blob {digest}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise LayoutError(f"blob {digest} in {self.path} is not a regular file")
        try:
            return open(path, "rb"), st.st_size
        except OSError as exc:
            raise LayoutError(f"reading blob {digest}: {exc.strerror or exc}") from None

    def read_blob(self, digest: str, limit: int | None = None, size: int | None = None) -> bytes:
        """A blob's bytes, refused unless they hash to ``digest`` (and have ``size``)."""
        limit = limit or self.max_blob_bytes
        fh, actual = self._open_blob(digest)
        with fh:
            if actual > limit:
                raise TooLargeError(f"blob {digest} in {self.path} is {actual} bytes, over the "
                                    f"{limit}-byte limit")
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise TooLargeError(f"blob {digest} in {self.path} is over the {limit}-byte limit")
        self._check(digest, hashlib.sha256(data).hexdigest(), len(data), size)
        return data

    def _check(self, digest: str, hexdigest: str, length: int, size: int | None) -> None:
        if "sha256:" + hexdigest != digest:
            raise DigestMismatchError(f"blob {digest} in {self.path} does not match its digest "
                                      f"(the file hashes to sha256:{hexdigest})")
        if size is not None and length != size:
            raise LayoutError(f"blob {digest} in {self.path} is {length} bytes, but its descriptor "
                              f"says {size}")

    def verify_blob(self, digest: str, size: int | None = None) -> int:
        """Hash a blob of any size without holding it; returns its length."""
        fh, _ = self._open_blob(digest)
        hasher = hashlib.sha256()
        total = 0
        with fh:
            while chunk := fh.read(_COPY_CHUNK):
                hasher.update(chunk)
                total += len(chunk)
        self._check(digest, hasher.hexdigest(), total, size)
        return total

    @contextlib.contextmanager
    def open_verified(self, digest: str, size: int | None = None) -> Iterator[tuple[IO[bytes], int]]:
        """A verified blob, open for streaming (checked in full before it is handed out)."""
        length = self.verify_blob(digest, size)
        fh, _ = self._open_blob(digest)
        with fh:
            yield fh, length

    def manifest(self, digest: str, media_type: str | None = None, size: int | None = None) -> Manifest:
        data = self.read_blob(digest, MAX_MANIFEST_BYTES, size)
        try:
            doc = safejson.loads(data)
        except ValueError:
            raise LayoutError(f"manifest {digest} in {self.path} is not valid JSON") from None
        if not isinstance(doc, dict):
            raise LayoutError(f"manifest {digest} in {self.path} is not a JSON object")
        media = media_type or str(doc.get("mediaType") or OCI_MANIFEST)
        return Manifest(data, media, digest)

    def entry_manifest(self, e: IndexEntry) -> Manifest:
        return self.manifest(e.digest, e.media_type, e.size)

    def referrer_manifests(self, subject: str) -> list[tuple[str, dict[str, Any]]]:
        """(digest, manifest JSON) of every manifest blob whose ``subject`` is ``subject``,
        found as cosign finds them: by reading the blob files. Only files small enough to
        be manifests are opened; each is checked against its digest when it is used."""
        if self._scan is None:
            found: list[tuple[str, dict[str, Any]]] = []
            blobs = self.path / "blobs" / "sha256"
            try:
                names = sorted(os.listdir(blobs))
            except FileNotFoundError:
                names = []
            except OSError as exc:
                raise LayoutError(f"reading {blobs}: {exc.strerror or exc}") from None
            for name in names:
                if not _HEX.fullmatch(name):
                    continue
                try:
                    st = os.lstat(blobs / name)
                    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
                        continue
                    with open(blobs / name, "rb") as fh:
                        head = fh.read(1)
                        if head != b"{":
                            continue
                        doc = safejson.loads(head + fh.read(MAX_MANIFEST_BYTES))
                except (OSError, ValueError):
                    continue
                if isinstance(doc, dict) and isinstance(doc.get("subject"), dict) \
                        and isinstance(doc.get("layers"), list):
                    found.append(("sha256:" + name, doc))
            self._scan = found
        return [(d, doc) for d, doc in self._scan if doc["subject"].get("digest") == subject]


# ---- a registry view of a layout, for verification -------------------------------------

LOCAL_REPOSITORY = Repository("oci-layout", "local")  # a placeholder: nothing is fetched by name


@dataclass(frozen=True)
class LocalReference(Reference):
    """The saved image of a layout directory; it prints as the directory, as cosign's
    ``--local-image`` output names the path it was given."""

    directory: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return self.directory

    def __str__(self) -> str:
        return self.directory


class LayoutRegistry:
    """A :class:`~sigstack.oci.client.RegistryReader` over an OCI layout, so that the
    verifier reads a ``cosign save`` directory exactly as it reads a registry: the
    saved image is found by digest, ``sha256-<hex>.sig``/``.att`` resolve to the
    ``sigs``/``atts`` entries (any tag prefix: a layout has no tags), and referrers
    are the manifest blobs whose subject is the image."""

    def __init__(self, layout: OciLayout) -> None:
        self.layout = layout
        self.options = RegistryOptions(max_blob_bytes=layout.max_blob_bytes)
        self.subject = layout.subject()

    def reference(self) -> LocalReference:
        return LocalReference(LOCAL_REPOSITORY, digest=self.subject.digest,
                              directory=str(self.layout.path))

    def _by_tag(self, tag: str) -> IndexEntry | None:
        base = self.subject.digest.replace(":", "-")
        for suffix, kind in (("sig", KIND_SIGS), ("att", KIND_ATTS)):
            if tag.endswith(f"{base}.{suffix}"):
                return self.layout.find(kind)
        return None

    def get_manifest(self, ref: Reference, accept: tuple[str, ...] = MANIFEST_TYPES) -> Manifest:
        if ref.digest:
            known = next((e for e in self.layout.entries if e.digest == ref.digest), None)
            if known is not None:
                return self.layout.entry_manifest(known)
            if not self.layout.blob_path(ref.digest).is_file():
                raise NotFoundError(f"manifest {ref.digest} is not in {self.layout.path}", status=404)
            return self.layout.manifest(ref.digest)
        found = self._by_tag(ref.tag or "")
        if found is None:
            raise NotFoundError(f"{ref.tag} is not in {self.layout.path}", status=404)
        return self.layout.entry_manifest(found)

    def head_manifest(self, ref: Reference) -> Descriptor:
        return self.get_manifest(ref).descriptor()

    def get_blob(self, repo: Repository, digest: str, limit: int | None = None) -> bytes:
        return self.layout.read_blob(digest, limit or self.options.max_blob_bytes)

    def referrers(self, repo: Repository, digest: str, artifact_type: str | None = None
                  ) -> dict[str, Any] | None:
        manifests = []
        for d, doc in self.layout.referrer_manifests(digest):
            at = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType") or ""
            if artifact_type and at != artifact_type:
                continue
            size = self.layout.blob_path(d).stat().st_size
            desc: dict[str, Any] = {"mediaType": str(doc.get("mediaType") or OCI_MANIFEST), "size": size,
                                    "digest": d, "artifactType": str(at)}
            if isinstance(doc.get("annotations"), dict):
                desc["annotations"] = doc["annotations"]
            manifests.append(desc)
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}


def open_local_image(path: str | os.PathLike[str]) -> tuple[LayoutRegistry, LocalReference]:
    """A layout directory as a registry view plus the reference of its saved image."""
    source = LayoutRegistry(OciLayout(path))
    return source, source.reference()


# ---- writing ---------------------------------------------------------------------------

class LayoutWriter:
    """Builds a layout in a hidden sibling directory; :meth:`commit` renames it into
    place once ``index.json`` is written, :meth:`abort` removes it. Use as a context
    manager: leaving it by an exception aborts."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        name = str(target)
        if self.target.is_symlink():
            raise LayoutError(f"{name} is a symbolic link: save to a new or empty directory")
        if self.target.exists():
            if not self.target.is_dir():
                raise LayoutError(f"{name} exists and is not a directory")
            if any(self.target.iterdir()):
                raise LayoutError(f"{name} exists and is not empty: save to a new or empty directory")
        parent = self.target.absolute().parent
        if not parent.is_dir():
            raise LayoutError(f"cannot create {name}: {parent} is not a directory")
        self.tmp = parent / f".{self.target.name}.partial-{secrets.token_hex(6)}"
        try:
            (self.tmp / "blobs" / "sha256").mkdir(parents=True)
        except OSError as exc:
            raise LayoutError(f"cannot create {name}: {exc.strerror or exc}") from None
        self.entries: list[dict[str, Any]] = []
        self._done = False

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not self._done:
            self.abort()

    def has_blob(self, digest: str) -> bool:
        return (self.tmp / "blobs" / "sha256" / check_digest(digest, "blob")[7:]).is_file()

    def blob_path(self, digest: str) -> Path:
        return self.tmp / "blobs" / "sha256" / check_digest(digest, "blob")[7:]

    def write_blob(self, digest: str, data: bytes) -> None:
        """Write ``data`` as the blob ``digest`` (refused if it does not hash to it)."""
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatchError(f"refusing to write blob {digest}: its content does not match")
        if not self.has_blob(digest):
            self._write(self.blob_path(digest), data)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise LayoutError(f"writing {path}: {exc.strerror or exc}") from None

    def add(self, desc: Descriptor, kind: str, manifest: bytes | None = None) -> None:
        self.entries.append(entry(desc, kind, manifest))

    def commit(self) -> None:
        """``oci-layout``, then ``index.json`` (last, so it names only blobs on disk), then
        the rename that makes the directory appear whole."""
        self._write(self.tmp / "oci-layout", OCI_LAYOUT_FILE)
        self._write(self.tmp / "index.json", index_json(self.entries))
        try:
            with contextlib.suppress(FileNotFoundError):
                self.target.rmdir()  # an empty directory given as the target
            os.replace(self.tmp, self.target)
        except OSError as exc:
            raise LayoutError(f"moving the saved layout into {self.target}: {exc.strerror or exc}") from None
        self._done = True

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._done = True
