"""cosign's encrypted private key format (``ENCRYPTED SIGSTORE PRIVATE KEY``).

The PEM body is compact JSON written by go-securesystemslib's ``encrypted``
package: scrypt derives a 32-byte key from the password, NaCl secretbox
(XSalsa20-Poly1305, via PyNaCl) seals the PKCS#8 DER of the private key. We write
the exact field order and compact form Go's ``encoding/json`` produces, so our key
files are byte-for-byte what cosign would write for the same salt and nonce.

The one hand-written piece is ``_require_pkcs8``: cosign parses the plaintext with
``x509.ParsePKCS8PrivateKey`` and so rejects SEC1/PKCS#1 plaintexts, whereas
``cryptography``'s DER loader accepts every form; a three-byte look at the DER
structure is the smallest way to reject exactly what cosign rejects.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import TYPE_CHECKING, Any

from sigstack._internal import safejson
from sigstack.errors import KeyLoadError, PasswordError
from sigstack.keys.pem import encode_pem, pem_body, pem_type

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

# Decrypting imports nothing heavy before scrypt starts (NaCl and the key loaders come
# after it): a key loading in the background (keys.background) then spends its first
# milliseconds reaching the GIL-free scrypt, not competing for the GIL with imports.

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
LEGACY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
LABELS = (SIGSTORE_LABEL, LEGACY_LABEL)

#: (N, r, p) sets cosign accepts: legacy, standard (what it writes), OWASP
SCRYPT_PARAMS = ((32768, 8, 1), (65536, 8, 1), (131072, 8, 1))
DEFAULT_SCRYPT = (65536, 8, 1)
_SALT_LEN = 32
_NONCE_LEN = 24
_KEY_LEN = 32


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # cryptography's scrypt is ~40% faster than hashlib's here and lets other threads run
    # (sign-blob hashes the artifact meanwhile).
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=_KEY_LEN, n=n, r=r, p=p).derive(password)


def encrypt(plaintext: bytes, password: bytes, *, scrypt_params: tuple[int, int, int] = DEFAULT_SCRYPT) -> bytes:
    """Seal ``plaintext`` and return the JSON document (the PEM body)."""
    from nacl.secret import SecretBox

    n, r, p = scrypt_params
    salt = os.urandom(_SALT_LEN)
    nonce = os.urandom(_NONCE_LEN)
    box = SecretBox(_scrypt(password, salt, n, r, p))
    sealed = box.encrypt(plaintext, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def decrypt(document: bytes, password: bytes) -> bytes:
    """Open a JSON document written by :func:`encrypt` (or by cosign)."""
    try:
        doc = safejson.loads(document)
    except (ValueError, UnicodeDecodeError):
        raise KeyLoadError("decrypt: the key body is not valid JSON; is this a cosign key?") from None
    kdf = _obj(doc, "kdf")
    if _get(kdf, "name", str) != "scrypt":
        raise KeyLoadError(f'decrypt: encrypted: unknown kdf name "{kdf.get("name")}"')
    params = _obj(kdf, "params")
    n, r, p = (_get(params, k, int) for k in ("N", "r", "p"))
    if (n, r, p) not in SCRYPT_PARAMS:
        raise KeyLoadError("decrypt: encrypted: unsupported scrypt parameters")
    salt = _unb64(_get(kdf, "salt", str), "salt")
    cipher = _obj(doc, "cipher")
    if _get(cipher, "name", str) != "nacl/secretbox":
        raise KeyLoadError(f'decrypt: encrypted: unknown cipher name "{cipher.get("name")}"')
    nonce = _unb64(_get(cipher, "nonce", str), "nonce")
    if len(nonce) != _NONCE_LEN:
        raise KeyLoadError("decrypt: encrypted: invalid nonce length")
    ciphertext = _unb64(_get(doc, "ciphertext", str), "ciphertext")
    _import_in_background("nacl.secret", "cryptography.hazmat.primitives.serialization",
                          "sigstack.keys.software")
    key = _scrypt(password, salt, n, r, p)
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        return SecretBox(key).decrypt(ciphertext, nonce)
    except CryptoError:
        raise PasswordError("decrypt: encrypted: decryption failed (wrong password?)") from None


def _import_in_background(*modules: str) -> None:
    """Import what comes after scrypt on another thread while scrypt holds no GIL
    (~15 ms of imports taken off the path of every key load; an import that fails
    here fails again, with its real error, where it is used)."""
    import importlib
    import threading

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # reported again by the import that needs it
                continue

    threading.Thread(target=work, name="sigstack-preload", daemon=True).start()


def encrypt_private_key(key: PrivateKeyTypes, password: bytes) -> bytes:
    """The full ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM for ``key``."""
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encode_pem(SIGSTORE_LABEL, encrypt(der, password))


def is_encrypted_key(data: bytes) -> bool:
    return pem_type(data) in LABELS


def decrypt_private_key(pem: bytes, password: bytes) -> PrivateKeyTypes:
    """Load a cosign encrypted key file (either label, any accepted scrypt set)."""
    label = pem_type(pem)
    if label is None:
        raise KeyLoadError("invalid pem block: no PEM data found; is this a cosign private key?")
    if label not in LABELS:
        raise KeyLoadError(f"unsupported pem type: {label}")
    der = decrypt(pem_body(pem, label), password)
    _require_pkcs8(der)
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"parsing private key: {str(exc).splitlines()[0]}") from None


def _require_pkcs8(der: bytes) -> None:
    # PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, key OCTET STRING }
    # SEC1 ECPrivateKey has an OCTET STRING where PKCS#8 has the algorithm SEQUENCE.
    try:
        if der[0] != 0x30:
            raise IndexError
        i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
        if der[i] != 0x02:
            raise IndexError
        i += 2 + der[i + 1]
        ok = der[i] == 0x30
    except IndexError:
        ok = False
    if not ok:
        raise KeyLoadError(
            "parsing private key: x509: failed to parse private key "
            "(the plaintext is not PKCS#8; cosign rejects SEC1/PKCS#1 key bodies)"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyLoadError(f"decrypt: the {field} is not valid base64") from None


def _obj(doc: Any, key: str) -> dict[str, Any]:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, dict):
        raise KeyLoadError(f"decrypt: malformed encrypted key: missing {key!r} object")
    return value


def _get(doc: dict[str, Any], key: str, typ: type) -> Any:
    value = doc.get(key)
    if not isinstance(value, typ) or isinstance(value, bool):
        raise KeyLoadError(f"decrypt: malformed encrypted key: bad or missing {key!r}")
    return value
