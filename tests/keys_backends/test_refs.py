"""Scheme dispatch: unknown schemes, missing optional dependencies, and that every
registered backend implements the whole KeyBackend protocol."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from sigstack.keys import refs
from tests.helpers import sigstack

_BLOCK_AND_RUN = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # makes `import name` raise ImportError, as when not installed\n"
    "from sigstack.cli.main import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


@pytest.mark.parametrize(
    ("ref", "blocked", "extra", "feature"),
    [
        ("k8s://ns/name", "kubernetes", "k8s", "k8s:// key references"),
        ("pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so", "pkcs11", "pkcs11",
         "pkcs11: key references"),
        ("awskms:///alias/x", "boto3", "aws", "awskms:// key references"),
        ("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "google.cloud.kms_v1", "gcp",
         "gcpkms:// key references"),
        ("azurekms://v.vault.azure.net/k", "azure.keyvault.keys", "azure", "azurekms:// key references"),
        ("azurekms://v.vault.azure.net/k", "azure.identity", "azure", "azurekms:// key references"),
        ("hashivault://k", "hvac", "vault", "hashivault:// key references"),
    ],
)
def test_missing_extra_names_it(tmp_path: Path, ref: str, blocked: str, extra: str, feature: str) -> None:
    r = subprocess.run([sys.executable, "-c", _BLOCK_AND_RUN, blocked, "sign-blob", "--key", ref, "-"],
                       input=b"x", capture_output=True, cwd=tmp_path, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "t"})
    assert r.returncode == 1
    assert r.stderr.decode().strip() == (
        f"Error: {feature} needs the optional dependencies of sigstack[{extra}]: pip install 'sigstack[{extra}]'")


@pytest.mark.parametrize(
    ("ref", "scheme"),
    [("gitlab://group/project", "gitlab"), ("vault://k", "vault"), ("s3://bucket/key", "s3"),
     ("K8S://ns/name", "")],
)
def test_unknown_scheme(tmp_path: Path, ref: str, scheme: str) -> None:
    r = sigstack("sign-blob", "--key", ref, "-", input=b"x", cwd=tmp_path, timeout=60, offline=None)
    assert r.code == 1
    err = r.err.strip()
    if scheme:
        assert err.startswith(f"Error: unsupported key reference scheme {scheme!r} in {ref!r}; supported: file paths, ")
        for known in ("awskms://", "azurekms://", "gcpkms://", "hashivault://", "k8s://", "pkcs11:"):
            assert known in err
    else:  # not a lowercase scheme: it is a file path, as in cosign
        assert err == f"Error: reading key {ref}: no such file"


@pytest.mark.parametrize("scheme", sorted(s for s in refs._SCHEMES if s))
def test_every_backend_implements_the_protocol(scheme: str) -> None:
    module, _, attr = refs._SCHEMES[scheme].partition(":")
    backend = getattr(importlib.import_module(module), attr)
    for method in ("signer", "verifier", "generate"):
        assert callable(getattr(backend, method))


def test_missing_extra_on_generate_and_pkcs11_tool(tmp_path: Path) -> None:
    for blocked, argv, extra in (
        ("kubernetes", ["generate-key-pair", "k8s://ns/n"], "k8s"),
        ("boto3", ["generate-key-pair", "--kms", "awskms:///alias/a"], "aws"),
        ("pkcs11", ["pkcs11-tool", "list-tokens", "--module-path", "/usr/lib/softhsm/libsofthsm2.so"], "pkcs11"),
        ("pkcs11", ["pkcs11-tool", "list-keys-uris", "--module-path", "/usr/lib/softhsm/libsofthsm2.so",
                    "--slot-id", "1"], "pkcs11"),
    ):
        r = subprocess.run([sys.executable, "-c", _BLOCK_AND_RUN, blocked, *argv], input=b"", capture_output=True,
                           cwd=tmp_path, timeout=60, env={"PATH": "/usr/bin:/bin", "COSIGN_PASSWORD": ""})
        assert r.returncode == 1, argv
        assert f"needs the optional dependencies of sigstack[{extra}]" in r.stderr.decode(), r.stderr.decode()
