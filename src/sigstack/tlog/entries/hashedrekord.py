"""``hashedrekord`` 0.0.1: a signature over an artifact digest, with the key or certificate."""

from __future__ import annotations

import base64
import re
from functools import partial
from typing import Any

from sigstack.tlog.checkpoint import canonical_json
from sigstack.tlog.entries import Canonical
from sigstack.tlog.entries._common import HASHES, b64, bad, parse_verifier, string, verify_digest

_HEX = re.compile(r"[0-9a-f]+")


def canonicalize(spec: dict[str, Any]) -> Canonical:
    algorithm = string(spec, "data", "hash", "algorithm")
    value = string(spec, "data", "hash", "value")
    if algorithm not in HASHES:
        raise bad(f"unsupported hash algorithm {algorithm[:20]!r}; want sha256, sha384 or sha512")
    if not _HEX.fullmatch(value) or len(value) != 2 * HASHES[algorithm][1]:
        raise bad(f"data.hash.value must be {HASHES[algorithm][1]} bytes of lowercase hex")
    signature = b64(string(spec, "signature", "content"), "signature.content")
    pem = b64(string(spec, "signature", "publicKey", "content"), "signature.publicKey.content")
    verifier = parse_verifier(pem)
    body = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": value}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(verifier.canonical_pem).decode()},
            },
        },
    }
    check = partial(verify_digest, verifier, signature, bytes.fromhex(value), algorithm)
    return Canonical(canonical_json(body), (f"{algorithm}:{value}", *verifier.index_keys()), check)
