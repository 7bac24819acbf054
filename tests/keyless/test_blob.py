"""Keyless sign-blob and attest-blob against `sigstack serve`, checked by the stock
verifiers: the real cosign (``verify-blob --trusted-root``) and the PyPI ``sigstore``
client (``verify identity --offline --trust-config``) accept the bundle and reject it
when the identity or the artifact is altered."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import Result, run_peer, sigstack
from tests.keyless._support import Served

SIGSTORE = str(Path(sys.executable).with_name("sigstore"))
pytestmark = pytest.mark.interop


def sign_blob(s: Served, art: Path, bundle: Path, *extra: str, email: str = "alice@example.com") -> Result:
    r = sigstack("sign-blob", "--identity-token", s.token(email), "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, "--bundle", bundle, *extra, art, offline=None)
    assert r.code == 0, r.err
    return r


def cosign_verify(cosign: str, s: Served, art: Path, bundle: Path, identity: str) -> Result:
    return run_peer(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root,
                    "--certificate-identity", identity, "--certificate-oidc-issuer", s.oidc, art)


def sigstore_verify(s: Served, art: Path, bundle: Path, identity: str) -> Result:
    return run_peer(SIGSTORE, "--trust-config", s.trust_config, "verify", "identity", "--offline",
                    "--bundle", bundle, "--cert-identity", identity, "--cert-oidc-issuer", s.oidc, art)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    art = tmp_path / "release.tar.gz"
    art.write_bytes(b"a release signed keylessly against sigstack serve\n")
    return art


def test_bundle_accepted_by_cosign_and_sigstore(cosign: str, sigstore_stack: Served, artifact: Path,
                                                tmp_path: Path) -> None:
    bundle, cert = tmp_path / "a.sigstore.json", tmp_path / "a.crt"
    r = sign_blob(sigstore_stack, artifact, bundle, "--output-certificate", cert)
    assert "tlog entry created with index:" in r.err
    doc = json.loads(bundle.read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    # the signing config names the TSA of sigstack serve: the signature is timestamped too
    assert set(doc["verificationMaterial"]) == {"certificate", "tlogEntries", "timestampVerificationData"}
    assert doc["verificationMaterial"]["tlogEntries"][0]["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    ok = cosign_verify(cosign, sigstore_stack, artifact, bundle, "alice@example.com")
    assert ok.code == 0, ok.err
    assert "Verified OK" in ok.err
    ok = sigstore_verify(sigstore_stack, artifact, bundle, "alice@example.com")
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("verifier", ["cosign", "sigstore"])
def test_altered_identity_or_artifact_rejected(cosign: str, sigstore_stack: Served, artifact: Path,
                                               tmp_path: Path, verifier: str) -> None:
    bundle = tmp_path / "a.sigstore.json"
    sign_blob(sigstore_stack, artifact, bundle)

    def verify(art: Path, identity: str) -> Result:
        if verifier == "cosign":
            return cosign_verify(cosign, sigstore_stack, art, bundle, identity)
        return sigstore_verify(sigstore_stack, art, bundle, identity)

    wrong_identity = verify(artifact, "mallory@example.com")
    assert wrong_identity.code == 1, wrong_identity.err
    assert "mallory@example.com" in wrong_identity.err or "identity" in wrong_identity.err.lower(), wrong_identity.err
    (tmp_path / "altered").mkdir()
    altered = tmp_path / "altered" / artifact.name
    altered.write_bytes(artifact.read_bytes() + b"tampered\n")
    tampered = verify(altered, "alice@example.com")
    assert tampered.code == 1, tampered.err
    assert verify(artifact, "alice@example.com").code == 0  # the bundle itself was fine


def test_signature_and_certificate_files(cosign: str, sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    """--output-signature / --output-certificate without a bundle: cosign verifies the
    detached pair against the chain (v2 style: SIGSTORE_ROOT_FILE) with the log lookup off."""
    sig, cert = tmp_path / "a.sig", tmp_path / "a.crt"
    s = sigstore_stack
    r = sigstack("sign-blob", "--identity-token", s.token("bob@example.com"), "--fulcio-url", s.ca,
                 "--rekor-url", s.tlog, "--output-signature", sig, "--output-certificate", cert, artifact,
                 offline=None)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-blob", "--signature", sig, "--certificate", cert,
                  "--certificate-chain", s.dir / "ca" / "chain.pem", "--insecure-ignore-tlog", "--insecure-ignore-sct",
                  "--certificate-identity", "bob@example.com", "--certificate-oidc-issuer", s.oidc,
                  "--use-signed-timestamps=false", "--new-bundle-format=false", artifact)
    assert ok.code == 0, ok.err


def test_env_file_points_sigstack_at_the_stack(cosign: str, sigstore_stack: Served, artifact: Path,
                                                 tmp_path: Path) -> None:
    """DIR/env alone (no service flags): sigstack signs, cosign verifies."""
    s = sigstore_stack
    bundle = tmp_path / "env.sigstore.json"
    r = sigstack("sign-blob", "--identity-token", s.token("carol@example.com"), "--bundle", bundle, artifact,
                 env=s.env(), offline=None)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-blob", "--bundle", bundle, "--certificate-identity", "carol@example.com",
                  artifact, env=s.env())
    assert ok.code == 0, ok.err
    # and the real cosign signs with nothing but DIR/env and a token
    theirs = tmp_path / "cosign.sigstore.json"
    signed = run_peer(cosign, "sign-blob", "--identity-token", s.token("dan@example.com"), "--bundle", theirs,
                      "--yes", artifact, env=s.env())
    assert signed.code == 0, signed.err
    ok = run_peer(cosign, "verify-blob", "--bundle", theirs, "--certificate-identity", "dan@example.com",
                  artifact, env=s.env())
    assert ok.code == 0, ok.err


def test_github_actions_identity(cosign: str, sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    """The ambient GitHub Actions credentials of the dev issuer: the certificate names the workflow."""
    s = sigstore_stack
    bundle = tmp_path / "gh.sigstore.json"
    request = (s.dir / "oidc" / "actions-request-token").read_text().strip()
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{s.oidc}/github/actions-token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request}
    r = sigstack("sign-blob", "--signing-config", s.signing_config, "--bundle", bundle, artifact, env=env,
                 offline=None)
    assert r.code == 0, r.err
    workflow = "https://github.com/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    ok = run_peer(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root,
                  "--certificate-identity", workflow, "--certificate-oidc-issuer", s.oidc + "/github", artifact)
    assert ok.code == 0, ok.err


def test_attest_blob_keyless(cosign: str, sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    s = sigstore_stack
    predicate, bundle = tmp_path / "predicate.json", tmp_path / "att.sigstore.json"
    predicate.write_text(json.dumps({"builder": {"id": "https://example.com/builder"}}))
    r = sigstack("attest-blob", "--identity-token", s.token("dave@example.com"), "--signing-config",
                 s.signing_config, "--trusted-root", s.trusted_root, "--predicate", predicate,
                 "--type", "slsaprovenance", "--bundle", bundle, artifact, offline=None)
    assert r.code == 0, r.err
    entry = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    ok = run_peer(cosign, "verify-blob-attestation", "--bundle", bundle, "--trusted-root", s.trusted_root,
                  "--type", "slsaprovenance", "--certificate-identity", "dave@example.com",
                  "--certificate-oidc-issuer", s.oidc, artifact)
    assert ok.code == 0, ok.err
    bad = run_peer(cosign, "verify-blob-attestation", "--bundle", bundle, "--trusted-root", s.trusted_root,
                   "--type", "slsaprovenance", "--certificate-identity", "eve@example.com",
                   "--certificate-oidc-issuer", s.oidc, artifact)
    assert bad.code == 1, bad.err


@pytest.mark.parametrize("provider", ["gitlab", "filesystem", "buildkite-agent", "circleci"])
def test_ambient_providers_sign_end_to_end(cosign: str, sigstore_stack: Served, artifact: Path, tmp_path: Path,
                                           provider: str) -> None:
    """Each ambient source through the CLI: GitLab's SIGSTORE_ID_TOKEN, a mounted token file,
    and the Buildkite and CircleCI agents (stub executables on PATH that print the token, as
    the real agents do); the certificate names the token's identity."""
    import os

    s = sigstore_stack
    email = f"{provider}@example.com"
    token_file = tmp_path / "oidc-token"
    token_file.write_text(s.token(email))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = {"gitlab": {"GITLAB_CI": "true", "SIGSTORE_ID_TOKEN": token_file.read_text()},
           "filesystem": {"SIGSTACK_OIDC_TOKEN_FILE": str(token_file)},
           "buildkite-agent": {"BUILDKITE_AGENT_ACCESS_TOKEN": "agent-secret", "PATH": path},
           "circleci": {"CIRCLECI": "true", "PATH": path}}[provider]
    if provider in ("buildkite-agent", "circleci"):
        stub = bin_dir / provider
        stub.write_text(f"#!/bin/sh\ncat {token_file}\n")
        stub.chmod(0o755)
    bundle = tmp_path / "b.json"
    r = sigstack("sign-blob", "--signing-config", s.signing_config, "--oidc-provider", provider,
                 "--bundle", bundle, artifact, env=env, offline=None,
                 unset=("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    assert r.code == 0, r.err
    ok = cosign_verify(cosign, s, artifact, bundle, email)
    assert ok.code == 0, ok.err


def test_verify_blob_attestation_of_an_envelope_looks_its_entry_up(cosign: str, sigstore_stack: Served,
                                                                   artifact: Path, tmp_path: Path) -> None:
    """``--signature`` (a DSSE envelope, no bundle) with ``--certificate``: the entry is
    found in the log by the envelope and certificate, as cosign finds it, verified
    offline against the trusted root, and its time is when the certificate must have
    been valid. The real cosign agrees on the same files."""
    from tests.helpers import assert_clean_error

    s = sigstore_stack
    predicate, env, cert = tmp_path / "predicate.json", tmp_path / "att.json", tmp_path / "att.crt"
    predicate.write_text(json.dumps({"builder": {"id": "https://example.com/builder"}}))
    r = sigstack("attest-blob", "--identity-token", s.token("dave@example.com"), "--signing-config",
                 s.signing_config, "--trusted-root", s.trusted_root, "--predicate", predicate,
                 "--type", "slsaprovenance", "--output-signature", env, "--output-certificate", cert, artifact,
                 offline=None)
    assert r.code == 0, r.err

    def verify(tool: str, identity: str, *flags: str | Path) -> Result:
        args = ("verify-blob-attestation", "--signature", env, "--rekor-url", s.tlog, "--type", "slsaprovenance",
                "--certificate-identity", identity, "--certificate-oidc-issuer", s.oidc, *flags, artifact)
        if tool == "sigstack":
            return sigstack(*args, "--trusted-root", s.trusted_root, offline=None)
        # cosign takes --trusted-root only for bundles: the legacy path reads the keys from the environment
        return run_peer(cosign, *args, env={"SIGSTORE_ROOT_FILE": str(s.dir / "ca" / "chain.pem"),
                                            "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(s.dir / "ca" / "ct.pub"),
                                            "SIGSTORE_REKOR_PUBLIC_KEY": str(s.dir / "tlog" / "log.pub")})

    for tool in ("sigstack", "cosign"):
        ok = verify(tool, "dave@example.com", "--certificate", cert)
        assert (ok.code, ok.err.splitlines()[-1]) == (0, "Verified OK"), ok.err
        bad = verify(tool, "eve@example.com", "--certificate", cert)
        # each tool's own wording of the refusal, on its last line, exit 1
        said = ("expected identity 'eve@example.com'" if tool == "sigstack"
                else "none of the expected identities matched")
        assert bad.code == 1 and said in bad.err.splitlines()[-1], bad.err
    assert_clean_error(verify("sigstack", "eve@example.com", "--certificate", cert), "eve@example.com")
    assert_clean_error(verify("sigstack", "dave@example.com"),
                       "provide a key with --key or --sk, a certificate to verify against with --certificate, "
                       "or a bundle with --bundle")

    unlogged, unlogged_cert = tmp_path / "unlogged.json", tmp_path / "unlogged.crt"
    r = sigstack("attest-blob", "--identity-token", s.token("dave@example.com"), "--signing-config",
                 s.signing_config, "--trusted-root", s.trusted_root, "--predicate", predicate,
                 "--type", "slsaprovenance", "--tlog-upload=false", "--output-signature", unlogged,
                 "--output-certificate", unlogged_cert, artifact, offline=None)
    assert r.code == 0, r.err
    env.write_bytes(unlogged.read_bytes())
    assert_clean_error(verify("sigstack", "dave@example.com", "--certificate", unlogged_cert),
                       "attestation not found in transparency log")
