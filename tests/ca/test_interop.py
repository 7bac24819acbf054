"""The stock clients against our services: the real cosign (v3 with a signing config,
v3 with Fulcio/Rekor URLs, v2 with SIGSTORE_* variables, and v3's GitHub Actions
ambient credentials), and the PyPI ``sigstore`` client with a ClientTrustConfig.
Each signs keylessly against our CA (with its CT log) and `sigstack tlog serve`, and
the same tool verifies the result by identity; wrong identities are refused. These
are the proof that the CA, its SCTs and the trust material are right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ca._support import Stack
from tests.tlog._support import SIGSTACK, TlogServer, write_key

pytestmark = pytest.mark.interop
SIGSTORE = str(Path(sys.executable).with_name("sigstore"))
START = "start-time=2020-01-01T00:00:00Z"


@dataclass
class Env:
    stack: Stack
    tlog: TlogServer
    dir: Path
    trusted_root: Path
    signing_config: Path
    trust_config: Path
    artifact: Path

    @property
    def sigstore_env(self) -> dict[str, str]:
        """cosign v2's way: the chain, the CT key and the log key from files."""
        return {"SIGSTORE_ROOT_FILE": str(self.stack.ca_state / "chain.pem"),
                "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(self.stack.ca_state / "ct.pub"),
                "SIGSTORE_REKOR_PUBLIC_KEY": str(self.tlog.public_key)}


def sh(*args: str | Path, env: dict[str, str] | None = None, ok: bool = True,
       unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith(("COSIGN_", "SIGSTORE_"))}
    full.update(env or {})
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180, env=full)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("interop")
    tlog = TlogServer(str(work / "log.db"), write_key(work / "log.key"), work).start()
    try:
        ca, issuer = stack.ca.url, stack.issuer
        root, config = work / "trusted_root.json", work / "signing_config.json"
        sh(SIGSTACK, "trusted-root", "create",
           "--fulcio", f"url={ca},certificate-chain={stack.ca_state / 'chain.pem'}",
           "--rekor", f"url={tlog.url},public-key={tlog.public_key},{START}",
           "--ctfe", f"url={ca},public-key={stack.ca_state / 'ct.pub'},{START}", "--out", root)
        service = f"api-version=1,{START},operator=sigstack-test"
        sh(SIGSTACK, "signing-config", "create", "--fulcio", f"url={ca},{service}",
           "--rekor", f"url={tlog.url},{service}", "--rekor-config", "ANY",
           "--oidc-provider", f"url={issuer},{service}", "--out", config)
        trust = work / "trust_config.json"
        trust.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                                     "trustedRoot": json.loads(root.read_text()),
                                     "signingConfig": json.loads(config.read_text())}))
        art = work / "artifact.txt"
        art.write_bytes(b"signed keylessly against a private Sigstore\n")
        yield Env(stack, tlog, work, root, config, trust, art)
    finally:
        tlog.stop()


def _verify(cosign: str, e: Env, bundle: Path, identity: str, issuer: str, ok: bool = True,
            artifact: Path | None = None, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return sh(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", e.trusted_root,
              "--certificate-identity", identity, "--certificate-oidc-issuer", issuer, *extra,
              artifact or e.artifact, ok=ok)


def test_cosign_v3_signing_config(cosign: str, env: Env) -> None:
    e = env
    bundle = e.dir / "v3.sigstore.json"
    token = e.stack.token("alice@example.com")
    sh(cosign, "sign-blob", "--identity-token", token, "--signing-config", e.signing_config,
       "--trusted-root", e.trusted_root, "--bundle", bundle, "--yes", e.artifact)
    out = _verify(cosign, e, bundle, "alice@example.com", e.stack.issuer)
    assert "Verified OK" in out.stderr
    bad = _verify(cosign, e, bundle, "bob@example.com", e.stack.issuer, ok=False)
    assert bad.returncode == 1 and 'expected SAN value "bob@example.com", got "alice@example.com"' in bad.stderr
    bad = _verify(cosign, e, bundle, "alice@example.com", "https://accounts.google.com", ok=False)
    assert bad.returncode == 1 and "no matching CertificateIdentity" in bad.stderr
    other = e.dir / "other.txt"
    other.write_bytes(b"something else\n")
    bad = _verify(cosign, e, bundle, "alice@example.com", e.stack.issuer, ok=False, artifact=other)
    assert bad.returncode == 1, bad.stderr


def test_cosign_v3_fulcio_and_rekor_urls(cosign: str, env: Env) -> None:
    """Without a signing config cosign v3 takes Fulcio's v1 API (its legacy client)."""
    e = env
    bundle = e.dir / "v3-urls.sigstore.json"
    sh(cosign, "sign-blob", "--identity-token", e.stack.token("carol@example.com"), "--fulcio-url", e.stack.ca.url,
       "--rekor-url", e.tlog.url, "--use-signing-config=false", "--trusted-root", e.trusted_root,
       "--bundle", bundle, "--yes", e.artifact)
    _verify(cosign, e, bundle, "carol@example.com", e.stack.issuer)


def test_cosign_v2_with_sigstore_variables(cosign_v2: str, env: Env) -> None:
    e = env
    bundle = e.dir / "v2.bundle"
    sh(cosign_v2, "sign-blob", "--identity-token", e.stack.token("dave@example.com"), "--fulcio-url",
       e.stack.ca.url, "--rekor-url", e.tlog.url, "--bundle", bundle, "--yes", e.artifact, env=e.sigstore_env)
    sh(cosign_v2, "verify-blob", "--bundle", bundle, "--certificate-identity", "dave@example.com",
       "--certificate-oidc-issuer", e.stack.issuer, e.artifact, env=e.sigstore_env)
    bad = sh(cosign_v2, "verify-blob", "--bundle", bundle, "--certificate-identity", "eve@example.com",
             "--certificate-oidc-issuer", e.stack.issuer, e.artifact, env=e.sigstore_env, ok=False)
    assert bad.returncode == 1, bad.stderr


def test_cosign_v3_github_actions_ambient_token(cosign: str, env: Env) -> None:
    """cosign's GitHub provider asks our issuer (ACTIONS_ID_TOKEN_REQUEST_URL + bearer,
    ``&audience=sigstore``); the certificate carries the workflow identity, which
    cosign's GitHub flags (deprecated raw OIDs) and identity checks accept."""
    e = env
    state = e.stack.oidc_state
    gh = {"GITHUB_ACTIONS": "true",
          "ACTIONS_ID_TOKEN_REQUEST_URL": e.stack.issuer + "/github/actions-token?api-version=2.0",
          "ACTIONS_ID_TOKEN_REQUEST_TOKEN": (state / "actions-request-token").read_text().strip()}
    bundle = e.dir / "gha.sigstore.json"
    sh(cosign, "sign-blob", "--signing-config", e.signing_config, "--trusted-root", e.trusted_root,
       "--bundle", bundle, "--yes", e.artifact, env=gh)
    workflow = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    _verify(cosign, e, bundle, workflow, e.stack.issuer + "/github",
            extra=("--certificate-github-workflow-repository", "octo-org/octo-repo",
                   "--certificate-github-workflow-ref", "refs/heads/main",
                   "--certificate-github-workflow-trigger", "push"))
    bad = _verify(cosign, e, bundle, workflow, e.stack.issuer + "/github", ok=False,
                  extra=("--certificate-github-workflow-repository", "octo-org/other"))
    assert bad.returncode == 1, bad.stderr


def test_sigstore_python_sign_and_verify(env: Env) -> None:
    e = env
    art = e.dir / "py.txt"
    art.write_bytes(b"signed by sigstore-python\n")
    sh(SIGSTORE, "--trust-config", e.trust_config, "sign", "--identity-token", e.stack.token("frank@example.com"),
       art)
    bundle = Path(str(art) + ".sigstore.json")
    assert bundle.exists()
    out = sh(SIGSTORE, "--trust-config", e.trust_config, "verify", "identity", "--cert-identity",
             "frank@example.com", "--cert-oidc-issuer", e.stack.issuer, art)
    assert f"OK: {art}" in out.stdout + out.stderr
    bad = sh(SIGSTORE, "--trust-config", e.trust_config, "verify", "identity", "--cert-identity",
             "grace@example.com", "--cert-oidc-issuer", e.stack.issuer, art, ok=False)
    assert bad.returncode == 1, bad.stderr
    # and cosign accepts sigstore-python's bundle
    _verify_cosign = sh(str(Path.home() / "go" / "bin" / "cosign"), "verify-blob", "--bundle", bundle,
                        "--trusted-root", e.trusted_root, "--certificate-identity", "frank@example.com",
                        "--certificate-oidc-issuer", e.stack.issuer, art)
    assert "Verified OK" in _verify_cosign.stderr


def test_sigstore_python_github_ambient_and_verify_github(env: Env) -> None:
    """sigstore-python's ambient detection (the ``id`` package) fetches a GitHub Actions
    token from our issuer. (``verify github`` insists on GitHub's own issuer URL, so the
    identity is checked with ``verify identity``; cosign's test checks the GitHub OIDs.)"""
    e = env
    art = e.dir / "gha-py.txt"
    art.write_bytes(b"signed in a pretend workflow\n")
    gh = {"GITHUB_ACTIONS": "true",
          "ACTIONS_ID_TOKEN_REQUEST_URL": e.stack.issuer + "/github/actions-token?api-version=2.0",
          "ACTIONS_ID_TOKEN_REQUEST_TOKEN": (e.stack.oidc_state / "actions-request-token").read_text().strip()}
    sh(SIGSTORE, "--trust-config", e.trust_config, "sign", art, env=gh)
    workflow = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    sh(SIGSTORE, "--trust-config", e.trust_config, "verify", "identity", "--cert-identity", workflow,
       "--cert-oidc-issuer", e.stack.issuer + "/github", art)
    bad = sh(SIGSTORE, "--trust-config", e.trust_config, "verify", "identity", "--cert-identity",
             workflow.replace("main", "dev"), "--cert-oidc-issuer", e.stack.issuer + "/github", art, ok=False)
    assert bad.returncode == 1, bad.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.oci.ocihelpers import start_registry

    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.mark.parametrize("legacy", [False, True], ids=["signing-config", "fulcio-url"])
def test_cosign_v3_keyless_image(cosign: str, env: Env, registry: object, legacy: bool) -> None:
    """cosign signs an image in the real registry keylessly against our CA and log, in
    both of its ways of finding the services, and verifies it by identity."""
    from tests.oci.ocihelpers import Registry, fresh

    assert isinstance(registry, Registry)
    e = env
    image = fresh(registry)
    services = (["--fulcio-url", e.stack.ca.url, "--rekor-url", e.tlog.url, "--use-signing-config=false"] if legacy
                else ["--signing-config", str(e.signing_config)])
    sh(cosign, "sign", "--identity-token", e.stack.token("img@example.com"), *services,
       "--trusted-root", e.trusted_root, "--yes", image)
    out = sh(cosign, "verify", "--trusted-root", e.trusted_root, "--certificate-identity", "img@example.com",
             "--certificate-oidc-issuer", e.stack.issuer, image)
    assert "The code-signing certificate was verified using trusted certificate authority certificates" in out.stderr
    bad = sh(cosign, "verify", "--trusted-root", e.trusted_root, "--certificate-identity", "other@example.com",
             "--certificate-oidc-issuer", e.stack.issuer, image, ok=False)
    assert bad.returncode == 1, bad.stderr
