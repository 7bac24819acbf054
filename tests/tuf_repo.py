"""A real TUF repository for tests, built with python-tuf's Metadata API (consistent
snapshots, one Ed25519 key per role), served on 127.0.0.1 by ``http.server`` (a static
mirror is all a TUF client needs) or packed as policy-controller's serialized ``mirrorFS``
tarball.

Used by tests/trust (sigstack's own TUF client, attacked through this repository),
tests/policy (TrustRoot ``remote`` and ``repository``) and tests/keyless/test_sigstore_js.py
(the npm ``@sigstore/cli`` only takes trust material through TUF, so `sigstack serve`'s
trusted root is published here for it)."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

ROLES = ("root", "timestamp", "snapshot", "targets")


def expires(days: float = 30) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


class Repo:
    """A TUF repository on disk (consistent snapshots), one Ed25519 key per role."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "targets").mkdir(parents=True)
        self.signers = {role: [CryptoSigner.generate_ed25519()] for role in ROLES}
        root = Root(expires=expires(365), consistent_snapshot=True)
        for role in ROLES:
            root.add_key(self.signers[role][0].public_key, role)
        self.root = Metadata(root)
        self.targets = Metadata(Targets(expires=expires()))
        self.snapshot = Metadata(Snapshot(expires=expires()))
        self.timestamp = Metadata(Timestamp(expires=expires(1)))
        self.files: dict[str, bytes] = {}
        self.publish_root()

    def sign(self, md: Metadata[Any], role: str, signers: list[CryptoSigner] | None = None) -> bytes:
        md.signatures.clear()
        for signer in signers or self.signers[role]:
            md.sign(signer, append=True)
        return md.to_bytes(JSONSerializer(compact=False))

    def publish_root(self, signers: list[CryptoSigner] | None = None) -> bytes:
        data = self.sign(self.root, "root", signers)
        (self.path / f"{self.root.signed.version}.root.json").write_bytes(data)
        return data

    def add_target(self, name: str, data: bytes, custom: dict[str, Any] | None = None) -> None:
        self.files[name] = data
        info = TargetFile.from_data(name, data, ["sha256"])
        if custom is not None:  # as older Sigstore repositories name their keys (custom.sigstore.usage)
            info.unrecognized_fields["custom"] = custom
        self.targets.signed.targets[name] = info
        (self.path / "targets" / f"{info.hashes['sha256']}.{name}").write_bytes(data)

    def publish(self, *, bump: bool = True) -> None:
        """Targets, snapshot and timestamp, each one version up."""
        if bump:
            self.targets.signed.version += 1
            self.snapshot.signed.version += 1
            self.timestamp.signed.version += 1
        t = self.sign(self.targets, "targets")
        (self.path / f"{self.targets.signed.version}.targets.json").write_bytes(t)
        self.snapshot.signed.meta["targets.json"] = MetaFile(version=self.targets.signed.version)
        s = self.sign(self.snapshot, "snapshot")
        (self.path / f"{self.snapshot.signed.version}.snapshot.json").write_bytes(s)
        self.timestamp.signed.snapshot_meta = MetaFile(version=self.snapshot.signed.version)
        (self.path / "timestamp.json").write_bytes(self.sign(self.timestamp, "timestamp"))

    def initial_root(self) -> bytes:
        return (self.path / "1.root.json").read_bytes()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def served(repo: Repo) -> AbstractContextManager[str]:
    """Serve ``repo`` on a free 127.0.0.1 port for the block; yields its base URL."""
    return serve(repo.path)


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on a free loopback port; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def mirror_fs(directory: Path) -> bytes:
    """``directory`` as policy-controller's ``mirrorFS``: a gzipped tar whose entries
    sit below ``repository/`` (the prefix its ``UncompressMemFS`` strips)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname="repository")
    return buf.getvalue()
