"""A TrustRoot's TUF forms, ``remote`` and ``repository``, read with :mod:`sigstack.trust`.

policy-controller's ``TrustRootSpec`` (``pkg/apis/policy/v1alpha1/trustroot_types.go``):

- ``remote``: ``root`` (the initial TUF root.json, base64 as Go encodes ``[]byte``),
  ``mirror`` (the repository's URL), ``targets`` (where the targets live below it;
  default ``targets``), ``trustedRootTarget`` (default ``trusted_root.json``);
- ``repository``: the same ``root``, ``targets`` and ``trustedRootTarget``, and
  ``mirrorFS``, the repository itself as a gzipped tar (base64), for air gaps: nothing
  is fetched, the tarball's files stand in for the mirror. Entries may sit below a
  ``repository/`` directory (policy-controller strips that prefix).

Either way the TUF client (python-tuf's ngclient through
:class:`sigstack.trust.tuf.TrustUpdater`) walks the root chain from the given root and
verifies timestamp, snapshot and targets before any target is read. Then, as
policy-controller's ``GetSigstoreKeysFromTuf``: the trusted root target when the
repository has it; else (older private repositories) the top-level targets whose
``custom.sigstore.usage`` names them ``Fulcio``, ``CTFE`` or ``Rekor``, with
``custom.sigstore.uri`` as their URL. The tarball is read in memory (a small
``FetcherInterface``): python-tuf has no file-system mirror of its own.
"""

from __future__ import annotations

import base64
import binascii
import io
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sigstack.errors import PolicyError

#: what a mirrorFS tarball may hold (policy-controller reads it into memory too)
MAX_MIRROR_FS = 64 << 20
_REMOTE_FIELDS = ("root", "mirror", "targets", "trustedRootTarget")
_REPOSITORY_FIELDS = ("root", "mirrorFS", "targets", "trustedRootTarget")


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{what} is missing (base64)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PolicyError(f"{what} is not base64") from None


def _fields(spec: Any, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{what} must be an object")
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise PolicyError(f'{what}: unknown field "{unknown[0]}"')
    return dict(spec)


def mirror_fs_files(tarball: bytes) -> dict[str, bytes]:
    """The regular files of a ``mirrorFS`` tarball by path (``repository/`` prefix and
    leading slashes removed); paths climbing out of the repository are refused."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:*") as tar:
            for member in tar:
                if not member.isreg():
                    continue
                name = member.name.lstrip("/").removeprefix("./").removeprefix("repository/")
                if ".." in name.split("/"):
                    raise PolicyError(f"the TrustRoot's mirrorFS has a path outside the repository: {member.name}")
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PolicyError(f"the TrustRoot's mirrorFS is not a gzipped tar: {exc}") from None
    return files


def _memory_fetcher(base: str, files: Mapping[str, bytes]) -> Any:
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface

    class MemoryFetcher(FetcherInterface):
        """The tarball's files as the mirror ``base`` (a 404 for what it lacks, so the
        root walk stops where the repository's roots end, as over HTTP)."""

        def _fetch(self, url: str) -> Iterator[bytes]:
            data = files.get(url.removeprefix(base).lstrip("/"))
            if data is None:
                raise DownloadHTTPError(f"{url} is not in the repository", 404)
            return iter([data])

    return MemoryFetcher()


def read_tuf_trust_root(name: str, remote: Mapping[str, Any] | None,
                        repository: Mapping[str, Any] | None) -> bytes | dict[str, Any]:
    """The TrustRoot ``name``'s trust material through TUF: the trusted root target's
    bytes (a TrustedRoot JSON document), or, from a repository without one, the keys
    its targets' custom metadata names as a ``sigstoreKeys``-shaped mapping."""
    from sigstack.trust.tuf import TrustUpdater

    if remote is not None:
        spec = _fields(remote, "TrustRoot.spec.remote", _REMOTE_FIELDS)
        mirror = spec.get("mirror")
        if not isinstance(mirror, str) or not mirror.startswith(("http://", "https://")):
            raise PolicyError(f"TrustRoot {name}: remote.mirror must be an http(s) URL")
        fetcher = None
    else:
        spec = _fields(repository, "TrustRoot.spec.repository", _REPOSITORY_FIELDS)
        tarball = _b64(spec.get("mirrorFS"), f"TrustRoot {name}: repository.mirrorFS")
        if len(tarball) > MAX_MIRROR_FS:
            raise PolicyError(f"TrustRoot {name}: repository.mirrorFS is larger than {MAX_MIRROR_FS >> 20} MiB")
        mirror = "mem://repository"
        fetcher = _memory_fetcher(mirror + "/", mirror_fs_files(tarball))
    root = _b64(spec.get("root"), f"TrustRoot {name}: the initial TUF root")
    targets = str(spec.get("targets") or "targets")
    wanted = str(spec.get("trustedRootTarget") or "trusted_root.json")
    with tempfile.TemporaryDirectory(prefix="sigstack-trustroot-") as cache:
        updater = TrustUpdater(mirror, Path(cache), root=root, targets_path=targets, fetcher=fetcher)
        updater.refresh()
        if updater.has_target(wanted):
            return updater.target(wanted)
        keys: dict[str, list[dict[str, Any]]] = {"certificateAuthorities": [], "tLogs": [], "ctLogs": []}
        for target, info in sorted(updater.top_level_targets().items()):
            custom = info.custom.get("sigstore") if isinstance(info.custom, dict) else None
            usage = custom.get("usage") if isinstance(custom, dict) else None
            if usage not in ("Fulcio", "CTFE", "Rekor"):
                continue
            assert isinstance(custom, dict)
            data = updater.target(target).decode(errors="replace")
            uri = str(custom.get("uri") or "")
            if usage == "Fulcio":
                keys["certificateAuthorities"].append({"certChain": data, "uri": uri})
            else:
                keys["ctLogs" if usage == "CTFE" else "tLogs"].append({"publicKey": data, "baseURL": uri})
    if not keys["certificateAuthorities"]:  # policy-controller's words
        raise PolicyError(f"TrustRoot {name}: no certificate authorities found")
    return keys

