"""Verification: signatures, log evidence and identities (keyless), through one pipeline
(:class:`sigstack.verify.verifier.Verifier`).

Names are re-exported lazily (PEP 562): ``sigstack.verify.image`` is a sub-module
of this package, and importing it should not import the blob verifier too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Keyless": "sigstack.verify.keyless",
    "LogPolicy": "sigstack.verify.evidence",
    "Verifier": "sigstack.verify.verifier",
    "decode_signature": "sigstack.verify.blob",
    "verify_blob": "sigstack.verify.blob",
    "verify_blob_evidence": "sigstack.verify.blob",
}
__all__ = [
    "Keyless",
    "LogPolicy",
    "Verifier",
    "decode_signature",
    "verify_blob",
    "verify_blob_evidence",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from sigstack.verify.blob import decode_signature, verify_blob, verify_blob_evidence
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.keyless import Keyless
    from sigstack.verify.verifier import Verifier


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack.verify' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
