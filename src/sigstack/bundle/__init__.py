"""Sigstore bundles (v0.1-v0.3 JSON), cosign's legacy ``--bundle`` file, and trusted roots.

Hand-written, strict wire models instead of ``sigstore-protobuf-specs``/``sigstore-models``:
we need only the message-signature bundle, cosign's legacy form (which no protobuf
package models) and the ``tlogs`` of a trusted root, and want every unknown or
missing field to be an error at the edge; the proto packages would add a large
dependency (betterproto / pydantic) for three small documents.
"""

from sigstack.bundle.models import (
    BUNDLE_V03,
    BlobBundle,
    build_bundle,
    parse_bundle,
    parse_rekor_bundle,
    rekor_bundle,
)
from sigstack.bundle.trustroot import TrustedLog, parse_trusted_root, trusted_root_for_log

__all__ = [
    "BUNDLE_V03",
    "BlobBundle",
    "TrustedLog",
    "build_bundle",
    "parse_bundle",
    "parse_rekor_bundle",
    "parse_trusted_root",
    "rekor_bundle",
    "trusted_root_for_log",
]
