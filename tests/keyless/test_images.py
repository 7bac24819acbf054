"""Keyless image signing and attestation in the real registry (Debian docker-registry)
against `sigstack serve`, both storage layouts, verified by the real cosign by identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Result, run_peer, sigstack
from tests.keyless._support import Served

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.oci.ocihelpers import start_registry

    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


def fresh_image(registry: object) -> str:
    from tests.oci.ocihelpers import Registry, fresh

    assert isinstance(registry, Registry)
    return fresh(registry)


def sign(s: Served, image: str, *extra: str, email: str = "img@example.com") -> Result:
    r = sigstack("sign", "--identity-token", s.token(email), "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, *extra, image, offline=None)
    assert r.code == 0, r.err
    return r


def cosign_verify(cosign: str, s: Served, image: str, identity: str, *extra: str) -> Result:
    return run_peer(cosign, "verify", "--trusted-root", s.trusted_root, "--certificate-identity", identity,
                    "--certificate-oidc-issuer", s.oidc, *extra, image)


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_cosign_verifies_keyless_image(cosign: str, sigstore_stack: Served, registry: object, layout: str) -> None:
    image = fresh_image(registry)
    sign(sigstore_stack, image, *(["--new-bundle-format"] if layout == "bundle" else []))
    extra = () if layout == "bundle" else ("--new-bundle-format=false",)
    ok = cosign_verify(cosign, sigstore_stack, image, "img@example.com", *extra)
    assert ok.code == 0, ok.err
    assert "The code-signing certificate was verified using trusted certificate authority certificates" in ok.err
    bad = cosign_verify(cosign, sigstore_stack, image, "other@example.com", *extra)
    assert bad.code == (12 if layout == "legacy" else 1), bad.err  # cosign: 12 = no matching signatures
    assert "other@example.com" in bad.err or "no matching signatures" in bad.err.lower(), bad.err


def test_legacy_layer_carries_certificate_and_chain(sigstore_stack: Served, registry: object) -> None:
    """cosign's annotations on the .sig layer: the leaf PEM, the chain PEM, the SET bundle."""
    from sigstack.oci import layout
    from sigstack.oci.client import RegistryClient
    from sigstack.oci.reference import parse_reference

    image = fresh_image(registry)
    sign(sigstore_stack, image)
    ref = parse_reference(image)
    tag = ref.repository.tag(layout.attachment_tag(ref.digest or "", "sig"))
    with RegistryClient() as client:
        manifest = json.loads(client.get_manifest(tag).data)
    annotations = manifest["layers"][0]["annotations"]
    assert annotations[layout.CERT_ANNOTATION].startswith("-----BEGIN CERTIFICATE-----")
    assert annotations[layout.CHAIN_ANNOTATION].count("-----BEGIN CERTIFICATE-----") == 2
    chain = (sigstore_stack.dir / "ca" / "chain.pem").read_text()
    assert annotations[layout.CHAIN_ANNOTATION] == chain
    body = json.loads(annotations[layout.BUNDLE_ANNOTATION])
    assert body["Payload"]["logIndex"] >= 0


def test_cosign_v2_verifies_legacy_layout(cosign_v2: str, sigstore_stack: Served, registry: object) -> None:
    s = sigstore_stack
    image = fresh_image(registry)
    sign(s, image)
    env = {"SIGSTORE_ROOT_FILE": str(s.dir / "ca" / "chain.pem"),
           "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(s.dir / "ca" / "ct.pub"),
           "SIGSTORE_REKOR_PUBLIC_KEY": str(s.dir / "tlog" / "log.pub")}
    ok = run_peer(cosign_v2, "verify", "--certificate-identity", "img@example.com",
                  "--certificate-oidc-issuer", s.oidc, "--rekor-url", s.tlog, image, env=env)
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("layout", ["legacy", "bundle"])
def test_cosign_verifies_keyless_attestation(cosign: str, sigstore_stack: Served, registry: object,
                                             tmp_path: Path, layout: str) -> None:
    s = sigstore_stack
    image = fresh_image(registry)
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"result": "pass"}))
    r = sigstack("attest", "--identity-token", s.token("att@example.com"), "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, "--predicate", predicate, "--type", "custom",
                 *(["--new-bundle-format"] if layout == "bundle" else []), image, offline=None)
    assert r.code == 0, r.err
    extra = () if layout == "bundle" else ("--new-bundle-format=false",)
    ok = run_peer(cosign, "verify-attestation", "--trusted-root", s.trusted_root, "--type", "custom",
                  "--certificate-identity", "att@example.com", "--certificate-oidc-issuer", s.oidc, *extra, image)
    assert ok.code == 0, ok.err
    bad = run_peer(cosign, "verify-attestation", "--trusted-root", s.trusted_root, "--type", "custom",
                   "--certificate-identity", "x@example.com", "--certificate-oidc-issuer", s.oidc, *extra, image)
    assert bad.code == 1, bad.err


@pytest.mark.parametrize("who,layout", [("email", "legacy"), ("github", "legacy"), ("email", "bundle")])
def test_verify_prints_what_cosign_prints_for_a_keyless_signature(cosign: str, sigstore_stack: Served,
                                                                  registry: object, who: str, layout: str) -> None:
    """``verify``'s JSON: cosign adds the certificate's ``Subject``, ``Issuer`` (and its
    OID), the GitHub workflow fields (by name and OID) and the log's ``Bundle`` to each
    legacy keyless signature's ``optional`` (a bundle-format signature's output is built
    from its statement, without them); the same bytes from both tools on one signature."""
    s = sigstore_stack
    image = fresh_image(registry)
    token = s.token(github=True) if who == "github" else s.token("img@example.com")
    r = sigstack("sign", "--identity-token", token, "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, *(["--new-bundle-format"] if layout == "bundle" else []), image,
                 offline=None)
    assert r.code == 0, r.err
    flags = ("--trusted-root", str(s.trusted_root), "--certificate-identity-regexp", ".+",
             "--certificate-oidc-issuer-regexp", ".+", f"--new-bundle-format={str(layout == 'bundle').lower()}")
    theirs = run_peer(cosign, "verify", *flags, image)
    assert theirs.code == 0, theirs.err
    ours = sigstack("verify", *flags, image, offline=None)
    assert ours.code == 0, ours.err
    assert ours.stdout == theirs.stdout
    optional = json.loads(ours.out)[0]["optional"]
    text = [run_peer(cosign, "verify", *flags, "--output", "text", image),
            sigstack("verify", *flags, "--output", "text", image, offline=None)]
    assert text[0].stdout == text[1].stdout
    who_lines = [[line for line in t.err.splitlines() if line.startswith(("Certificate ", "GitHub "))] for t in text]
    assert who_lines[0] == who_lines[1]
    if layout == "bundle":
        assert "Subject" not in (optional or {}) and who_lines[1] == []
        return
    assert who_lines[1][0] == f"Certificate subject: {optional['Subject']}"
    assert {"Subject", "Issuer", "1.3.6.1.4.1.57264.1.1", "Bundle"} <= set(optional)
    if who == "github":
        assert optional["githubWorkflowRepository"] == optional["1.3.6.1.4.1.57264.1.5"]
    else:
        assert optional["Subject"] == "img@example.com"
