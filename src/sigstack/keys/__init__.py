"""Keys: load signers and verifiers from key references, make and import key pairs.

Public API of the keys subsystem; see :mod:`sigstack.keys.refs` for how a
reference string picks its backend. Names are re-exported lazily (PEP 562), so
verifying with a public key does not import the key-pair machinery (cosign's
encrypted format, scrypt, NaCl), which only signing and key generation need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "PasswordProvider": "sigstack.keys.base",
    "Signer": "sigstack.keys.base",
    "Verifier": "sigstack.keys.base",
    "KeyPair": "sigstack.keys.pair",
    "generate_key_pair": "sigstack.keys.pair",
    "import_key_pair": "sigstack.keys.pair",
    "write_key_pair": "sigstack.keys.pair",
    "GeneratedKey": "sigstack.keys.refs",
    "generate_at": "sigstack.keys.refs",
    "load_signer": "sigstack.keys.refs",
    "load_verifier": "sigstack.keys.refs",
    "register_scheme": "sigstack.keys.refs",
    "load_signer_in_background": "sigstack.keys.background",
    "load_verifier_on_first_use": "sigstack.keys.background",
}

__all__ = [
    "GeneratedKey",
    "KeyPair",
    "PasswordProvider",
    "Signer",
    "Verifier",
    "generate_at",
    "generate_key_pair",
    "import_key_pair",
    "load_signer",
    "load_signer_in_background",
    "load_verifier",
    "load_verifier_on_first_use",
    "register_scheme",
    "write_key_pair",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from sigstack.keys.background import load_signer_in_background, load_verifier_on_first_use
    from sigstack.keys.base import PasswordProvider, Signer, Verifier
    from sigstack.keys.pair import KeyPair, generate_key_pair, import_key_pair, write_key_pair
    from sigstack.keys.refs import GeneratedKey, generate_at, load_signer, load_verifier, register_scheme


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack.keys' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value
