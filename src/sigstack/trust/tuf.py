"""Fetch and cache Sigstore trust material (``trusted_root.json``, signing config)
through TUF, with python-tuf's ``ngclient`` doing every TUF check.

Online (:meth:`TrustUpdater.refresh`), ngclient walks the root chain from the cached
(or bootstrap) root — each new root signed by a threshold of the old *and* the new
root keys — then timestamp, snapshot and targets, refusing expired metadata,
rollbacks (a version lower than the cached one), wrong lengths/hashes and bad
signatures, and downloads the targets checked against their hashes.

Offline (``offline=True``, cosign/sigstore-python ``--offline``), nothing is fetched:
the cached metadata is re-verified locally — timestamp, snapshot and top-level targets
signed by the cached root's keys, versions and hashes chained — and the cached target
must match its hash in the cached targets metadata. Expiry is *not* enforced offline
(as go-tuf's ``UnsafeLocalMode`` that cosign uses): an air-gapped verifier must keep
working after the daily timestamp expires; the signatures still pin the content.

Cache layout, under the directory the caller passes (the CLI maps ``TUF_ROOT`` /
``~/.sigstore/root``)::

    <cache>/remote.json                    {"mirror": URL}  (written by initialize)
    <cache>/<quoted mirror>/metadata/      root.json, timestamp.json, ...
    <cache>/<quoted mirror>/targets/       trusted_root.json, signing_config.v0.2.json

The public-good production and staging TUF roots are embedded (package data
``trust/roots/{production,staging}/root.json``), so the default needs no flag;
another mirror needs its initial ``root.json`` (``initialize --root``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sigstack.errors import TUFError

if TYPE_CHECKING:
    from tuf.api.metadata import Metadata, TargetFile, Targets
    from tuf.ngclient import FetcherInterface

    from sigstack.bundle.trustroot import SigningConfig, TrustedRoot

PRODUCTION_MIRROR = "https://tuf-repo-cdn.sigstore.dev"
STAGING_MIRROR = "https://tuf-repo-cdn.sigstage.dev"
_EMBEDDED = {PRODUCTION_MIRROR: "production", STAGING_MIRROR: "staging"}
TRUSTED_ROOT_TARGET = "trusted_root.json"
SIGNING_CONFIG_TARGET = "signing_config.v0.2.json"


def embedded_root(mirror: str) -> bytes | None:
    """The TUF root.json shipped for a public-good mirror, else None."""
    name = _EMBEDDED.get(mirror.rstrip("/"))
    if name is None:
        return None
    return (Path(__file__).parent / "roots" / name / "root.json").read_bytes()


def _tuf_error(exc: Exception) -> TUFError:
    from tuf.api import exceptions

    kinds: list[tuple[type[Exception], str]] = [
        (exceptions.ExpiredMetadataError, "expired metadata"),
        (exceptions.BadVersionNumberError, "rollback attack: metadata version went backwards"),
        (exceptions.LengthOrHashMismatchError, "a file does not match its length or hash"),
        (exceptions.UnsignedMetadataError, "metadata is not signed by a threshold of trusted keys"),
        (exceptions.DownloadError, "cannot download"),
        (exceptions.RepositoryError, "invalid repository metadata"),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            return TUFError(f"TUF: {text}: {exc}")
    return TUFError(f"TUF: {exc}")


@dataclass
class TrustUpdater:
    """A TUF client for one mirror, caching under ``cache_dir``.

    ``root`` is the initial TUF root.json (trust on first use); without it the cached
    root is used, else the embedded one for the public-good mirrors. ``targets_path``
    is where the targets live below the mirror (policy-controller's TrustRoot
    ``targets``). ``fetcher`` replaces HTTP (python-tuf's ``FetcherInterface``), for a
    repository that is not served, such as a TrustRoot's serialized ``mirrorFS``."""

    mirror: str
    cache_dir: Path
    root: bytes | None = None
    offline: bool = False
    targets_path: str = "targets"
    fetcher: FetcherInterface | None = None

    def __post_init__(self) -> None:
        self.mirror = self.mirror.rstrip("/")
        self.cache_dir = Path(self.cache_dir)
        self._refreshed = False

    @property
    def repo_dir(self) -> Path:
        return self.cache_dir / quote(self.mirror, safe="")

    @property
    def metadata_dir(self) -> Path:
        return self.repo_dir / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.repo_dir / "targets"

    def _bootstrap(self) -> bytes:
        if self.root is not None:
            return self.root
        cached = self.metadata_dir / "root.json"
        if cached.is_file():
            return cached.read_bytes()
        embedded = embedded_root(self.mirror)
        if embedded is None:
            raise TUFError(f"TUF: no root.json for {self.mirror}: initialize it with its initial root.json")
        return embedded

    def refresh(self) -> None:
        """Update all top-level metadata from the mirror (online only)."""
        if self.offline:
            raise TUFError("TUF: cannot refresh trust material offline")
        from tuf.api import exceptions
        from tuf.ngclient import Updater

        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        bootstrap = self._bootstrap()
        try:
            # a caller-given root replaces the cached one (initialize --root)
            if self.root is not None or not (self.metadata_dir / "root.json").is_file():
                _write(self.metadata_dir / "root.json", bootstrap)
            self._updater = Updater(str(self.metadata_dir), self.mirror + "/", str(self.targets_dir),
                                    f"{self.mirror}/{self.targets_path.strip('/')}/", fetcher=self.fetcher,
                                    bootstrap=bootstrap)
            self._updater.refresh()
        except (exceptions.RepositoryError, exceptions.DownloadError, ValueError) as exc:
            raise _tuf_error(exc) from None
        self._refreshed = True

    def target(self, name: str) -> bytes:
        """A target file's bytes, verified against the (refreshed or cached) metadata."""
        if self.offline:
            return self._offline_target(name)
        from tuf.api import exceptions

        if not self._refreshed:
            self.refresh()
        try:
            info = self._updater.get_targetinfo(name)
            if info is None:
                raise TUFError(f"TUF: the repository has no target {name}")
            path = self._updater.find_cached_target(info) or self._updater.download_target(info)
        except (exceptions.RepositoryError, exceptions.DownloadError, ValueError) as exc:
            raise _tuf_error(exc) from None
        return Path(path).read_bytes()

    def has_target(self, name: str) -> bool:
        if self.offline:
            try:
                self._offline_targets_meta().signed.targets[name]
            except KeyError:
                return False
            return True
        if not self._refreshed:
            self.refresh()
        return self._updater.get_targetinfo(name) is not None

    def top_level_targets(self) -> dict[str, TargetFile]:
        """The top-level targets metadata's files (name -> info, ``custom`` included),
        from the refreshed, verified metadata (older Sigstore TUF repositories name
        their keys by ``custom.sigstore.usage`` instead of a trusted_root.json)."""
        if self.offline:
            return dict(self._offline_targets_meta().signed.targets)
        from tuf.api.metadata import Metadata, Targets

        if not self._refreshed:
            self.refresh()
        # ngclient writes a metadata file only once it has verified it
        return dict(Metadata[Targets].from_bytes((self.metadata_dir / "targets.json").read_bytes()).signed.targets)

    def trusted_root(self) -> TrustedRoot:
        from sigstack.bundle.trustroot import TrustedRoot

        return TrustedRoot.from_json(self.target(TRUSTED_ROOT_TARGET))

    def signing_config(self) -> SigningConfig:
        from sigstack.bundle.trustroot import SigningConfig

        return SigningConfig.from_json(self.target(SIGNING_CONFIG_TARGET))

    # offline verification of the cache

    def _offline_targets_meta(self) -> Metadata[Targets]:
        from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

        def load(role: str) -> bytes:
            path = self.metadata_dir / f"{role}.json"
            if not path.is_file():
                raise TUFError(f"TUF: no cached {role} metadata for {self.mirror}: run initialize first")
            return path.read_bytes()

        try:
            root = Metadata[Root].from_bytes(load("root"))
            root.verify_delegate("root", root)
            ts_raw = load("timestamp")
            ts = Metadata[Timestamp].from_bytes(ts_raw)
            root.verify_delegate("timestamp", ts)
            snap_raw = load("snapshot")
            snap_meta = ts.signed.snapshot_meta
            snap_meta.verify_length_and_hashes(snap_raw)
            snap = Metadata[Snapshot].from_bytes(snap_raw)
            root.verify_delegate("snapshot", snap)
            if snap.signed.version != snap_meta.version:
                raise TUFError("TUF: cached snapshot version does not match the cached timestamp")
            targets_raw = load("targets")
            tmeta = snap.signed.meta["targets.json"]
            tmeta.verify_length_and_hashes(targets_raw)
            targets = Metadata[Targets].from_bytes(targets_raw)
            root.verify_delegate("targets", targets)
            if targets.signed.version != tmeta.version:
                raise TUFError("TUF: cached targets version does not match the cached snapshot")
        except TUFError:
            raise
        except Exception as exc:  # tuf raises several unrelated types on bad input
            raise _tuf_error(exc) from None
        return targets

    def _offline_target(self, name: str) -> bytes:
        from tuf.api import exceptions

        targets = self._offline_targets_meta()
        info = targets.signed.targets.get(name)
        if info is None:
            raise TUFError(f"TUF: the cached repository has no target {name}")
        path = self.targets_dir / quote(name, safe="")
        if not path.is_file():
            raise TUFError(f"TUF: {name} is not cached for {self.mirror}: run initialize first")
        data = path.read_bytes()
        try:
            info.verify_length_and_hashes(data)
        except exceptions.LengthOrHashMismatchError as exc:
            raise _tuf_error(exc) from None
        return data


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def initialize(mirror: str, cache_dir: Path, root: bytes | None = None) -> TrustUpdater:
    """``sigstack initialize``: trust ``root`` (or the embedded one) for ``mirror``,
    fetch and verify the trust material, cache it, and remember the mirror."""
    updater = TrustUpdater(mirror, cache_dir, root=root)
    updater.refresh()
    updater.trusted_root()  # fetched, verified against TUF, and parsed
    if updater.has_target(SIGNING_CONFIG_TARGET):
        updater.signing_config()
    _write(Path(cache_dir) / "remote.json", json.dumps({"mirror": updater.mirror}).encode() + b"\n")
    return updater


def default_mirror(cache_dir: Path) -> str:
    """The mirror ``initialize`` last recorded under ``cache_dir``, else production."""
    try:
        doc = json.loads((Path(cache_dir) / "remote.json").read_bytes())
        mirror = doc.get("mirror") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        mirror = None
    return mirror if isinstance(mirror, str) and mirror else PRODUCTION_MIRROR
