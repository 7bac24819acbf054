"""Signers and verifiers over keys held in memory (files, env vars, secrets).

Algorithm choice follows cosign's ``GetDefaultPublicKeyDetails``: ECDSA P-256 with
SHA-256, P-384 with SHA-384, P-521 with SHA-512, RSA PKCS#1 v1.5 with SHA-256.
Ed25519 is signed as pure Ed25519 (what cosign does for key-signed blobs without a
log); ``cryptography`` has no Ed25519ph, so verification accepts pure Ed25519 only.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from sigstack.errors import UnsupportedKeyError, VerificationError
from sigstack.keys.base import Signer, Verifier

_EC_HASHES = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def hash_for_public_key(key: PublicKeyTypes) -> tuple[str, bool]:
    """(hashlib name, prehash) that cosign uses for this public key."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = _EC_HASHES.get(key.curve.name)
        if name is None:
            raise UnsupportedKeyError(f"unsupported ECDSA curve {key.curve.name}")
        return name, True
    if isinstance(key, rsa.RSAPublicKey):
        return "sha256", True
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "sha512", False
    raise UnsupportedKeyError(f"unsupported public key type {type(key).__name__}")


class PublicKeyVerifier(Verifier):
    """Verifies ECDSA (ASN.1 DER), RSA PKCS#1 v1.5 and Ed25519 signatures."""

    def __init__(self, key: PublicKeyTypes) -> None:
        self.hash_name, self.prehash = hash_for_public_key(key)
        self._key = key

    def public_key(self) -> PublicKeyTypes:
        return self._key

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        key = self._key
        prehashed = utils.Prehashed(_HASHES[self.hash_name])
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(prehashed))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            else:
                raise VerificationError("Ed25519 signatures are checked over the message, not a digest")
        except InvalidSignature:
            raise VerificationError(_invalid_message(key)) from None

    def verify(self, signature: bytes, message: bytes) -> None:
        if isinstance(self._key, ed25519.Ed25519PublicKey):
            try:
                self._key.verify(signature, message)
            except InvalidSignature:
                raise VerificationError("failed to verify signature") from None
            return
        super().verify(signature, message)


def _invalid_message(key: PublicKeyTypes) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "invalid signature when validating ASN.1 encoded signature"
    return "failed to verify signature"


class PrivateKeySigner(Signer):
    """Signs with a private key object held in memory."""

    def __init__(self, key: PrivateKeyTypes) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise UnsupportedKeyError(f"unsupported private key type {type(key).__name__}")
        self._key = key
        self.hash_name, self.prehash = hash_for_public_key(key.public_key())

    def public_key(self) -> PublicKeyTypes:
        return self._key.public_key()

    @property
    def private_key(self) -> PrivateKeyTypes:
        return self._key

    def sign_digest(self, digest: bytes) -> bytes:
        key = self._key
        prehashed = utils.Prehashed(_HASHES[self.hash_name])
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, padding.PKCS1v15(), prehashed)
        raise UnsupportedKeyError("Ed25519 keys sign the whole message, not a digest")

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(message)
        return super().sign(message)
