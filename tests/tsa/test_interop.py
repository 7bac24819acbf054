"""Signed timestamps between our TSA, the real cosign v3 and sigstack, with a key (the
keyless flows against `sigstack serve` are in tests/keyless/test_timestamps.py):

- cosign signs a blob with ``--timestamp-server-url`` at `sigstack tsa serve`;
  ``cosign verify-blob --use-signed-timestamps --trusted-root`` (a TrustedRoot listing
  the TSA) accepts the bundle, and so does ``sigstack verify-blob`` with the same flags;
- sigstack signs the same way; cosign accepts its bundle and its detached
  ``--rfc3161-timestamp`` file (cosign's format, byte for byte in shape);
- both refuse the timestamp when the trusted root names another TSA, when the bundle
  has none, and when the artifact is altered;
- every client-side failure of the TSA (unreachable, refusing, not a TSA) is one
  ``Error:`` line."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Result, assert_clean_error, run_peer, sigstack
from tests.tsa._support import TSA, start_tsa

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    r = sigstack("generate-key-pair", env=PW, cwd=d)
    assert r.code == 0, r.err
    return d


@pytest.fixture(scope="module")
def other_tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    served = start_tsa(tmp_path_factory.mktemp("other-tsa"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    f = tmp_path / "release.tar.gz"
    f.write_bytes(b"an artifact whose signature is timestamped\n")
    return f


def cosign_sign(cosign: str, tsa: TSA, keys: Path, art: Path, bundle: Path, *extra: str) -> None:
    r = run_peer(cosign, "sign-blob", "--key", keys / "cosign.key", "--use-signing-config=false",
                 "--tlog-upload=false", "--timestamp-server-url", tsa.url, "--bundle", bundle, "--yes", *extra, art,
                 env=PW)
    assert r.code == 0, r.err


def sigstack_sign(tsa: TSA, keys: Path, art: Path, bundle: Path, *extra: str | Path) -> Result:
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url",
                 tsa.url, "--bundle", bundle, *extra, art, env=PW)
    assert r.code == 0, r.err
    return r


def cosign_verify(cosign: str, keys: Path, art: Path, bundle: Path, root: Path) -> Result:
    return run_peer(cosign, "verify-blob", "--key", keys / "cosign.pub", "--bundle", bundle,
                    "--use-signed-timestamps", "--trusted-root", root, "--insecure-ignore-tlog", art)


def sigstack_verify(keys: Path, art: Path, bundle: Path, root: Path) -> Result:
    return sigstack("verify-blob", "--key", keys / "cosign.pub", "--bundle", bundle, "--use-signed-timestamps",
                    "--trusted-root", root, "--insecure-ignore-tlog", art)


def test_cosign_timestamps_with_our_tsa(cosign: str, tsa: TSA, keys: Path, artifact: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "cosign.sigstore.json"
    cosign_sign(cosign, tsa, keys, artifact, bundle)
    tvd = json.loads(bundle.read_text())["verificationMaterial"]["timestampVerificationData"]
    assert len(tvd["rfc3161Timestamps"]) == 1
    ok = cosign_verify(cosign, keys, artifact, bundle, tsa.trusted_root)
    assert ok.code == 0, ok.err
    assert "Verified OK" in ok.err
    ours = sigstack_verify(keys, artifact, bundle, tsa.trusted_root)
    assert ours.code == 0, ours.err
    assert "Verified OK" in ours.err


def test_cosign_accepts_our_timestamped_bundle(cosign: str, tsa: TSA, keys: Path, artifact: Path,
                                               tmp_path: Path) -> None:
    bundle, detached = tmp_path / "ours.sigstore.json", tmp_path / "ts.json"
    r = sigstack_sign(tsa, keys, artifact, bundle, "--rfc3161-timestamp", detached)
    assert f"Wrote timestamp to file {detached}" in r.err
    ok = cosign_verify(cosign, keys, artifact, bundle, tsa.trusted_root)
    assert ok.code == 0, ok.err
    ours = sigstack_verify(keys, artifact, bundle, tsa.trusted_root)
    assert ours.code == 0, ours.err
    # the detached file is cosign's: {"SignedRFC3161Timestamp":"<b64 DER>"}, the bundle's token
    doc = json.loads(detached.read_bytes())
    assert list(doc) == ["SignedRFC3161Timestamp"]
    token = json.loads(bundle.read_text())["verificationMaterial"]["timestampVerificationData"][
        "rfc3161Timestamps"][0]["signedTimestamp"]
    assert base64.b64decode(doc["SignedRFC3161Timestamp"]) == base64.b64decode(token)
    assert detached.read_bytes().startswith(b'{"SignedRFC3161Timestamp":"')


def test_detached_legacy_timestamp_both_ways(cosign: str, tsa: TSA, keys: Path, artifact: Path,
                                             tmp_path: Path) -> None:
    """cosign's legacy form: --signature and --rfc3161-timestamp files, no bundle."""
    sig, ts = tmp_path / "ours.sig", tmp_path / "ours.ts.json"
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url", tsa.url,
                 "--rfc3161-timestamp", ts, "--output-signature", sig, artifact, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-blob", "--key", keys / "cosign.pub", "--signature", sig, "--rfc3161-timestamp", ts,
                  "--timestamp-certificate-chain", tsa.chain, "--use-signed-timestamps", "--insecure-ignore-tlog",
                  "--new-bundle-format=false", artifact)
    assert ok.code == 0, ok.err
    csig, cts = tmp_path / "cosign.sig", tmp_path / "cosign.ts.json"
    r2 = run_peer(cosign, "sign-blob", "--key", keys / "cosign.key", "--use-signing-config=false",
                  "--tlog-upload=false", "--new-bundle-format=false", "--timestamp-server-url", tsa.url,
                  "--rfc3161-timestamp", cts, "--output-signature", csig, "--yes", artifact, env=PW)
    assert r2.code == 0, r2.err
    ours = sigstack("verify-blob", "--key", keys / "cosign.pub", "--signature", csig, "--rfc3161-timestamp", cts,
                    "--trusted-root", tsa.trusted_root, "--use-signed-timestamps", "--insecure-ignore-tlog", artifact)
    assert ours.code == 0, ours.err


@pytest.mark.parametrize("verifier", ["cosign", "sigstack"])
def test_another_tsa_missing_timestamp_or_altered_artifact_refused(
        cosign: str, tsa: TSA, other_tsa: TSA, keys: Path, artifact: Path, tmp_path: Path, verifier: str) -> None:
    bundle = tmp_path / "b.sigstore.json"
    cosign_sign(cosign, tsa, keys, artifact, bundle)

    def verify(art: Path, b: Path, root: Path) -> Result:
        if verifier == "cosign":
            return cosign_verify(cosign, keys, art, b, root)
        return sigstack_verify(keys, art, b, root)

    wrong_tsa = verify(artifact, bundle, other_tsa.trusted_root)
    assert wrong_tsa.code == 1, wrong_tsa.err
    bare = tmp_path / "bare.sigstore.json"
    doc = json.loads(bundle.read_text())
    del doc["verificationMaterial"]["timestampVerificationData"]
    bare.write_text(json.dumps(doc))
    missing = verify(artifact, bare, tsa.trusted_root)
    assert missing.code == 1, missing.err
    altered = tmp_path / "altered"
    altered.write_bytes(artifact.read_bytes() + b"!")
    tampered = verify(altered, bundle, tsa.trusted_root)
    assert tampered.code == 1, tampered.err
    if verifier == "sigstack":
        assert_clean_error(wrong_tsa, "does not verify against a timestamp authority of the trusted root")
        assert_clean_error(missing, "timestamp: no RFC 3161 timestamp, and one is required")
        assert_clean_error(tampered, "")


def test_without_use_signed_timestamps_a_key_ignores_them(tsa: TSA, other_tsa: TSA, keys: Path, artifact: Path,
                                                          tmp_path: Path) -> None:
    """cosign's rule: a key vouches for no time, so timestamps are only checked when asked."""
    bundle = tmp_path / "b.sigstore.json"
    sigstack_sign(tsa, keys, artifact, bundle)
    r = sigstack("verify-blob", "--key", keys / "cosign.pub", "--bundle", bundle, "--insecure-ignore-tlog", artifact)
    assert r.code == 0, r.err


@pytest.mark.parametrize("url,fragment", [
    ("http://127.0.0.1:1/api/v1/timestamp", "cannot reach the timestamp authority at http://127.0.0.1:1"),
    ("ftp://127.0.0.1/api/v1/timestamp", "is not an http(s) URL"),
])
def test_timestamp_server_failures(keys: Path, artifact: Path, tmp_path: Path, url: str, fragment: str) -> None:
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url", url,
                 "--bundle", tmp_path / "b.json", artifact, env=PW)
    assert_clean_error(r, fragment)
    assert not (tmp_path / "b.json").exists()


def test_a_server_that_is_not_a_tsa(tsa: TSA, keys: Path, artifact: Path, tmp_path: Path) -> None:
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--timestamp-server-url",
                 tsa.url + "/certchain", "--bundle", tmp_path / "b.json", artifact, env=PW)
    assert_clean_error(r, "refused the request (HTTP 405)")


def test_rfc3161_output_needs_a_tsa(keys: Path, artifact: Path, tmp_path: Path) -> None:
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", "--rfc3161-timestamp",
                 tmp_path / "ts.json", artifact, env=PW)
    assert_clean_error(r, "--rfc3161-timestamp needs a timestamp authority")
