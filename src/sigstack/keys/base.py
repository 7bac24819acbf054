"""The two interfaces every key backend implements: ``Signer`` and ``Verifier``.

Signing flows never know where a key lives (file, env var, Kubernetes secret,
KMS, PKCS#11 token); they only see these. Backends that hold the key remotely
(KMS, tokens) can only sign a digest, so the interface is digest-first: callers
hash the message (streaming, once) with ``hash_name`` and hand over the digest.
Keys whose algorithm needs the whole message (pure Ed25519) say so with
``prehash = False`` and get the message instead.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography is imported where it is used: see keys.background
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

PasswordProvider = Callable[[bool], bytes]
"""Returns the key password; the argument is True when the password is being set
(so an interactive provider should ask twice). The library never prompts itself:
the CLI passes a provider that reads ``COSIGN_PASSWORD``, a terminal, or stdin."""


class _KeyHolder(ABC):
    #: hashlib name of the digest this key signs (sha256 for P-256 and RSA, ...)
    hash_name: str = "sha256"
    #: False when the algorithm signs the message itself (pure Ed25519)
    prehash: bool = True

    @abstractmethod
    def public_key(self) -> PublicKeyTypes:
        """The public half, as a ``cryptography`` key object."""

    def public_key_pem(self) -> bytes:
        """PKIX ``PUBLIC KEY`` PEM, exactly as cosign writes ``cosign.pub``."""
        from cryptography.hazmat.primitives import serialization

        return self.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def digest(self, message: bytes) -> bytes:
        return hashlib.new(self.hash_name, message).digest()


class Signer(_KeyHolder):
    """Something that can produce signatures cosign accepts.

    A keyless signer (``sigstack.sign.keyless``) also holds the short-lived signing
    certificate the CA issued for its key; every flow names it as the verifier in the
    log and stores it beside the signature, so the flows need no keyless branch."""

    #: the signing certificate (DER) of a keyless signer; None for a key
    certificate: bytes | None = None
    #: the rest of that certificate's chain (DER, intermediates then root)
    chain: tuple[bytes, ...] = ()

    def verifier_pem(self) -> bytes:
        """What a log entry names as the verifier: the certificate PEM when there is
        one (Rekor binds the identity to the entry), else the public key PEM."""
        if self.certificate is None:
            return self.public_key_pem()
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        return x509.load_der_x509_certificate(self.certificate).public_bytes(serialization.Encoding.PEM)

    @abstractmethod
    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a precomputed ``hash_name`` digest (only when ``prehash``)."""

    def sign(self, message: bytes) -> bytes:
        """Sign a whole message; the default hashes it and signs the digest."""
        return self.sign_digest(self.digest(message))


class Verifier(_KeyHolder):
    """Something that checks signatures; raises ``VerificationError`` on a mismatch."""

    @abstractmethod
    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        """Check ``signature`` over a precomputed digest (only when ``prehash``)."""

    def verify(self, signature: bytes, message: bytes) -> None:
        self.verify_digest(signature, self.digest(message))
