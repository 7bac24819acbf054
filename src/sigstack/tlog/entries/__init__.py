"""Rekor v1 entry kinds: validate a proposed entry and produce its canonical body.

Each kind module exposes ``canonicalize(spec, api_version) -> Canonical``. The body
is the Merkle leaf, so equal proposals give equal leaves and the store dedups on
the leaf hash.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigstack.errors import BadEntryError

KINDS: dict[str, dict[str, str]] = {
    "hashedrekord": {"0.0.1": "sigstack.tlog.entries.hashedrekord"},
    "dsse": {"0.0.1": "sigstack.tlog.entries.dsse"},
    "intoto": {"0.0.1": "sigstack.tlog.entries.intoto_v001", "0.0.2": "sigstack.tlog.entries.intoto"},
}


@dataclass(frozen=True)
class Canonical:
    body: bytes  # JCS bytes: the leaf
    index_keys: tuple[str, ...]  # what /api/v1/index/retrieve finds the entry by
    #: the signature check, when the caller asked to run it later (raises BadEntryError)
    check: Callable[[], None] | None = None


def canonicalize(proposed: Any, *, defer_check: bool = False) -> Canonical:
    """Validate a ProposedEntry JSON object and return its canonical form.

    With ``defer_check`` a kind may return its signature verification as
    ``Canonical.check`` instead of running it: the log's writer thread runs those for
    a whole batch, where OpenSSL works without holding the GIL, in parallel with the
    HTTP event loop. The entry is never stored unless the check passed."""
    if not isinstance(proposed, dict):
        raise BadEntryError("error processing entry: the entry must be a JSON object")
    kind = proposed.get("kind")
    version = proposed.get("apiVersion")
    spec = proposed.get("spec")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadEntryError(f"error processing entry: unsupported kind {str(kind)[:40]!r}")
    module = KINDS[kind].get(version) if isinstance(version, str) else None
    if module is None:
        raise BadEntryError(
            f"error processing entry: unsupported apiVersion {str(version)[:20]!r} for kind {kind}"
        )
    if not isinstance(spec, dict):
        raise BadEntryError("error processing entry: spec must be a JSON object")
    result: Canonical = importlib.import_module(module).canonicalize(spec)
    if result.check is not None and not defer_check:
        result.check()
        result = Canonical(result.body, result.index_keys)
    return result
