"""Signed timestamps in the keyless flow against `sigstack serve`, whose trusted root
lists its TSA under ``timestampAuthorities`` and whose signing config names it under
``tsaUrls``: every client that follows the signing config timestamps its signatures
there, and every verifier holding the trusted root checks those timestamps.

- sigstack signs (``--signing-config``): the bundle carries our timestamp; the PyPI
  ``sigstore`` client, the real cosign (``--use-signed-timestamps``) and sigstack
  accept it;
- the real cosign and the PyPI ``sigstore`` client sign with the same configuration:
  their bundles carry a timestamp from our TSA, which sigstack verifies as the
  signature's time;
- a trusted root without the TSA refuses a timestamped bundle."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from rfc3161_client import decode_timestamp_response

from tests.helpers import Result, assert_clean_error, run_peer, sigstack
from tests.keyless._support import Served

SIGSTORE = str(Path(sys.executable).with_name("sigstore"))
pytestmark = pytest.mark.interop


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    art = tmp_path / "release.whl"
    art.write_bytes(b"a release whose signature time a TSA vouches for\n")
    return art


def timestamps(bundle: Path) -> list[bytes]:
    vm = json.loads(bundle.read_text())["verificationMaterial"]
    return [base64.b64decode(t["signedTimestamp"]) for t in vm["timestampVerificationData"]["rfc3161Timestamps"]]


def our_verify(s: Served, art: Path, bundle: Path, identity: str, *extra: str | Path) -> Result:
    return sigstack("verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root, "--use-signed-timestamps",
                    "--certificate-identity", identity, "--certificate-oidc-issuer", s.oidc, *extra, art)


def test_trust_material_names_the_tsa(sigstore_stack: Served) -> None:
    s = sigstore_stack
    root = json.loads(s.trusted_root.read_text())
    (tsa,) = root["timestampAuthorities"]
    assert tsa["uri"] == s.tsa
    chain = (s.dir / "tsa" / "chain.pem").read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    assert [base64.b64decode(c["rawBytes"]) for c in tsa["certChain"]["certificates"]] == [
        c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(chain)]
    config = json.loads(s.signing_config.read_text())
    assert [u["url"] for u in config["tsaUrls"]] == [s.tsa]
    assert config["tsaConfig"] == {"selector": "ANY"}
    assert json.loads(s.trust_config.read_text())["trustedRoot"] == root


def test_sigstack_bundle_timestamped_and_accepted_by_all(cosign: str, sigstore_stack: Served, artifact: Path,
                                                         tmp_path: Path) -> None:
    s = sigstore_stack
    bundle = tmp_path / "a.sigstore.json"
    r = sigstack("sign-blob", "--identity-token", s.token("tess@example.com"), "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, "--bundle", bundle, artifact, offline=None)
    assert r.code == 0, r.err
    (token,) = timestamps(bundle)
    signature = base64.b64decode(json.loads(bundle.read_text())["messageSignature"]["signature"])
    import hashlib

    assert decode_timestamp_response(token).tst_info.message_imprint.message == hashlib.sha256(signature).digest()
    ok = run_peer(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root,
                  "--use-signed-timestamps", "--certificate-identity", "tess@example.com",
                  "--certificate-oidc-issuer", s.oidc, artifact)
    assert ok.code == 0, ok.err
    ok = run_peer(SIGSTORE, "--trust-config", s.trust_config, "verify", "identity", "--offline", "--bundle", bundle,
                  "--cert-identity", "tess@example.com", "--cert-oidc-issuer", s.oidc, artifact)
    assert ok.code == 0, ok.err
    ours = our_verify(s, artifact, bundle, "tess@example.com")
    assert ours.code == 0, ours.err


def test_cosign_keyless_uses_our_tsa(cosign: str, sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    s = sigstore_stack
    bundle = tmp_path / "cosign.sigstore.json"
    signed = run_peer(cosign, "sign-blob", "--identity-token", s.token("cora@example.com"), "--signing-config",
                      s.signing_config, "--trusted-root", s.trusted_root, "--bundle", bundle, "--yes", artifact)
    assert signed.code == 0, signed.err
    assert len(timestamps(bundle)) == 1
    ours = our_verify(s, artifact, bundle, "cora@example.com")
    assert ours.code == 0, ours.err
    # the timestamp alone (no log) makes the time: the log check off, it still verifies
    alone = our_verify(s, artifact, bundle, "cora@example.com", "--insecure-ignore-tlog")
    assert alone.code == 0, alone.err


def test_sigstore_python_uses_our_tsa(sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    s = sigstore_stack
    bundle = tmp_path / "py.sigstore.json"
    signed = run_peer(SIGSTORE, "--trust-config", s.trust_config, "sign", "--identity-token",
                      s.token("pia@example.com"), "--bundle", bundle, artifact)
    assert signed.code == 0, signed.err
    assert "Unable to use" not in signed.err  # sigstore-python only warns when a TSA fails
    assert len(timestamps(bundle)) == 1
    ours = our_verify(s, artifact, bundle, "pia@example.com")
    assert ours.code == 0, ours.err


def test_a_root_without_the_tsa_refuses_the_timestamp(sigstore_stack: Served, artifact: Path,
                                                       tmp_path: Path) -> None:
    s = sigstore_stack
    bundle = tmp_path / "a.sigstore.json"
    r = sigstack("sign-blob", "--identity-token", s.token("tess@example.com"), "--signing-config", s.signing_config,
                 "--bundle", bundle, artifact, offline=None)
    assert r.code == 0, r.err
    root = json.loads(s.trusted_root.read_text())
    root["timestampAuthorities"] = []
    bare = tmp_path / "no-tsa.json"
    bare.write_text(json.dumps(root))
    refused = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", bare, "--certificate-identity",
                       "tess@example.com", "--certificate-oidc-issuer", s.oidc, artifact)
    assert_clean_error(refused, "the bundle has RFC 3161 timestamps but the trusted root lists no TSA")


def test_timestamp_flag_and_signing_config_tsas_conflict(sigstore_stack: Served, artifact: Path,
                                                         tmp_path: Path) -> None:
    s = sigstore_stack
    r = sigstack("sign-blob", "--identity-token", s.token(), "--signing-config", s.signing_config,
                 "--timestamp-server-url", s.tsa, "--bundle", tmp_path / "b.json", artifact, offline=None)
    assert_clean_error(r, "cannot specify service URLs and use signing config")
