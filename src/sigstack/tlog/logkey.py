"""Loading the log's signing key.

The server accepts what Rekor's file signer accepts (an unencrypted PKCS#8 / SEC1
PEM private key) plus any sigstack key reference (cosign encrypted keys, env://...),
so one key file format serves both tools.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.errors import KeyLoadError
from sigstack.keys import load_signer
from sigstack.keys.base import PasswordProvider, Signer
from sigstack.keys.pem import pem_type
from sigstack.keys.software import PrivateKeySigner
from sigstack.tlog.checkpoint import LogSigner


def load_log_signer(ref: str, name: str, password: PasswordProvider | bytes | None = None) -> LogSigner:
    """The log key at ``ref``; ``name`` is the checkpoint key name (the hostname)."""
    signer: Signer
    path = Path(ref)
    data = path.read_bytes() if path.is_file() else b""
    if pem_type(data) in ("PRIVATE KEY", "EC PRIVATE KEY"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyLoadError(f"reading log key {ref}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyLoadError("the log key must be ECDSA (P-256/384/521) or Ed25519")
        signer = PrivateKeySigner(key)
    else:
        signer = load_signer(ref, password)
    return LogSigner(signer, name)


def generate_log_key(path: Path) -> None:
    """Write a fresh ECDSA P-256 log key as unencrypted PKCS#8 PEM (mode 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    from sigstack._internal.fs import atomic_write

    atomic_write(path, pem, 0o600)  # never briefly readable by others, never half-written
