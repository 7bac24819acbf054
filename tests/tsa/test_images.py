"""Timestamped image signatures and attestations with a key, between sigstack and the
real cosign v3, in Debian's registry, timestamped by `sigstack tsa serve`:

- a legacy ``.sig`` layer carries cosign's ``dev.sigstore.cosign/rfc3161timestamp``
  annotation (over the raw signature): ``cosign verify --use-signed-timestamps``
  accepts sigstack's, and ``sigstack verify`` cosign's;
- a legacy ``.att`` layer's timestamp is over the stored envelope (what cosign's
  ``VerifyRFC3161Timestamp`` checks): ``cosign verify-attestation`` accepts sigstack's;
- ``attest-blob`` bundles carry the timestamp over the envelope's signature:
  ``cosign verify-blob-attestation --use-signed-timestamps`` accepts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Result, assert_clean_error, run_peer, sigstack
from tests.oci.ocihelpers import Registry, fresh, start_registry
from tests.tsa._support import TSA

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"), "")
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    r = sigstack("generate-key-pair", env=PW, cwd=d)
    assert r.code == 0, r.err
    return d


def cosign_verify(cosign: str, keys: Path, tsa: TSA, image: str, *extra: str) -> Result:
    return run_peer(cosign, "verify", "--key", keys / "cosign.pub", "--use-signed-timestamps", "--trusted-root",
                    tsa.trusted_root, "--insecure-ignore-tlog", "--allow-insecure-registry", *extra, image)


def test_sigstack_signed_image_verified_by_cosign(cosign: str, registry: Registry, keys: Path, tsa: TSA) -> None:
    image = fresh(registry)
    r = sigstack("sign", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url", tsa.url,
                 image, env=PW)
    assert r.code == 0, r.err
    ok = cosign_verify(cosign, keys, tsa, image, "--new-bundle-format=false")
    assert ok.code == 0, ok.err
    [found] = json.loads(ok.out)
    assert "RFC3161Timestamp" in found["optional"]
    ours = sigstack("verify", "--key", keys / "cosign.pub", "--use-signed-timestamps", "--trusted-root",
                    tsa.trusted_root, "--insecure-ignore-tlog", image)
    assert ours.code == 0, ours.err


def test_cosign_signed_image_verified_by_sigstack(cosign: str, registry: Registry, keys: Path, tsa: TSA) -> None:
    image, bare = fresh(registry), fresh(registry)
    for img, extra in ((image, ["--timestamp-server-url", tsa.url]), (bare, [])):
        r = run_peer(cosign, "sign", "--key", keys / "cosign.key", "--use-signing-config=false",
                     "--new-bundle-format=false", "--tlog-upload=false", *extra, "--yes", "--allow-insecure-registry",
                     img, env=PW)
        assert r.code == 0, r.err
    ours = sigstack("verify", "--key", keys / "cosign.pub", "--use-signed-timestamps", "--trusted-root",
                    tsa.trusted_root, "--insecure-ignore-tlog", image)
    assert ours.code == 0, ours.err
    unstamped = sigstack("verify", "--key", keys / "cosign.pub", "--use-signed-timestamps", "--trusted-root",
                         tsa.trusted_root, "--insecure-ignore-tlog", bare)
    assert_clean_error(unstamped, "no matching signatures: timestamp: no RFC 3161 timestamp, and one is required",
                       code=12)  # cosign's exit code for no matching signatures


def test_sigstack_attestation_verified_by_cosign(cosign: str, registry: Registry, keys: Path, tsa: TSA,
                                                 tmp_path: Path) -> None:
    image = fresh(registry)
    predicate = tmp_path / "predicate.json"
    predicate.write_text(json.dumps({"builder": {"id": "https://example.com/builder"}}))
    r = sigstack("attest", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url", tsa.url,
                 "--predicate", predicate, "--type", "slsaprovenance", image, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-attestation", "--key", keys / "cosign.pub", "--use-signed-timestamps",
                  "--trusted-root", tsa.trusted_root, "--insecure-ignore-tlog", "--allow-insecure-registry",
                  "--new-bundle-format=false", "--type", "slsaprovenance", image)
    assert ok.code == 0, ok.err
    ours = sigstack("verify-attestation", "--key", keys / "cosign.pub", "--use-signed-timestamps", "--trusted-root",
                    tsa.trusted_root, "--insecure-ignore-tlog", "--type", "slsaprovenance", image)
    assert ours.code == 0, ours.err


def test_attest_blob_bundle_verified_by_cosign(cosign: str, keys: Path, tsa: TSA, tmp_path: Path) -> None:
    art, predicate, bundle = tmp_path / "a.bin", tmp_path / "p.json", tmp_path / "att.sigstore.json"
    art.write_bytes(b"an attested artifact\n")
    predicate.write_text(json.dumps({"builder": {"id": "https://example.com/builder"}}))
    r = sigstack("attest-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url",
                 tsa.url, "--predicate", predicate, "--type", "slsaprovenance", "--bundle", bundle, art, env=PW)
    assert r.code == 0, r.err
    assert json.loads(bundle.read_text())["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    ok = run_peer(cosign, "verify-blob-attestation", "--key", keys / "cosign.pub", "--bundle", bundle,
                  "--use-signed-timestamps", "--trusted-root", tsa.trusted_root, "--insecure-ignore-tlog",
                  "--type", "slsaprovenance", art)
    assert ok.code == 0, ok.err
    ours = sigstack("verify-blob-attestation", "--key", keys / "cosign.pub", "--bundle", bundle,
                    "--use-signed-timestamps", "--trusted-root", tsa.trusted_root, "--insecure-ignore-tlog",
                    "--type", "slsaprovenance", art)
    assert ours.code == 0, ours.err
