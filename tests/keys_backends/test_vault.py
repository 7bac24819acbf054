"""``hashivault://`` through ``hvac`` against an HTTP double of Vault's transit
engine (``_vault_double.py``): no Vault server can be installed on these machines.
Signatures are checked with the exported public key by the real cosign."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack import keys
from tests.helpers import sigstack

from ._vault_double import make_key
from .conftest import VaultServer, sign_blob_and_cross_check


def test_generate_creates_ecdsa_p256_transit_key(vault: VaultServer, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", "--kms", "hashivault://release", env=vault.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    assert vault.state.keys["release"][0] == "ecdsa-p256"
    assert ("POST", "/v1/transit/keys/release", {"type": "ecdsa-p256"}) in vault.state.requests
    assert keys.load_verifier(str(tmp_path / "cosign.pub")).public_key_pem() == keys.load_verifier(
        "hashivault://release").public_key_pem()


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])
def test_sign_blob_verified_by_real_cosign(vault: VaultServer, tmp_path: Path, cosign: str, key_type: str) -> None:
    vault.state.keys["k"] = (key_type, make_key(key_type))
    blob = tmp_path / "blob"
    blob.write_bytes(b"vault signed\n")
    sign_blob_and_cross_check("hashivault://k", vault.env, tmp_path, blob, cosign, sha384=key_type == "ecdsa-p384")
    sign_request = next(b for m, p, b in vault.state.requests if p == "/v1/transit/sign/k")
    assert sign_request["prehashed"] is True
    assert sign_request["hash_algorithm"] == ("sha2-384" if key_type == "ecdsa-p384" else "sha2-256")


def test_custom_mount_and_openbao_scheme(vault: VaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault.state.mount = "ci/transit"
    monkeypatch.setenv("TRANSIT_SECRET_ENGINE_PATH", "ci/transit")
    vault.state.keys["k"] = ("ecdsa-p256", make_key("ecdsa-p256"))
    signer = keys.load_signer("openbao://k")
    keys.load_verifier("hashivault://k").verify(signer.sign(b"m"), b"m")


def test_throttled_then_ok(vault: VaultServer) -> None:
    vault.state.keys["k"] = ("ecdsa-p256", make_key("ecdsa-p256"))
    vault.state.throttle = 2
    keys.load_verifier("hashivault://k")
    assert len(vault.state.requests) == 3


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("aes", "Vault transit key k has type aes256-gcm96; cosign signs with ecdsa-p256, ecdsa-p384, ecdsa-p521, "
                "rsa-2048, rsa-3072, rsa-4096"),
        ("missing", "Vault transit key absent not found at transit/: "),
        ("bad-token", "Vault read key on transit/keys/k: denied: permission denied"),
        ("no-addr", "VAULT_ADDR must be set to the Vault server address (e.g. https://vault:8200)"),
        ("no-token", "no Vault token: set VAULT_TOKEN or log in with `vault login` (~/.vault-token)"),
        ("throttled", "Vault read key for k failed after 4 attempts: RateLimitExceeded: request path "
                      '"transit/keys/k": rate limit quota exceeded; try again later'),
        ("bad-name", "invalid hashivault format 'hashivault://-k': expected hashivault://KEY_NAME (letters, digits, "
                     "'_', '-' and '.', not starting or ending with '-' or '.')"),
        ("bad-path", "invalid hashivault format 'hashivault://a/b': expected hashivault://KEY_NAME (letters, digits, "
                     "'_', '-' and '.', not starting or ending with '-' or '.')"),
    ],
)
def test_failures(vault: VaultServer, tmp_path: Path, case: str, message: str) -> None:
    env = dict(vault.env)
    ref = "hashivault://k"
    vault.state.keys["k"] = ("ecdsa-p256", make_key("ecdsa-p256"))
    if case == "aes":
        vault.state.keys["k"] = ("aes256-gcm96", None)
    elif case == "missing":
        ref = "hashivault://absent"
    elif case == "bad-token":
        env["VAULT_TOKEN"] = "wrong"
    elif case == "no-addr":
        del env["VAULT_ADDR"]
    elif case == "no-token":
        del env["VAULT_TOKEN"]
    elif case == "throttled":
        vault.state.throttle = 100
    elif case == "bad-name":
        ref = "hashivault://-k"
    elif case == "bad-path":
        ref = "hashivault://a/b"
    r = sigstack("sign-blob", "--key", ref, "-", env=env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip().startswith("Error: " + message), r.err
