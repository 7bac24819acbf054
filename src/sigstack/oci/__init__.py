"""OCI registries: references, the registry client, and cosign's storage layouts.

Public names are loaded lazily so that importing a light module such as
:mod:`sigstack.oci.reference` does not pull in httpx.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RegistryClient": "sigstack.oci.client",
    "RegistryOptions": "sigstack.oci.client",
    "Descriptor": "sigstack.oci.client",
    "Manifest": "sigstack.oci.client",
    "Reference": "sigstack.oci.reference",
    "Repository": "sigstack.oci.reference",
    "parse_reference": "sigstack.oci.reference",
    "parse_repository": "sigstack.oci.reference",
    "RegistryError": "sigstack.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack.oci' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
