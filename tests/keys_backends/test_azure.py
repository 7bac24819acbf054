"""``azurekms://`` through ``azure-keyvault-keys`` + ``azure-identity`` against an
HTTPS double of the Key Vault keys REST API and the managed-identity token endpoint
(``_azure_double.py``): no Key Vault emulator can be installed here. Signatures
are checked with the exported public key by the real cosign."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack import keys
from tests.helpers import sigstack

from .conftest import AzureServer, sign_blob_and_cross_check


def test_generate_creates_p256_sign_key(azure: AzureServer, tmp_path: Path) -> None:
    ref = f"azurekms://{azure.host}/release"
    r = sigstack("generate-key-pair", "--kms", ref, env=azure.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    _, ops, private = azure.state.keys["release"]
    assert ops == ["sign", "verify"] and private.curve.name == "secp256r1"
    assert (tmp_path / "cosign.pub").read_bytes() == keys.load_verifier(ref).public_key_pem()


@pytest.mark.parametrize("kind", ["P-256", "P-384", "RSA-2048"])
def test_sign_blob_verified_by_real_cosign(azure: AzureServer, tmp_path: Path, cosign: str, kind: str) -> None:
    azure.state.add_key("k", kind)
    version = azure.state.keys["k"][0]
    blob = tmp_path / "blob"
    blob.write_bytes(b"azure signed\n")
    for ref in (f"azurekms://{azure.host}/k", f"azurekms://{azure.host}/k/{version}"):
        sign_blob_and_cross_check(ref, azure.env, tmp_path, blob, cosign, sha384=kind == "P-384")


def test_throttled_then_ok(azure: AzureServer) -> None:
    azure.state.add_key("k")
    azure.state.throttle = 2
    ref = f"azurekms://{azure.host}/k"
    keys.load_verifier(ref).verify(keys.load_signer(ref).sign(b"m"), b"m")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("verify-only", "Azure Key Vault key k (EC) does not allow the sign operation (allowed: verify)"),
        ("oct", "Azure Key Vault key k (oct-HSM) does not allow the sign operation (allowed: encrypt, decrypt)"),
        ("missing", "Azure Key Vault key absent not found in https://{host}/: A key with (name/id) absent was not "
                    "found in this key vault."),
        ("throttled", "Azure Key Vault get key for k failed after 4 attempts: HTTP 429: Request was not processed "
                      "because too many requests were received.; try again later"),
        ("malformed", "invalid azurekms format 'azurekms://vault-only': expected azurekms://VAULT_HOST/KEY[/VERSION]"),
    ],
)
def test_failures(azure: AzureServer, tmp_path: Path, case: str, message: str) -> None:
    ref = f"azurekms://{azure.host}/k"
    if case == "verify-only":
        azure.state.add_key("k", ops=["verify"])
    elif case == "oct":
        azure.state.add_key("k", "oct", ops=["encrypt", "decrypt"])
    elif case == "missing":
        ref = f"azurekms://{azure.host}/absent"
    elif case == "throttled":
        azure.state.add_key("k")
        azure.state.throttle = 100
    elif case == "malformed":
        ref = "azurekms://vault-only"
    r = sigstack("sign-blob", "--key", ref, "-", env=azure.env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip().startswith("Error: " + message.format(host=azure.host)), r.err
