"""Signing flows: what gets signed, by which signer, and where the result goes.

Names are re-exported lazily (PEP 562): ``sigstack.sign.image`` is a sub-module of
this package, and importing it should not import the blob signer too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LoggedBlob", "SignedBlob", "sign_blob", "sign_blob_loading_key", "sign_blob_to_log"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from sigstack.sign.blob import LoggedBlob, SignedBlob, sign_blob, sign_blob_loading_key, sign_blob_to_log


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'sigstack.sign' has no attribute {name!r}")
    from sigstack.sign import blob

    return getattr(blob, name)
