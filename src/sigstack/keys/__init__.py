"""Keys: load signers and verifiers from key references, make and import key pairs.

Public API of the keys subsystem; see :mod:`sigstack.keys.refs` for how a
reference string picks its backend.
"""

from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.pair import KeyPair, generate_key_pair, import_key_pair, write_key_pair
from sigstack.keys.refs import GeneratedKey, generate_at, load_signer, load_verifier, register_scheme

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
    "load_verifier",
    "register_scheme",
    "write_key_pair",
]
