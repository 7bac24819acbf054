"""The cosign encrypted key format: real cosign files from the shared vectors, and ours."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.errors import KeyLoadError, PasswordError
from sigstack.keys import encrypted, generate_key_pair
from sigstack.keys.pem import encode_pem, pem_body, public_key_to_pem


def _pub(vectors: Path, name: str) -> bytes:
    return (vectors / "cosign-keys" / name).read_bytes()


@pytest.mark.parametrize(
    ("key", "pub", "n"),
    [
        ("encrypted-sigstore.key", "encrypted-sigstore.derived.pub", 32768),
        ("legacy-cosign-label.key", "legacy-cosign-label.derived.pub", 32768),
    ],
)
def test_cosign_written_keys_decrypt(vectors: Path, key: str, pub: str, n: int) -> None:
    pem = (vectors / "cosign-keys" / key).read_bytes()
    private = encrypted.decrypt_private_key(pem, b"hello")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert public_key_to_pem(private.public_key()) == _pub(vectors, pub)
    label = "ENCRYPTED SIGSTORE PRIVATE KEY" if "sigstore" in key else "ENCRYPTED COSIGN PRIVATE KEY"
    assert json.loads(pem_body(pem, label))["kdf"]["params"]["N"] == n


def test_sec1_plaintext_rejected_like_cosign(vectors: Path) -> None:
    pem = (vectors / "cosign-keys" / "sec1-plaintext.key").read_bytes()
    with pytest.raises(KeyLoadError, match="not PKCS#8"):
        encrypted.decrypt_private_key(pem, b"hello")


@pytest.mark.parametrize("key", ["encrypted-sigstore.key", "legacy-cosign-label.key", "sec1-plaintext.key"])
@pytest.mark.parametrize("password", [b"wrong", b"", b"hello\n"])
def test_wrong_password(vectors: Path, key: str, password: bytes) -> None:
    pem = (vectors / "cosign-keys" / key).read_bytes()
    with pytest.raises(PasswordError, match="decryption failed"):
        encrypted.decrypt_private_key(pem, password)


def test_written_document_has_gos_exact_shape() -> None:
    pair = generate_key_pair(b"pw")
    text = pair.private_pem.decode()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body_lines = text.strip().splitlines()[1:-1]
    assert all(len(line) == 64 for line in body_lines[:-1]) and 0 < len(body_lines[-1]) <= 64
    raw = pem_body(pair.private_pem, "ENCRYPTED SIGSTORE PRIVATE KEY")
    doc = json.loads(raw)
    # Go's encoding/json: struct field order, compact, no trailing newline.
    assert raw == json.dumps(doc, separators=(",", ":")).encode()
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert list(doc["kdf"]) == ["name", "params", "salt"]
    assert doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert list(doc["kdf"]["params"]) == ["N", "r", "p"]
    assert list(doc["cipher"]) == ["name", "nonce"]
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    plain = encrypted.decrypt(raw, b"pw")
    key = serialization.load_der_private_key(plain, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert pair.public_pem == public_key_to_pem(key.public_key())


def test_empty_password_still_encrypts() -> None:
    pair = generate_key_pair(b"")
    assert encrypted.decrypt_private_key(pair.private_pem, b"") is not None
    with pytest.raises(PasswordError):
        encrypted.decrypt_private_key(pair.private_pem, b"x")


@pytest.mark.parametrize("n", [32768, 65536, 131072])
def test_all_three_scrypt_sets_read(n: int) -> None:
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    doc = encrypted.encrypt(der, b"pw", scrypt_params=(n, 8, 1))
    assert encrypted.decrypt(doc, b"pw") == der


def _doc(**changes: object) -> bytes:
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    doc = json.loads(encrypted.encrypt(der, b"pw", scrypt_params=(32768, 8, 1)))
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "missing 'kdf'"),
        (_doc(kdf__name="argon2"), 'unknown kdf name "argon2"'),
        (_doc(kdf__params={"N": 1024, "r": 8, "p": 1}), "unsupported scrypt parameters"),
        (_doc(kdf__params={"N": 65536, "r": 1, "p": 1}), "unsupported scrypt parameters"),
        (_doc(kdf__params={"N": "65536", "r": 8, "p": 1}), "bad or missing 'N'"),
        (_doc(kdf__salt="%%%"), "salt is not valid base64"),
        (_doc(cipher__name="aes"), 'unknown cipher name "aes"'),
        (_doc(cipher__nonce="AAAA"), "invalid nonce length"),
        (_doc(ciphertext=None), "bad or missing 'ciphertext'"),
    ],
)
def test_malformed_documents(document: bytes, message: str) -> None:
    with pytest.raises(KeyLoadError, match=message):
        encrypted.decrypt_private_key(encode_pem("ENCRYPTED SIGSTORE PRIVATE KEY", document), b"pw")


def test_tampered_ciphertext_fails_authentication() -> None:
    pair = generate_key_pair(b"pw")
    doc = json.loads(pem_body(pair.private_pem, "ENCRYPTED SIGSTORE PRIVATE KEY"))
    ct = bytearray(base64.b64decode(doc["ciphertext"]))
    ct[-1] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    pem = encode_pem("ENCRYPTED SIGSTORE PRIVATE KEY", json.dumps(doc).encode())
    with pytest.raises(PasswordError):
        encrypted.decrypt_private_key(pem, b"pw")


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"", "no PEM data"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "unsupported pem type: PRIVATE KEY"),
        (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n!!!\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
         "not valid base64"),
    ],
)
def test_not_a_cosign_key(pem: bytes, message: str) -> None:
    with pytest.raises(KeyLoadError, match=message):
        encrypted.decrypt_private_key(pem, b"pw")
