"""Helpers for the image tests: the registry handle and tiny random images built and
pushed with our own client (commands run through tests/helpers.py ``sigstack``)."""

from __future__ import annotations

import datetime
import gzip
import io
import ipaddress
import os
import re
import shutil
import subprocess
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.helpers import Result
from tests.tiers import slow_resource

from sigstack.oci.client import DOCKER_LIST, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256_digest
from sigstack.oci.reference import Reference
from sigstack.payload import gojson


def _layer() -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = os.urandom(64)
        info = tarfile.TarInfo("random.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def push_image(client: RegistryClient, ref: Reference, arch: str = "amd64") -> str:
    """Push a one-layer image to ``ref``; returns its manifest digest."""
    layer, diff_id = _layer()
    config = gojson.dumps({"architecture": arch, "os": "linux",
                           "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}})
    repo = ref.repository
    client.upload_blob(repo, layer, sha256_digest(layer))
    client.upload_blob(repo, config, sha256_digest(config))
    manifest = gojson.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": sha256_digest(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer),
                    "digest": sha256_digest(layer)}],
    })
    return client.put_manifest(ref, manifest, OCI_MANIFEST)


def push_index(client: RegistryClient, ref: Reference, docker: bool = False) -> tuple[str, list[str]]:
    """Push a two-platform index (amd64, arm64) to ``ref``; returns (index, children)."""
    children = []
    manifests = []
    for arch in ("amd64", "arm64"):
        d = push_image(client, ref.repository.tag(f"platform-{arch}"), arch)
        m = client.get_manifest(ref.repository.digest(d))
        children.append(d)
        manifests.append({"mediaType": m.media_type, "size": m.size, "digest": d,
                          "platform": {"architecture": arch, "os": "linux"}})
    media = DOCKER_LIST if docker else OCI_INDEX
    index = gojson.dumps({"schemaVersion": 2, "mediaType": media, "manifests": manifests})
    return client.put_manifest(ref, index, media), children


@dataclass
class Registry:
    host: str
    proc: subprocess.Popen[bytes]
    root: Path
    ca: Path | None = None
    docker_config: Path | None = None
    user: str = ""
    password: str = ""

    def repo(self, name: str | None = None) -> str:
        return f"{self.host}/{name or 'test/' + uuid.uuid4().hex[:12]}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)



def stderr_without_tlog_warning(stderr: str) -> str:
    """stderr minus the warning ``--insecure-ignore-tlog`` prints (as cosign does)."""
    return "\n".join(x for x in stderr.splitlines()
                     if not x.startswith("WARNING: Skipping tlog verification")).strip()
REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def start_registry(tmp: Path, extra: str = "") -> Registry:
    """Start Debian's ``docker-registry`` on a free loopback port (``extra`` is appended
    to its YAML config: TLS, auth); the caller stops it with :meth:`Registry.stop`."""
    slow_resource("a registry (docker-registry)")
    if not Path(REGISTRY_BIN).exists():
        pytest.fail("docker-registry is not installed: run scripts/bootstrap (apt package docker-registry)")
    data = tmp / "data"
    data.mkdir(parents=True)
    cfg = tmp / "config.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n"
        "http:\n  addr: 127.0.0.1:0\n  secret: sigstack-tests\n" + extra
    )
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    host = None
    for _ in range(200):
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            break
        m = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if m:
            host = m.group(1)
            break
    if host is None:
        proc.kill()
        pytest.fail("docker-registry did not start")
    # keep draining stderr so the registry never blocks on a full pipe
    stream = proc.stderr
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()
    return Registry(host, proc, tmp)


def tls_material(tmp: Path, ips: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for ``ips`` and ``localhost``: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigstack test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [*(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


def fresh(registry: Registry) -> str:
    """A new tiny image in a new repository, as ``repo@digest``."""
    from sigstack.oci.client import RegistryClient
    from sigstack.oci.reference import parse_reference

    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


def one_error(r: Result, code: int, text: str) -> None:
    """Exit ``code``, no traceback, and exactly one ``Error:`` line, containing ``text``."""
    err = r.err
    assert r.code == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    assert text in errors[0], err


def start_tls_registry(tmp: Path) -> Registry:
    """A registry over TLS (a throw-away CA, ``reg.ca``) with htpasswd basic auth
    (``reg.user``/``reg.password``), serving from ``tmp``."""
    import shutil
    import uuid

    import pytest

    ca, cert, key = tls_material(tmp)
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        pytest.fail("htpasswd is not installed: run scripts/bootstrap (apt package apache2-utils)")
    user, password = "alice", uuid.uuid4().hex
    line = subprocess.run([htpasswd, "-Bbn", user, password], check=True, capture_output=True).stdout
    (tmp / "htpasswd").write_bytes(line)
    extra = (f"  tls:\n    certificate: {cert}\n    key: {key}\n"
             f"auth:\n  htpasswd:\n    realm: sigstack-tests\n    path: {tmp / 'htpasswd'}\n")
    reg = start_registry(tmp / "srv", extra)
    reg.ca, reg.user, reg.password = ca, user, password
    return reg
