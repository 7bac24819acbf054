"""Verification: check signatures and, later, log evidence and identity policies.

Names are re-exported lazily (PEP 562): ``sigstack.verify.image`` is a sub-module
of this package, and importing it should not import the blob verifier too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LogPolicy", "decode_signature", "verify_blob", "verify_blob_evidence"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from sigstack.verify.blob import LogPolicy, decode_signature, verify_blob, verify_blob_evidence


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'sigstack.verify' has no attribute {name!r}")
    from sigstack.verify import blob

    return getattr(blob, name)
