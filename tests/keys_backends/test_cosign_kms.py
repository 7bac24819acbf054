"""The real cosign (Go SDKs) against the same services sigstack is tested with:
moto's KMS, and the Vault and Key Vault doubles. Keys cosign creates are usable by
sigstack and the other way round, and each verifies the other's signatures.

Besides interop, this checks the doubles: cosign's Go clients (AWS SDK v2, Vault
API client, Azure SDK for Go) find in them the API they expect. Cloud KMS is left
out: cosign reaches it over gRPC only, and that double speaks the REST API.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from sigstack import keys
from tests.helpers import sigstack

from .conftest import AzureServer, Moto, VaultServer, cosign_sign_blob, cosign_verify_blob


def _round_trip(cosign: str, env: dict[str, str], tmp_path: Path, cosign_ref: str, sigstack_ref: str) -> None:
    # cosign creates a key; sigstack signs with it; cosign verifies with the key it wrote
    made = subprocess.run([cosign, "generate-key-pair", "--kms", cosign_ref], env=env, cwd=tmp_path,
                          capture_output=True, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    blob = tmp_path / "blob"
    blob.write_bytes(b"interop payload\n")
    signed = sigstack("sign-blob", "--key", cosign_ref, str(blob), env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    r = cosign_verify_blob(cosign, str(tmp_path / "cosign.pub"), signed.out.strip(), blob)
    assert r.returncode == 0, r.stderr.decode()
    # sigstack creates a key; cosign signs with it; sigstack verifies through the KMS
    other = tmp_path / "other"
    other.mkdir()
    made = sigstack("generate-key-pair", "--kms", sigstack_ref, env=env, cwd=other, offline="flags", inherit="none")
    assert made.code == 0, made.err
    sig = cosign_sign_blob(cosign, sigstack_ref, blob, env)
    (other / "sig").write_bytes(sig)
    ok = sigstack("verify-blob", "--key", sigstack_ref, "--signature", "sig", str(blob), env=env, cwd=other, offline="flags", inherit="none")
    assert ok.code == 0, ok.err
    keys.load_verifier(str(other / "cosign.pub")).verify(base64.b64decode(sig), blob.read_bytes())


def test_aws_with_real_cosign(moto_kms: Moto, tmp_path: Path, cosign: str) -> None:
    _round_trip(cosign, moto_kms.env, tmp_path, "awskms:///alias/by-cosign", "awskms:///alias/by-sigstack")


def test_vault_with_real_cosign(vault: VaultServer, tmp_path: Path, cosign: str) -> None:
    _round_trip(cosign, vault.env, tmp_path, "hashivault://by-cosign", "hashivault://by-sigstack")


@pytest.mark.parametrize("cosign_creates", [True, False])
def test_azure_with_real_cosign(azure: AzureServer, tmp_path: Path, cosign: str, cosign_creates: bool) -> None:
    env = {**azure.env, "SSL_CERT_FILE": azure.env["REQUESTS_CA_BUNDLE"]}
    if cosign_creates:
        _round_trip(cosign, env, tmp_path, f"azurekms://{azure.host}/by-cosign", f"azurekms://{azure.host}/by-sigstack")
    else:  # a key made outside both tools (portal, az CLI)
        azure.state.add_key("existing")
        ref = f"azurekms://{azure.host}/existing"
        blob = tmp_path / "blob"
        blob.write_bytes(b"x")
        sig = cosign_sign_blob(cosign, ref, blob, env)
        keys.load_verifier(ref).verify(base64.b64decode(sig), b"x")
