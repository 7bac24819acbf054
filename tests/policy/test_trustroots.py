"""TrustRoot ``remote`` and ``repository`` (policy-controller's TUF forms) read by
sigstack.policy.trustroots through sigstack.trust, against a TUF repository built with
python-tuf (tests/trust/tufrepo.py) and served on 127.0.0.1 or packed as ``mirrorFS``.

The keyless cases of the policy table (tests/policy/test_tester_table.py) show both
forms end to end next to the real policy-tester; these tests cover what the table
does not: the older custom-metadata targets without a trusted_root.json (what
policy-tester itself reads), tampering caught by TUF, and each bad input answered with
one clear error, through ``sigstack policy test`` too.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.bundle.trustroot import TrustedRoot
from sigstack.errors import PolicyError, TUFError
from sigstack.policy.engine import Engine, sigstore_keys_to_trusted_root
from sigstack.policy.models import TrustRoot
from sigstack.policy.trustroots import read_tuf_trust_root
from tests.helpers import sigstack
from tests.tuf_repo import Repo, mirror_fs, serve

PUBLIC_GOOD = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "conformance" / "public-good-trust"


def _ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _pub_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _root(r: Repo) -> str:
    return base64.b64encode(r.initial_root()).decode()


@pytest.fixture
def public_good(tmp_path: Path) -> Iterator[tuple[Repo, str]]:
    r = Repo(tmp_path / "repo")
    r.add_target("trusted_root.json", (PUBLIC_GOOD / "production" / "trusted_root.json").read_bytes())
    r.publish()
    with serve(r.path) as url:
        yield r, url


def test_remote_reads_the_trusted_root_target(public_good: tuple[Repo, str]) -> None:
    r, url = public_good
    got = read_tuf_trust_root("tr", {"mirror": url, "root": _root(r)}, None)
    assert got == r.files["trusted_root.json"]


def test_repository_reads_the_serialized_mirror(public_good: tuple[Repo, str]) -> None:
    r, _ = public_good
    got = read_tuf_trust_root("tr", None, {"root": _root(r), "targets": "targets",
                                           "mirrorFS": base64.b64encode(mirror_fs(r.path)).decode()})
    assert got == r.files["trusted_root.json"]


def test_custom_metadata_targets_without_a_trusted_root(tmp_path: Path) -> None:
    """Older private repositories: targets named by ``custom.sigstore.usage``."""
    r = Repo(tmp_path / "repo")
    ca, rekor, ctfe = _ca_pem(), _pub_pem(), _pub_pem()
    r.add_target("fulcio.crt.pem", ca, {"sigstore": {"usage": "Fulcio", "status": "Active", "uri": "https://ca"}})
    r.add_target("rekor.pub", rekor, {"sigstore": {"usage": "Rekor", "status": "Active", "uri": "https://log"}})
    r.add_target("ctfe.pub", ctfe, {"sigstore": {"usage": "CTFE", "status": "Active", "uri": "https://ct"}})
    r.add_target("readme.txt", b"not a key")  # no custom metadata: not a key
    r.publish()
    got = read_tuf_trust_root("tr", None, {"root": _root(r), "mirrorFS": base64.b64encode(mirror_fs(r.path)).decode()})
    assert isinstance(got, dict)
    root = TrustedRoot.from_json(sigstore_keys_to_trusted_root(got))
    assert [t.base_url for t in root.tlogs] == ["https://log"]
    assert [t.base_url for t in root.ctlogs] == ["https://ct"]
    assert len(root.certificate_authorities) == 1


def test_tampered_mirror_fs_is_refused(tmp_path: Path) -> None:
    r = Repo(tmp_path / "repo")
    r.add_target("trusted_root.json", (PUBLIC_GOOD / "production" / "trusted_root.json").read_bytes())
    r.publish()
    [stored] = (r.path / "targets").glob("*.trusted_root.json")
    stored.write_bytes(stored.read_bytes().replace(b"rekor.sigstore.dev", b"rekor.example.com"))
    with pytest.raises(TUFError, match="does not match its length or hash"):
        read_tuf_trust_root("tr", None, {"root": _root(r), "mirrorFS": base64.b64encode(mirror_fs(r.path)).decode()})


def test_a_root_not_the_repository_s_is_refused(public_good: tuple[Repo, str], tmp_path: Path) -> None:
    _, url = public_good
    other = Repo(tmp_path / "other")
    with pytest.raises(TUFError, match="not signed by a threshold"):
        read_tuf_trust_root("tr", {"mirror": url, "root": _root(other)}, None)


def _tar(entries: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("remote,repository,message", [
    ({"mirror": "ftp://example", "root": "e30="}, None, "remote.mirror must be an http(s) URL"),
    ({"mirror": "http://127.0.0.1:1", "root": "e30=", "colour": "blue"}, None, 'unknown field "colour"'),
    ({"mirror": "http://127.0.0.1:1"}, None, "the initial TUF root is missing"),
    (None, {"root": "e30=", "mirrorFS": "%%%"}, "repository.mirrorFS is not base64"),
    (None, {"root": "e30=", "mirrorFS": base64.b64encode(b"plain text").decode()}, "is not a gzipped tar"),
    (None, {"root": "e30=", "mirrorFS": _tar({"repository/../../etc/x": b"x"})}, "a path outside the repository"),
])
def test_bad_trust_roots(remote: dict[str, Any] | None, repository: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_tuf_trust_root("tr", remote, repository)


def test_engine_reads_a_tuf_trust_root_once(public_good: tuple[Repo, str]) -> None:
    r, url = public_good
    engine = Engine([], trust_roots=[TrustRoot("tr", remote={"mirror": url, "root": _root(r)})])
    first = engine._trusted_root_json("tr")
    (r.path / "timestamp.json").unlink()  # the mirror goes away: the engine has what it read
    assert engine._trusted_root_json("tr") == first == r.files["trusted_root.json"]


def test_policy_test_with_an_unreachable_mirror(tmp_path: Path) -> None:
    """The policy's error names the TrustRoot and the TUF failure; no traceback."""
    trustroot = tmp_path / "trustroot.yaml"
    trustroot.write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
        "spec": {"remote": {"mirror": "http://127.0.0.1:1", "root": _root(Repo(tmp_path / "repo"))}}}))
    cip = tmp_path / "cip.yaml"
    cip.write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "p"},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"keyless": {
            "trustRootRef": "ours", "identities": [{"issuer": "https://issuer", "subject": "me@example.com"}]}}]}}))
    r = sigstack("policy", "test", "--policy", str(cip), "--trustroot", str(trustroot), "--image",
                 "127.0.0.1:1/app@sha256:" + "0" * 64)
    assert r.code == 1, r.err
    assert "Traceback" not in r.err
    [error] = json.loads(r.out)["errors"]
    assert error.startswith("trustRootRef ours: TUF: cannot download"), error
