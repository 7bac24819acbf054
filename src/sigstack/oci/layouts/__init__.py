"""cosign's storage layouts behind one interface (see :mod:`.base`).

One module per layout: :mod:`.legacy` (``.sig``/``.att``/``.sbom`` tags), :mod:`.oci11`
(the ``.sig``-style image as an OCI 1.1 referrer), :mod:`.bundle` (Sigstore bundle
referrers); :mod:`.referrers` is the referrers API and fallback-index plumbing they
share. A new layout is a new module with a :class:`~.base.Layout` and a line in
:data:`LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sigstack.oci.layouts.base import (
    Layout,
    Record,
    SignedEntity,
    StoredBundle,
    fetch_all,
    fetch_valid,
    layer_records,
    target_repository,
)
from sigstack.oci.layouts.bundle import BUNDLES, BundleReferrers
from sigstack.oci.layouts.legacy import LEGACY, LegacyTags
from sigstack.oci.layouts.oci11 import OCI11, Oci11Referrers

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (LEGACY, OCI11, BUNDLES)}


def signatures(entity: SignedEntity, layouts: Iterable[str]) -> list[Record]:
    """The signatures the named layouts hold for ``entity``, layout by layout."""
    return [record for name in layouts for record in LAYOUTS[name].signatures(entity)]


__all__ = [
    "BUNDLES", "LAYOUTS", "LEGACY", "OCI11", "BundleReferrers", "Layout", "LegacyTags", "Oci11Referrers",
    "Record", "SignedEntity", "StoredBundle", "fetch_all", "fetch_valid", "layer_records", "signatures",
    "target_repository",
]
