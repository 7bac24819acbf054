"""``intoto`` 0.0.2: a DSSE envelope with per-signature public keys.

Quirk kept from Rekor: ``payload`` and each ``sig`` are base64 *of the DSSE base64
text* (the schema types them as bytes). The stored entry drops the payload, keeps
payloadType, the signatures as submitted and the client's envelope ``hash``, and
adds the payload's SHA-256 computed here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sigstack.tlog.checkpoint import canonical_json
from sigstack.tlog.entries import Canonical
from sigstack.tlog.entries._common import (
    b64,
    bad,
    dsse_b64,
    field,
    parse_verifier,
    statement_digests,
    string,
    verify_envelope,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")


def canonicalize(spec: dict[str, Any]) -> Canonical:
    content = field(spec, "content")
    env = field(content, "envelope")
    payload_type = string(env, "payloadType")
    payload_text = b64(string(env, "payload"), "content.envelope.payload").decode("ascii", "replace")
    payload = dsse_b64(payload_text, "the envelope payload")
    sigs = field(env, "signatures")
    if not isinstance(sigs, list) or not sigs:
        raise bad("content.envelope.signatures must be a non-empty list")
    kept = []
    texts = []
    verifiers = []
    for s in sigs:
        if not isinstance(s, dict):
            raise bad("each envelope signature must be an object")
        sig_b64 = string(s, "sig")
        key_b64 = string(s, "publicKey")
        texts.append(b64(sig_b64, "signature sig").decode("ascii", "replace"))
        verifiers.append(parse_verifier(b64(key_b64, "signature publicKey")))
        item: dict[str, Any] = {"sig": sig_b64, "publicKey": key_b64}
        if "keyid" in s:
            if not isinstance(s["keyid"], str):
                raise bad("keyid must be a string")
            item["keyid"] = s["keyid"]
        kept.append(item)
    verify_envelope(payload_type, payload, texts, verifiers)
    algorithm = string(content, "hash", "algorithm")
    value = string(content, "hash", "value")
    if algorithm != "sha256" or not _HEX64.fullmatch(value):
        raise bad("content.hash must be a sha256 digest in lowercase hex")
    payload_hash = hashlib.sha256(payload).hexdigest()
    body = {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {"payloadType": payload_type, "signatures": kept},
            "hash": {"algorithm": "sha256", "value": value},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
        }},
    }
    index = [f"sha256:{value}", f"sha256:{payload_hash}", *statement_digests(payload_type, payload)]
    for v in verifiers:
        index += v.index_keys()
    return Canonical(canonical_json(body), tuple(index))
