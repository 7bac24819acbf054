"""``intoto`` 0.0.1: a DSSE envelope (as a JSON string) and the one key that signed it.

What cosign v2 sends for ``attest --rekor-entry-type intoto``. As in Rekor, the
envelope must carry at least one signature that verifies with ``publicKey``
(go-securesystemslib's envelope verifier, threshold one). The stored entry keeps
neither the envelope nor its signatures: only the SHA-256 of the envelope string
exactly as submitted (which therefore binds the signatures), the SHA-256 of the
decoded payload, and the key's canonical PEM. Hashes sent by the client are
ignored and recomputed, as Rekor does.
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
    dsse_b64,
    pae,
    parse_envelope,
    parse_verifier,
    statement_digests,
    string,
    verify_message,
)


def canonicalize(spec: dict[str, Any]) -> Canonical:
    envelope_text = string(spec, "content", "envelope")
    verifier = parse_verifier(b64(string(spec, "publicKey"), "publicKey"))
    payload_type, payload, sigs = parse_envelope(envelope_text, "content.envelope")
    if not sigs:
        raise bad("envelope signatures must be a non-empty list of objects with a sig")
    message = pae(payload_type, payload)
    if not any(verify_message(verifier, dsse_b64(sig, "an envelope signature"), message) for sig in sigs):
        raise bad("verifying envelope: no signature verifies with the public key")
    envelope_hash = hashlib.sha256(envelope_text.encode()).hexdigest()
    payload_hash = hashlib.sha256(payload).hexdigest()
    body = {
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {
            "content": {
                "hash": {"algorithm": "sha256", "value": envelope_hash},
                "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            },
            "publicKey": base64.b64encode(verifier.canonical_pem).decode(),
        },
    }
    index = [f"sha256:{envelope_hash}", f"sha256:{payload_hash}", *statement_digests(payload_type, payload),
             *verifier.index_keys()]
    return Canonical(canonical_json(body), tuple(index))
