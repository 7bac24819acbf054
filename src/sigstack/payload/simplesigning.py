"""The cosign simple-signing payload (``cosign container image signature``).

Bytes are ``encoding/json`` of sigstore's ``payload.Cosign`` (spec §2.4); verifiers
parse the bytes they checked the signature over and never re-serialise them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigstack._internal import safejson
from sigstack.errors import VerificationError
from sigstack.payload import gojson

COSIGN_TYPE = "cosign container image signature"


def make(docker_reference: str, digest: str, annotations: Mapping[str, str] | None = None) -> bytes:
    optional = dict(sorted(annotations.items())) if annotations else None
    return gojson.dumps({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": COSIGN_TYPE,
        },
        "optional": optional,
    })


@dataclass(frozen=True)
class SimpleSigning:
    docker_reference: str
    digest: str
    optional: Mapping[str, Any] | None
    raw: bytes


def parse(data: bytes) -> SimpleSigning:
    try:
        obj = safejson.loads(data)
        critical = obj["critical"]
        kind = critical["type"]
        digest = critical["image"]["docker-manifest-digest"]
        ref = critical["identity"]["docker-reference"]
        optional = obj.get("optional")
    except (ValueError, KeyError, TypeError):
        raise VerificationError("the signature payload is not a cosign simple-signing payload") from None
    if kind != COSIGN_TYPE:
        raise VerificationError(f'Cosign signature payload was of an unknown type: "{kind}"')
    if optional is not None and not isinstance(optional, dict):
        raise VerificationError("the signature payload's optional field is not an object")
    return SimpleSigning(str(ref), str(digest), optional, data)


def parse_annotations(items: list[str] | None) -> dict[str, str]:
    """``-a k=v`` values; each may hold several comma-separated pairs (cobra StringSlice)."""
    import csv

    out: dict[str, str] = {}
    for item in items or []:
        for part in next(csv.reader([item])) if item else []:
            key, sep, value = part.partition("=")
            if not sep:
                from sigstack.errors import SigstackError

                raise SigstackError(f"unable to parse annotation: {part}")
            out[key] = value
    return out
