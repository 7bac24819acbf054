"""``dsse`` 0.0.1: a DSSE envelope and the keys or certificates that signed it.

The envelope itself is not stored: the entry keeps its SHA-256 (over the envelope
string exactly as submitted), the payload's SHA-256, and each signature with the
canonical PEM of the key that verified it, sorted by signature.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sigstack.tlog.checkpoint import canonical_json
from sigstack.tlog.entries import Canonical
from sigstack.tlog.entries._common import (
    b64,
    bad,
    field,
    parse_envelope,
    parse_verifier,
    statement_digests,
    string,
    verify_envelope,
)


def canonicalize(spec: dict[str, Any]) -> Canonical:
    if any(spec.get(k) for k in ("envelopeHash", "payloadHash", "signatures")):  # null / [] = absent
        raise bad("either proposedContent or envelopeHash, payloadHash, and signatures must be present "
                  "but not both")
    envelope_text = string(spec, "proposedContent", "envelope")
    keys = field(spec, "proposedContent", "verifiers")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise bad("proposedContent.verifiers must be a non-empty list of base64 strings")
    payload_type, payload, sigs = parse_envelope(envelope_text, "proposedContent.envelope")
    verifiers = [parse_verifier(b64(k, "a verifier")) for k in keys]
    accepted = verify_envelope(payload_type, payload, sigs, verifiers)
    payload_hash = hashlib.sha256(payload).hexdigest()
    body = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256",
                             "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            "signatures": [
                {"signature": sig, "verifier": base64.b64encode(accepted[sig].canonical_pem).decode()}
                for sig in sorted(accepted)
            ],
        },
    }
    index = [f"sha256:{payload_hash}", *statement_digests(payload_type, payload)]
    for v in accepted.values():
        index += v.index_keys()
    return Canonical(canonical_json(body), tuple(index))
