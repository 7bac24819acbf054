"""Key references: one string (``cosign.key``, ``env://VAR``, ``k8s://ns/name``,
``pkcs11:...``, ``awskms://...``) names where a key lives; this module finds the
backend that understands it.

Commands never branch on schemes. Each backend is one module exposing a
``BACKEND`` object that implements :class:`KeyBackend`; registering a scheme is
one line in ``_SCHEMES``. Backends are imported only when used, so optional
dependencies (boto3, python-pkcs11, kubernetes ...) cost nothing until then.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Protocol

from sigstack.errors import KeyRefError
from sigstack.keys.base import PasswordProvider, Signer, Verifier


@dataclass(frozen=True)
class GeneratedKey:
    """What ``generate-key-pair`` into a backend produced.

    ``public_pem`` is written locally by the CLI (as cosign writes ``cosign.pub``);
    ``messages`` are the lines cosign prints for this backend.
    """

    public_pem: bytes
    messages: tuple[str, ...] = field(default_factory=tuple)


class KeyBackend(Protocol):
    """What a key storage scheme implements."""

    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        """A signer for the private key at ``ref`` (asking ``password`` only if needed)."""
        ...

    def verifier(self, ref: str) -> Verifier:
        """A verifier for the public key at ``ref``."""
        ...

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        """Create a new key pair stored at ``ref``."""
        ...


# scheme -> module holding BACKEND. Adding a scheme is one module plus one line here.
_SCHEMES: dict[str, str] = {
    "": "sigstack.keys.material:FILE",
    "env": "sigstack.keys.material:ENV",
    "http": "sigstack.keys.material:URL",
    "https": "sigstack.keys.material:URL",
    "k8s": "sigstack.keys.k8s:BACKEND",
    "pkcs11": "sigstack.keys.pkcs11:BACKEND",
    "awskms": "sigstack.keys.kms.aws:BACKEND",
    "azurekms": "sigstack.keys.kms.azure:BACKEND",
    "gcpkms": "sigstack.keys.kms.gcp:BACKEND",
    "hashivault": "sigstack.keys.kms.hashivault:BACKEND",
    "openbao": "sigstack.keys.kms.hashivault:BACKEND",
}

_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://")


def register_scheme(scheme: str, target: str) -> None:
    """Register ``module:attribute`` as the backend for ``scheme`` (for plug-ins)."""
    _SCHEMES[scheme] = target


def known_schemes() -> list[str]:
    return sorted(s for s in _SCHEMES if s)


def scheme_of(ref: str) -> str:
    """The scheme of ``ref``; ``""`` for a plain file path."""
    if ref.startswith("pkcs11:"):
        return "pkcs11"
    m = _SCHEME_RE.match(ref)
    return m.group(1) if m else ""


def backend_for(ref: str) -> KeyBackend:
    if not ref:
        raise KeyRefError("a key reference is required (a file path or a URI such as env://VAR)")
    scheme = scheme_of(ref)
    target = _SCHEMES.get(scheme)
    if target is None:
        listed = ", ".join(f"{s}:" if s == "pkcs11" else f"{s}://" for s in known_schemes())
        raise KeyRefError(
            f"unsupported key reference scheme {scheme!r} in {ref!r}; supported: file paths, {listed}")
    module, _, attr = target.partition(":")
    backend: KeyBackend = getattr(importlib.import_module(module), attr or "BACKEND")
    return backend


def load_signer(ref: str, password: PasswordProvider | bytes | None = None) -> Signer:
    """A :class:`Signer` for the key at ``ref``.

    ``password`` is the key password (bytes), or a provider called only when the
    backend needs one; None means the key must not need a password.
    """
    return backend_for(ref).signer(ref, _provider(password))


def load_verifier(ref: str) -> Verifier:
    """A :class:`Verifier` for the public key at ``ref``."""
    return backend_for(ref).verifier(ref)


def generate_at(ref: str, password: PasswordProvider | bytes | None = None) -> GeneratedKey:
    """Create a key pair inside the backend named by ``ref`` (k8s://, awskms:// ...)."""
    return backend_for(ref).generate(ref, _provider(password))


def _provider(password: PasswordProvider | bytes | None) -> PasswordProvider:
    if callable(password):
        return password
    fixed = password

    def provide(confirm: bool) -> bytes:
        if fixed is None:
            raise KeyRefError("this key needs a password, and none was given")
        return fixed

    return provide
