"""sigstack: sign and verify software artifacts, compatible with cosign, Rekor and Fulcio.

The public API is deliberately small and re-exported here lazily (PEP 562
``__getattr__``), so that ``import sigstack`` — which every CLI start pays — costs
almost nothing; the heavy cryptography imports happen only when a name is used.

Example::

    import sigstack
    signer = sigstack.load_signer("cosign.key", password=lambda confirm: b"pw")
    sig = sigstack.sign_blob(signer, open("artifact", "rb"))
    sigstack.verify_blob(sigstack.load_verifier("cosign.pub"), sig, open("artifact", "rb"))
"""

from __future__ import annotations

from sigstack._version import __version__

# Not ``typing.TYPE_CHECKING``: importing typing is ~5 ms of every CLI start, and type
# checkers treat any constant of this name the same way.
TYPE_CHECKING = False

_LAZY = {
    "SigstackError": "sigstack.errors",
    "Signer": "sigstack.keys",
    "Verifier": "sigstack.keys",
    "load_signer": "sigstack.keys",
    "load_verifier": "sigstack.keys",
    "generate_key_pair": "sigstack.keys",
    "import_key_pair": "sigstack.keys",
    "sign_blob": "sigstack.sign",
    "verify_blob": "sigstack.verify",
}

__all__ = [
    "Signer",
    "SigstackError",
    "Verifier",
    "__version__",
    "generate_key_pair",
    "import_key_pair",
    "load_signer",
    "load_verifier",
    "sign_blob",
    "verify_blob",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from sigstack.errors import SigstackError
    from sigstack.keys import (
        Signer,
        Verifier,
        generate_key_pair,
        import_key_pair,
        load_signer,
        load_verifier,
    )
    from sigstack.sign import sign_blob
    from sigstack.verify import verify_blob


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
