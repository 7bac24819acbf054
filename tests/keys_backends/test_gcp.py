"""``gcpkms://`` through ``google-cloud-kms`` (REST transport) against an HTTP double
of the Cloud KMS v1 REST API and OAuth2 token endpoint (``_gcp_double.py``): Cloud
KMS has no emulator that can be installed here. Signatures are checked with the
exported public key by the real cosign."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack import keys
from tests.helpers import sigstack

from .conftest import GcpServer, sign_blob_and_cross_check

KEY = "projects/p/locations/global/keyRings/ring/cryptoKeys/signer"


def test_generate_creates_ring_and_ec_p256_key(gcp: GcpServer, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", "--kms", f"gcpkms://{KEY}", env=gcp.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    assert gcp.state.keys[KEY][:2] == ("ASYMMETRIC_SIGN", "EC_SIGN_P256_SHA256")
    assert "POST /v1/projects/p/locations/global/keyRings" in gcp.state.calls
    assert (tmp_path / "cosign.pub").read_bytes() == keys.load_verifier(f"gcpkms://{KEY}").public_key_pem()


@pytest.mark.parametrize("algorithm", ["EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384", "RSA_SIGN_PKCS1_2048_SHA256"])
def test_sign_blob_verified_by_real_cosign(gcp: GcpServer, tmp_path: Path, cosign: str, algorithm: str) -> None:
    gcp.state.add_key(KEY, algorithm)
    blob = tmp_path / "blob"
    blob.write_bytes(b"gcp signed\n")
    for ref in (f"gcpkms://{KEY}", f"gcpkms://{KEY}/cryptoKeyVersions/1", f"gcpkms://{KEY}/versions/1"):
        sign_blob_and_cross_check(ref, gcp.env, tmp_path, blob, cosign, sha384=algorithm == "EC_SIGN_P384_SHA384")


def test_throttled_then_ok(gcp: GcpServer) -> None:
    gcp.state.add_key(KEY, "EC_SIGN_P256_SHA256")
    gcp.state.throttle = 2
    signer = keys.load_signer(f"gcpkms://{KEY}")
    keys.load_verifier(f"gcpkms://{KEY}").verify(signer.sign(b"m"), b"m")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("encrypt-key", f"GCP KMS key {KEY} has purpose ENCRYPT_DECRYPT; signing needs ASYMMETRIC_SIGN"),
        ("pss-key", f"GCP KMS key version {KEY}/cryptoKeyVersions/1 uses RSA_SIGN_PSS_2048_SHA256; cosign supports "
                    "EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384, RSA_SIGN_PKCS1_2048_SHA256"),
        ("missing", f"GCP KMS GetCryptoKey: not found: {KEY} not found."),
        ("no-version", f"GCP KMS GetPublicKey: not found: {KEY}/cryptoKeyVersions/7 not found."),
        ("throttled", f"GCP KMS GetCryptoKey for {KEY} failed after 4 attempts: 429: Quota exceeded for quota metric "
                      "'Crypto requests'; try again later"),
        ("malformed", "invalid gcpkms format 'gcpkms://projects/p/keyRings/r/cryptoKeys/k': expected "
                      "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]"),
    ],
)
def test_failures(gcp: GcpServer, tmp_path: Path, case: str, message: str) -> None:
    ref = f"gcpkms://{KEY}"
    if case == "encrypt-key":
        gcp.state.add_key(KEY, "GOOGLE_SYMMETRIC_ENCRYPTION", purpose="ENCRYPT_DECRYPT")
    elif case == "pss-key":
        gcp.state.add_key(KEY, "RSA_SIGN_PSS_2048_SHA256")
    elif case == "no-version":
        gcp.state.add_key(KEY, "EC_SIGN_P256_SHA256")
        ref += "/cryptoKeyVersions/7"
    elif case == "throttled":
        gcp.state.throttle = 100
    elif case == "malformed":
        ref = "gcpkms://projects/p/keyRings/r/cryptoKeys/k"
    r = sigstack("sign-blob", "--key", ref, "-", env=gcp.env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip().startswith("Error: " + message), r.err
