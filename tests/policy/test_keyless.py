"""Keyless authorities: images signed keylessly by the real cosign v3 (legacy ``.sig``
layout) against our CA (with its CT log) and ``sigstack tlog serve``, checked by
``sigstack policy test`` with a TrustRoot listing that CA, CT log and log
(``sigstoreKeys``), through the keyless seam (sigstack.policy.keyless). The real
policy-tester, when built, gives the same allow/deny on the same files."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.ca._support import Stack, ca_server, oidc_server
from tests.helpers import run_peer, sigstack
from tests.oci.ocihelpers import Registry, fresh
from tests.tlog._support import SIGSTACK, TlogServer, write_key

pytestmark = pytest.mark.interop
TESTER = Path.home() / "go" / "bin" / "policy-tester"


@dataclass
class Keyless:
    stack: Stack
    tlog: TlogServer
    trusted_root: Path
    trustroot_crd: Path
    image: str


@pytest.fixture(scope="module")
def keyless(registry: Registry, cosign: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyless]:
    import subprocess

    work = tmp_path_factory.mktemp("keyless")
    oidc = oidc_server(work, work / "oidc")
    ca = ca_server(work, work / "ca", oidc.url)
    tlog = TlogServer(str(work / "log.db"), write_key(work / "log.key"), work).start()
    try:
        stack = Stack(oidc, ca, work / "oidc", work / "ca")
        root = work / "trusted_root.json"
        start = "start-time=2020-01-01T00:00:00Z"
        subprocess.run([SIGSTACK, "trusted-root", "create",
                        "--fulcio", f"url={ca.url},certificate-chain={stack.ca_state / 'chain.pem'}",
                        "--rekor", f"url={tlog.url},public-key={tlog.public_key},{start}",
                        "--ctfe", f"url={ca.url},public-key={stack.ca_state / 'ct.pub'},{start}",
                        "--out", str(root)], check=True, capture_output=True)
        b64 = lambda p: base64.b64encode(Path(p).read_bytes()).decode()  # noqa: E731
        crd = work / "trustroot.yaml"
        crd.write_text(yaml.safe_dump({
            "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
            "spec": {"sigstoreKeys": {
                "certificateAuthorities": [{"subject": {"organization": "sigstack", "commonName": "test"},
                                            "uri": ca.url, "certChain": b64(stack.ca_state / "chain.pem")}],
                "tLogs": [{"baseURL": tlog.url, "hashAlgorithm": "sha-256", "publicKey": b64(tlog.public_key)}],
                "ctLogs": [{"baseURL": ca.url, "hashAlgorithm": "sha-256",
                            "publicKey": b64(stack.ca_state / "ct.pub")}]}}}))
        image = fresh(registry)
        r = run_peer(cosign, "sign", "--identity-token", stack.token("img@example.com"), "--fulcio-url", ca.url,
                     "--rekor-url", tlog.url, "--use-signing-config=false", "--new-bundle-format=false",
                     "--trusted-root", str(root), "--yes", image)
        assert r.code == 0, r.err
        yield Keyless(stack, tlog, root, crd, image)
    finally:
        tlog.stop()
        ca.stop()
        oidc.stop()


def policy(tmp: Path, k: Keyless, subject: str, **authority: object) -> Path:
    f = tmp / "cip.yaml"
    f.write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "keyless"},
        "spec": {"images": [{"glob": "127.0.0.1*/**"}], "authorities": [{"keyless": {
            "url": k.stack.ca.url, "trustRootRef": "ours",
            "identities": [{"issuer": k.stack.issuer, "subject": subject}]},
            "ctlog": {"url": k.tlog.url, "trustRootRef": "ours"}, **authority}]}}))
    return f


def test_keyless_signature_with_a_trustroot_passes(keyless: Keyless, tmp_path: Path) -> None:
    f = policy(tmp_path, keyless, "img@example.com")
    r = sigstack("policy", "test", "--policy", str(f), "--trustroot", str(keyless.trustroot_crd),
                 "--image", keyless.image)
    assert (r.code, r.out, r.err) == (0, b"", "")


def test_keyless_wrong_identity_is_denied(keyless: Keyless, tmp_path: Path) -> None:
    f = policy(tmp_path, keyless, "someone@example.com")
    r = sigstack("policy", "test", "--policy", str(f), "--trustroot", str(keyless.trustroot_crd),
                 "--image", keyless.image)
    assert r.code == 1
    assert json.loads(r.out) == {"errors": [
        f"signature keyless validation failed for authority authority-0 for {keyless.image}: no matching "
        "signatures: none of the expected identities matched what was in the certificate, got subjects "
        f"[img@example.com] with issuer {keyless.stack.issuer}: "]}


def test_keyless_unknown_trustroot_ref(keyless: Keyless, tmp_path: Path) -> None:
    f = policy(tmp_path, keyless, "img@example.com")
    r = sigstack("policy", "test", "--policy", str(f), "--image", keyless.image)
    assert r.code == 1
    assert json.loads(r.out)["errors"] == ["trustRootRef ours not found: "]


@pytest.mark.skipif(shutil.which(str(TESTER)) is None, reason="policy-tester is not built")
@pytest.mark.parametrize("subject,code", [("img@example.com", 0), ("someone@example.com", 1)])
def test_policy_tester_agrees(keyless: Keyless, tmp_path: Path, subject: str, code: int) -> None:
    f = policy(tmp_path, keyless, subject)
    theirs = run_peer(str(TESTER), "-policy", str(f), "-trustroot", str(keyless.trustroot_crd), "-image",
                      keyless.image, "-log-level", "error")
    ours = sigstack("policy", "test", "--policy", str(f), "--trustroot", str(keyless.trustroot_crd),
                    "--image", keyless.image)
    assert (ours.code, theirs.code) == (code, code), (ours.out, ours.err, theirs.stdout, theirs.err)
    assert ours.stdout == theirs.stdout  # byte for byte, the error line included



def _stale_root(trusted_root: bytes) -> bytes:
    """``trusted_root`` with its CA replaced by a self-signed one that issued nothing (a
    root from before the CA was rotated in)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "retired CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    doc = json.loads(trusted_root)
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    doc["certificateAuthorities"][0]["certChain"]["certificates"] = [{"rawBytes": der}]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("resync,retry,follows", [
    (1e9, 0.0, True),    # a failed verification reads the TrustRoot again
    (0.0, 1e9, True),    # the resync period has passed
    (1e9, 1e9, False),   # neither: the loaded root stands (the refresh is bounded)
])
def test_the_webhook_follows_a_rotated_tuf_trust_root(keyless: Keyless, registry: Registry, tmp_path: Path,
                                                      resync: float, retry: float, follows: bool) -> None:
    """A TrustRoot ``remote`` (a TUF mirror, tests/tuf_repo.py) loaded by the webhook while
    its repository still lists a retired CA; the repository then publishes the CA that
    signed the image (a new trusted_root.json target), and the webhook picks it up as
    policy-controller's TrustRoot resync does, or at the next failed verification."""
    from sigstack.admission.webhook import Admission, AdmissionSettings, PolicyFiles
    from sigstack.oci.client import RegistryOptions
    from sigstack.policy.keyless import verify_keyless
    from tests.admission.conftest import review
    from tests.tuf_repo import Repo, serve

    tuf = Repo(tmp_path / "tuf")
    tuf.add_target("trusted_root.json", _stale_root(keyless.trusted_root.read_bytes()))
    tuf.publish()
    policies = tmp_path / "policies"
    policies.mkdir()
    policy(policies, keyless, "img@example.com")
    with serve(tuf.path) as mirror:
        (policies / "trustroot.yaml").write_text(yaml.safe_dump({
            "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
            "spec": {"remote": {"mirror": mirror, "root": base64.b64encode(tuf.initial_root()).decode()}}}))
        settings = AdmissionSettings(registry=RegistryOptions(timeout=5.0, attempts=1),
                                     trust_root_resync=resync, trust_root_retry=retry)
        adm = Admission(PolicyFiles([str(policies)], settings, keyless=verify_keyless), settings)
        one = {"INIT_IMAGE": keyless.image, "APP_IMAGE": keyless.image, "SIDECAR_IMAGE": keyless.image}
        before = adm.review(review("pod", one), mutating=False)["response"]
        assert before["allowed"] is False
        assert (f"{keyless.image} signature keyless validation failed for authority authority-0 for {keyless.image}: "
                "no matching signatures: certificate chain: the signing certificate does not chain to a trusted CA"
                ) in before["status"]["message"]
        tuf.add_target("trusted_root.json", keyless.trusted_root.read_bytes())
        tuf.publish()
        after = adm.review(review("pod", one), mutating=False)["response"]
        assert after["allowed"] is follows, after
        assert adm.policies.reloads == 1  # the same loaded policies: only the TrustRoot was read again


def test_a_cached_admission_does_not_outlive_a_rotated_tuf_trust_root(keyless: Keyless, tmp_path: Path) -> None:
    """The other way round: an admitted image, then the repository drops the CA that
    signed it. The decision cache is keyed by the TrustRoot's content, so once the root
    is read again (the resync period, 0 here) the image is checked again and denied."""
    from sigstack.admission.webhook import Admission, AdmissionSettings, PolicyFiles
    from sigstack.oci.client import RegistryOptions
    from sigstack.policy.keyless import verify_keyless
    from tests.admission.conftest import review
    from tests.tuf_repo import Repo, serve

    tuf = Repo(tmp_path / "tuf")
    tuf.add_target("trusted_root.json", keyless.trusted_root.read_bytes())
    tuf.publish()
    policies = tmp_path / "policies"
    policies.mkdir()
    policy(policies, keyless, "img@example.com")
    with serve(tuf.path) as mirror:
        (policies / "trustroot.yaml").write_text(yaml.safe_dump({
            "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
            "spec": {"remote": {"mirror": mirror, "root": base64.b64encode(tuf.initial_root()).decode()}}}))
        settings = AdmissionSettings(registry=RegistryOptions(timeout=5.0, attempts=1), trust_root_resync=0.0)
        adm = Admission(PolicyFiles([str(policies)], settings, keyless=verify_keyless), settings)
        one = {"INIT_IMAGE": keyless.image, "APP_IMAGE": keyless.image, "SIDECAR_IMAGE": keyless.image}
        assert adm.review(review("pod", one), mutating=False)["response"]["allowed"] is True
        assert adm.review(review("pod", one), mutating=False)["response"]["allowed"] is True
        assert len(adm.cache) == 1  # the second answer came from the cache
        tuf.add_target("trusted_root.json", _stale_root(keyless.trusted_root.read_bytes()))
        tuf.publish()
        assert adm.review(review("pod", one), mutating=False)["response"]["allowed"] is False
