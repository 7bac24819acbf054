"""``awskms://`` against moto's KMS in server mode (real HTTP on 127.0.0.1), and an
HTTPS double that throttles (moto cannot) for the retry behaviour.

moto needs one documented behaviour taught (``MessageType=DIGEST``): see ``_moto.py``.
Signatures are checked with the exported public key by sigstack, the real cosign
(P-256, RSA) and OpenSSL (P-384, which cosign's verify-blob cannot check).
"""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack import keys
from sigstack.errors import KeyLoadError
from tests.helpers import sigstack

from ._aws_double import ThrottleState, ThrottlingKms
from ._http import Tls, serve
from .conftest import Moto, assert_openssl_verifies, cosign_verify_blob


def test_generate_creates_p256_sign_verify_key_behind_alias(moto_kms: Moto, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", "--kms", "awskms:///alias/release-signing", env=moto_kms.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    assert r.err.splitlines() == ["Public key written to cosign.pub"]
    meta = moto_kms.client.describe_key(KeyId="alias/release-signing")["KeyMetadata"]
    assert (meta["KeySpec"], meta["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    pub = keys.load_verifier(str(tmp_path / "cosign.pub")).public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
    # like cosign, generating again reuses the key the alias names
    again = tmp_path / "again"
    again.mkdir()
    assert sigstack("generate-key-pair", "--kms", "awskms:///alias/release-signing", env=moto_kms.env,
                   cwd=again, offline="flags", inherit="none").code == 0
    assert (again / "cosign.pub").read_bytes() == (tmp_path / "cosign.pub").read_bytes()
    assert len(moto_kms.client.list_keys()["Keys"]) == 1


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_3072"])
def test_sign_blob_verified_by_real_cosign(moto_kms: Moto, tmp_path: Path, cosign: str, spec: str) -> None:
    meta = moto_kms.client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    moto_kms.client.create_alias(AliasName=f"alias/{spec.lower()}", TargetKeyId=meta["KeyId"])
    blob = tmp_path / "artifact"
    blob.write_bytes(os.urandom(70_000))
    refs = [f"awskms:///{meta['KeyId']}", f"awskms:///alias/{spec.lower()}", f"awskms:///{meta['Arn']}"]
    pub = sigstack("public-key", "--key", refs[0], "--outfile", "kms.pub", env=moto_kms.env, cwd=tmp_path, offline="flags", inherit="none")
    assert pub.code == 0, pub.err
    for ref in refs:
        signed = sigstack("sign-blob", "--key", ref, str(blob), env=moto_kms.env, cwd=tmp_path, offline="flags", inherit="none")
        assert signed.code == 0, signed.err
        sig = signed.out.strip()
        if spec == "ECC_NIST_P384":  # cosign verify-blob --key hashes P-384 with SHA-256; see test_pkcs11
            assert_openssl_verifies(tmp_path / "kms.pub", sig, blob, "sha384")
        else:
            r = cosign_verify_blob(cosign, str(tmp_path / "kms.pub"), sig, blob)
            assert r.returncode == 0, r.stderr.decode()
        keys.load_verifier(ref).verify(base64.b64decode(sig), blob.read_bytes())


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("encrypt-key", "AWS KMS key {key} has usage ENCRYPT_DECRYPT (SYMMETRIC_DEFAULT); signing needs a SIGN_VERIFY key"),
        ("secp256k1", "AWS KMS key {key} has key spec ECC_SECG_P256K1; cosign supports ECC_NIST_P256, ECC_NIST_P384, "
                      "ECC_NIST_P521, RSA_2048, RSA_3072, RSA_4096"),
        ("missing", "AWS KMS key alias/absent not found: Alias arn:aws:kms:us-east-1:123456789012:alias/absent is not found."),
    ],
)
def test_unusable_keys(moto_kms: Moto, tmp_path: Path, setup: str, message: str) -> None:
    key = "alias/absent"
    if setup == "encrypt-key":
        key = moto_kms.client.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    elif setup == "secp256k1":
        key = moto_kms.client.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    r = sigstack("sign-blob", "--key", f"awskms:///{key}", "-", env=moto_kms.env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip().startswith("Error: " + message.format(key=key)), r.err


@pytest.mark.parametrize(
    "ref",
    ["awskms://", "awskms:///", "awskms:///alias/", "awskms:///key id with spaces", "awskms:///arn:aws:kms:us-east-1:12:key/x",
     "awskms:///arn:aws:s3:::bucket"],
)
def test_malformed_refs(tmp_path: Path, ref: str) -> None:
    r = sigstack("sign-blob", "--key", ref, "-", cwd=tmp_path, input=b"x", offline="flags")
    assert r.code == 1
    assert r.err.strip() == (
        f"Error: invalid awskms format {ref!r}: expected awskms://[ENDPOINT]/{{KEY_ID | alias/NAME | "
        "arn:aws:kms:REGION:ACCOUNT:key/ID | ...:alias/NAME}")


def test_generate_with_key_id_cannot_choose_the_id(moto_kms: Moto, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", "--kms", "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", env=moto_kms.env,
                cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 1
    assert "KMS cannot create a key with a chosen id; use awskms:///alias/NAME to create one" in r.err


def _throttle_env(tls: Tls, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "AWS_CA_BUNDLE": str(tls.ca_file), "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
            "AWS_REGION": "us-east-1", "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}


def test_throttling_is_retried_then_succeeds(tls: Tls, tmp_path: Path, cosign: str) -> None:
    """Two ThrottlingException answers, then success: the endpoint-in-URI (https) form."""
    state = ThrottleState(throttle=2)
    with serve(ThrottlingKms, state, tls) as url:
        endpoint = url.removeprefix("https://")
        blob = tmp_path / "b"
        blob.write_bytes(b"payload")
        r = sigstack("sign-blob", "--key", f"awskms://{endpoint}/alias/busy", str(blob), env=_throttle_env(tls, tmp_path),
                    cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    assert state.seen == ["TrentService.GetPublicKey"] * 3 + ["TrentService.Sign"]
    pub = tmp_path / "pub.pem"
    pub.write_bytes(keys.software.PublicKeyVerifier(state.key.public_key()).public_key_pem())
    assert cosign_verify_blob(cosign, str(pub), r.out.strip(), blob).returncode == 0


def test_throttling_gives_up_with_clear_error(tls: Tls, tmp_path: Path) -> None:
    state = ThrottleState(throttle=1000)
    with serve(ThrottlingKms, state, tls) as url:
        endpoint = url.removeprefix("https://")
        r = sigstack("sign-blob", "--key", f"awskms://{endpoint}/alias/busy", "-", env=_throttle_env(tls, tmp_path),
                    cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip() == (
        "Error: AWS KMS GetPublicKey for alias/busy failed after 4 attempts: ThrottlingException: Rate exceeded; "
        "try again later")
    assert len(state.seen) == 4


def test_unreachable_endpoint_gives_up_with_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "us-east-1",
                 "AWS_CONFIG_FILE": str(tmp_path / "x"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x")}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(KeyLoadError, match=r"^AWS KMS GetPublicKey for alias/x failed after 4 attempts: "
                                           r"connection failed: .*; try again later$"):
        keys.load_verifier(f"awskms://127.0.0.1:{port}/alias/x")
