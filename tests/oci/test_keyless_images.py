"""Keyless signatures made by the real cosign (v3 and v2) and the PyPI ``sigstore``
client against our CA (with its CT log, SCTs embedded) and ``sigstack tlog serve``,
verified by ``sigstack`` by identity, and by the stock tool in the same test:

- blobs: cosign v3 (signing config), cosign v2 (``SIGSTORE_*`` variables, its legacy
  bundle file) and ``sigstore sign`` → ``sigstack verify-blob`` (also with the trust
  material from ``SIGSTORE_ROOT_FILE`` / ``SIGSTORE_REKOR_PUBLIC_KEY`` /
  ``SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`` instead of ``--trusted-root``);
- images in both storage layouts: cosign v3's bundle referrers and cosign v2's legacy
  ``.sig`` layers (certificate and chain annotations, SET-form evidence) →
  ``sigstack verify``; attestations → ``sigstack verify-attestation``;
- a wrong identity or issuer is refused with one error line (exit 12 for images).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ocihelpers import Registry, fresh
from tests.ca._support import Stack, ca_server, oidc_server
from tests.helpers import Result, assert_clean_error, sigstack
from tests.tlog._support import SIGSTACK, TlogServer, write_key

pytestmark = pytest.mark.interop
START = "start-time=2020-01-01T00:00:00Z"
SIGSTORE = str(Path(sys.executable).with_name("sigstore"))


@dataclass
class PKI:
    stack: Stack
    tlog: TlogServer
    dir: Path
    trusted_root: Path
    signing_config: Path
    trust_config: Path

    @property
    def sigstore_env(self) -> dict[str, str]:
        return {"SIGSTORE_ROOT_FILE": str(self.stack.ca_state / "chain.pem"),
                "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(self.stack.ca_state / "ct.pub"),
                "SIGSTORE_REKOR_PUBLIC_KEY": str(self.tlog.public_key)}

    def identity(self, email: str) -> tuple[str, ...]:
        return ("--certificate-identity", email, "--certificate-oidc-issuer", self.stack.issuer)


def sh(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    full.update(env or {})
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180, env=full)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PKI]:
    work = tmp_path_factory.mktemp("keyless")
    oidc = oidc_server(work, work / "oidc")
    ca = tlog = None
    try:
        ca = ca_server(work, work / "ca", oidc.url)
        tlog = TlogServer(str(work / "log.db"), write_key(work / "log.key"), work).start()
        stack = Stack(oidc, ca, work / "oidc", work / "ca")
        root, config = work / "trusted_root.json", work / "signing_config.json"
        ok(sh(SIGSTACK, "trusted-root", "create",
              "--fulcio", f"url={ca.url},certificate-chain={stack.ca_state / 'chain.pem'}",
              "--rekor", f"url={tlog.url},public-key={tlog.public_key},{START}",
              "--ctfe", f"url={ca.url},public-key={stack.ca_state / 'ct.pub'},{START}", "--out", root))
        service = f"api-version=1,{START},operator=sigstack-test"
        ok(sh(SIGSTACK, "signing-config", "create", "--fulcio", f"url={ca.url},{service}",
              "--rekor", f"url={tlog.url},{service}", "--rekor-config", "ANY",
              "--oidc-provider", f"url={oidc.url},{service}", "--out", config))
        trust = work / "trust_config.json"
        trust.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                                     "trustedRoot": json.loads(root.read_text()),
                                     "signingConfig": json.loads(config.read_text())}))
        yield PKI(stack, tlog, work, root, config, trust)
    finally:
        for server in (tlog, ca, oidc):
            if server is not None:
                server.stop()


# ---- blobs ----------------------------------------------------------------------------------

def _artifact(pki: PKI, name: str) -> Path:
    path = pki.dir / name
    path.write_bytes(f"{name}: signed keylessly against a private Sigstore\n".encode())
    return path


def test_cosign_v3_blob_bundle(cosign: str, pki: PKI) -> None:
    art, bundle = _artifact(pki, "v3.txt"), pki.dir / "v3.sigstore.json"
    # Twice: the log's first entry (index 0, a one-leaf tree) has a bundle whose protojson
    # omits logIndex and hashes, which sigstore-python's model refuses; the second has both.
    for _ in range(2):
        ok(sh(cosign, "sign-blob", "--identity-token", pki.stack.token("alice@example.com"), "--signing-config",
              pki.signing_config, "--trusted-root", pki.trusted_root, "--bundle", bundle, "--yes", art))
    ours = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", pki.trusted_root,
                    *pki.identity("alice@example.com"), art, offline=None)
    assert ours.code == 0 and "Verified OK" in ours.err, ours.err
    theirs = sh(SIGSTORE, "--trust-config", pki.trust_config, "verify", "identity", "--cert-identity",
                "alice@example.com", "--cert-oidc-issuer", pki.stack.issuer, "--bundle", bundle, art)
    assert theirs.returncode == 0, theirs.stderr
    bad = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", pki.trusted_root,
                   *pki.identity("bob@example.com"), art, offline=None)
    assert_clean_error(bad, "is the expected identity 'bob@example.com'")
    # the same trust material from cosign's environment variables instead of --trusted-root
    env = sigstack("verify-blob", "--bundle", bundle, *pki.identity("alice@example.com"), art,
                   env=pki.sigstore_env, offline=None)
    assert env.code == 0, env.err


def test_cosign_v2_legacy_bundle_file(cosign_v2: str, pki: PKI) -> None:
    art, bundle = _artifact(pki, "v2.txt"), pki.dir / "v2.bundle"
    ok(sh(cosign_v2, "sign-blob", "--identity-token", pki.stack.token("dave@example.com"), "--fulcio-url",
          pki.stack.ca.url, "--rekor-url", pki.tlog.url, "--bundle", bundle, "--yes", art, env=pki.sigstore_env))
    ours = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", pki.trusted_root,
                    *pki.identity("dave@example.com"), art, offline=None)
    assert ours.code == 0, ours.err
    ok(sh(cosign_v2, "verify-blob", "--bundle", bundle, *pki.identity("dave@example.com"), art,
          env=pki.sigstore_env))


def test_cosign_v2_detached_signature_and_certificate(cosign_v2: str, pki: PKI) -> None:
    """``--signature`` + ``--certificate`` without a bundle: the entry is looked up in the
    log at --rekor-url (ours), then verified offline against the trusted root."""
    art, sig, cert = _artifact(pki, "detached.txt"), pki.dir / "detached.sig", pki.dir / "detached.pem"
    ok(sh(cosign_v2, "sign-blob", "--identity-token", pki.stack.token("olivia@example.com"), "--fulcio-url",
          pki.stack.ca.url, "--rekor-url", pki.tlog.url, "--output-signature", sig, "--output-certificate", cert,
          "--yes", art, env=pki.sigstore_env))
    flags = ("--signature", sig, "--certificate", cert, "--rekor-url", pki.tlog.url, "--trusted-root",
             pki.trusted_root, *pki.identity("olivia@example.com"))
    ours = sigstack("verify-blob", *flags, art, offline=None)
    assert ours.code == 0 and "Verified OK" in ours.err, ours.err
    other = _artifact(pki, "other.txt")
    assert_clean_error(sigstack("verify-blob", *flags, other, offline=None), "invalid signature")
    # without the log there is no verified time (the certificate has no timestamp either)
    assert_clean_error(sigstack("verify-blob", *flags, "--insecure-ignore-tlog", art, offline=None),
                       "no verified time")


def test_sigstore_python_bundle(pki: PKI) -> None:
    art = _artifact(pki, "py.txt")
    bundle = pki.dir / "py.txt.sigstore.json"
    ok(sh(SIGSTORE, "--trust-config", pki.trust_config, "sign", "--identity-token",
          pki.stack.token("erin@example.com"), "--bundle", bundle, art))
    ours = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", pki.trusted_root,
                    *pki.identity("erin@example.com"), art, offline=None)
    assert ours.code == 0, ours.err
    wrong = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", pki.trusted_root,
                     "--certificate-identity", "erin@example.com", "--certificate-oidc-issuer",
                     "https://accounts.google.com", art, offline=None)
    assert_clean_error(wrong, "does not match the expected 'https://accounts.google.com'")


# ---- images: both layouts --------------------------------------------------------------------

def _verify(pki: PKI, command: str, img: str, email: str, *extra: str) -> Result:
    return sigstack(command, "--trusted-root", pki.trusted_root, *pki.identity(email), *extra, img, offline=None)


def test_cosign_v3_image_bundle_referrer(cosign: str, registry: Registry, pki: PKI) -> None:
    img = fresh(registry)
    ok(sh(cosign, "sign", "--identity-token", pki.stack.token("frank@example.com"), "--signing-config",
          pki.signing_config, "--trusted-root", pki.trusted_root, "-y", img))
    ours = _verify(pki, "verify", img, "frank@example.com")
    assert ours.code == 0, ours.err
    assert "code-signing certificate was verified" in ours.err
    ok(sh(cosign, "verify", "--trusted-root", pki.trusted_root, *pki.identity("frank@example.com"), img))
    bad = _verify(pki, "verify", img, "grace@example.com")  # bundles fail as key-signed ones do: exit 1
    assert_clean_error(bad, "is the expected identity 'grace@example.com'")


def test_cosign_v2_image_legacy_layer(cosign_v2: str, registry: Registry, pki: PKI) -> None:
    img = fresh(registry)
    ok(sh(cosign_v2, "sign", "--identity-token", pki.stack.token("heidi@example.com"), "--fulcio-url",
          pki.stack.ca.url, "--rekor-url", pki.tlog.url, "-y", img, env=pki.sigstore_env))
    ours = _verify(pki, "verify", img, "heidi@example.com")
    assert ours.code == 0, ours.err
    ok(sh(cosign_v2, "verify", *pki.identity("heidi@example.com"), img, env=pki.sigstore_env))
    bad = _verify(pki, "verify", img, "heidi@example.com", "--certificate-github-workflow-trigger", "push")
    assert_clean_error(bad, "GitHub Workflow Trigger", code=12)


def _predicate(pki: PKI) -> Path:
    path = pki.dir / "predicate.json"
    path.write_text(json.dumps({"builder": "keyless test"}))
    return path


def test_cosign_v3_attestation_bundle(cosign: str, registry: Registry, pki: PKI) -> None:
    img = fresh(registry)
    ok(sh(cosign, "attest", "--identity-token", pki.stack.token("ivan@example.com"), "--signing-config",
          pki.signing_config, "--trusted-root", pki.trusted_root, "--predicate", _predicate(pki), "-y", img))
    ours = _verify(pki, "verify-attestation", img, "ivan@example.com")
    assert ours.code == 0, ours.err
    ok(sh(cosign, "verify-attestation", "--trusted-root", pki.trusted_root, *pki.identity("ivan@example.com"),
          img))


def test_cosign_v2_attestation_legacy_layer(cosign_v2: str, registry: Registry, pki: PKI) -> None:
    img = fresh(registry)
    ok(sh(cosign_v2, "attest", "--identity-token", pki.stack.token("judy@example.com"), "--fulcio-url",
          pki.stack.ca.url, "--rekor-url", pki.tlog.url, "--predicate", _predicate(pki), "-y", img,
          env=pki.sigstore_env))
    ours = _verify(pki, "verify-attestation", img, "judy@example.com")
    assert ours.code == 0, ours.err
    bad = _verify(pki, "verify-attestation", img, "mallory@example.com")
    assert_clean_error(bad, "mallory@example.com", code=12)
