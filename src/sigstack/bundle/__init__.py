"""Sigstore bundles (v0.1-v0.3 JSON, cosign's legacy forms) and trusted roots: wire models
with strict parsing. Importing this package loads no HTTP code (a test checks it); names
are re-exported lazily (PEP 562) so that the bundle model does not load the trusted-root
code and its cryptography imports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BUNDLE_V03": "sigstack.bundle.models",
    "Bundle": "sigstack.bundle.models",
    "MessageSignature": "sigstack.bundle.models",
    "parse_rekor_bundle": "sigstack.bundle.models",
    "public_key_hint": "sigstack.bundle.models",
    "rekor_bundle": "sigstack.bundle.models",
    "TrustedLog": "sigstack.bundle.trustroot",
    "parse_trusted_root": "sigstack.bundle.trustroot",
    "trusted_root_for_log": "sigstack.bundle.trustroot",
}
__all__ = [
    "BUNDLE_V03",
    "Bundle",
    "MessageSignature",
    "TrustedLog",
    "parse_rekor_bundle",
    "parse_trusted_root",
    "public_key_hint",
    "rekor_bundle",
    "trusted_root_for_log",
]

if TYPE_CHECKING:  # pragma: no cover
    from sigstack.bundle.models import (
        BUNDLE_V03,
        Bundle,
        MessageSignature,
        parse_rekor_bundle,
        public_key_hint,
        rekor_bundle,
    )
    from sigstack.bundle.trustroot import TrustedLog, parse_trusted_root, trusted_root_for_log


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack.bundle' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
