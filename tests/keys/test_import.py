"""import-key-pair inputs from the shared vectors: which are accepted, which rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack.errors import KeyLoadError, UnsupportedKeyError
from sigstack.keys import import_key_pair, load_signer
from sigstack.keys.encrypted import decrypt_private_key
from sigstack.keys.pem import load_import_private_key

ACCEPTED = {
    "validrsa.pem": rsa.RSAPrivateKey,
    "validrsapkcs1.pem": rsa.RSAPrivateKey,
    "validrsapkcs8.pem": rsa.RSAPrivateKey,
    "validecp256.pem": ec.EllipticCurvePrivateKey,
    "validecp384.pem": ec.EllipticCurvePrivateKey,
    "validecp521.pem": ec.EllipticCurvePrivateKey,
    "validecpkcs8.pem": ec.EllipticCurvePrivateKey,
    "ed25519key.pem": ed25519.Ed25519PrivateKey,
}
REJECTED = {
    "invalidrsawithpubkey.pem": "unsupported private key type 'PUBLIC KEY'",
    "invalidrsasmallkey.pem": "unsupported RSA key size 1024",
    "invalidrsalargekey.pem": "unsupported RSA key size 5120",
    "invalidecp224.pem": "unsupported ECDSA curve secp224r1",
    "invalidecunsupported.pem": "unsupported ECDSA curve",
    "invalidkey.pem": "unsupported private key type 'PGP PRIVATE KEY BLOCK'",
}


def test_every_import_vector_is_covered(vectors: Path) -> None:
    assert {p.name for p in (vectors / "cosign-keys" / "import").glob("*.pem")} == set(ACCEPTED) | set(REJECTED)


@pytest.mark.parametrize(("name", "kind"), sorted(ACCEPTED.items()))
def test_accepted(vectors: Path, name: str, kind: type, tmp_path: Path) -> None:
    pem = (vectors / "cosign-keys" / "import" / name).read_bytes()
    pair = import_key_pair(pem, b"pw")
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    key = decrypt_private_key(pair.private_pem, b"pw")
    assert isinstance(key, kind)
    original = load_import_private_key(pem)
    assert original.public_key() == key.public_key()
    (tmp_path / "k.key").write_bytes(pair.private_pem)
    signer = load_signer(str(tmp_path / "k.key"), b"pw")
    assert signer.public_key_pem() == pair.public_pem


@pytest.mark.parametrize(("name", "message"), sorted(REJECTED.items()))
def test_rejected(vectors: Path, name: str, message: str) -> None:
    pem = (vectors / "cosign-keys" / "import" / name).read_bytes()
    with pytest.raises((UnsupportedKeyError, KeyLoadError), match=message):
        import_key_pair(pem, b"pw")


def test_not_pem_at_all() -> None:
    with pytest.raises(KeyLoadError, match="no PEM-encoded key"):
        import_key_pair(b"just some text", b"pw")
