"""Checking that a log entry really is evidence for a given blob signature.

Log evidence only helps if the entry is about *this* signature: after the proofs
verify against a trusted log key, the entry's canonical body must name the same
digest, signature and key. Without that check any valid entry could be pasted
into a bundle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.keys.base import Verifier
from sigstack.keys.pem import pem_type
from sigstack.tlog.checkpoint import log_id, public_key_der
from sigstack.tlog.client import TlogEntry, verify_entry
from sigstack.tlog.errors import ProofError


def find_log(entry: TlogEntry, logs: Sequence[Verifier]) -> Verifier:
    for v in logs:
        if log_id(v.public_key()) == entry.log_id:
            return v
    raise ProofError("the entry was logged by a transparency log that is not trusted")


def check_hashedrekord(entry: TlogEntry, signature: bytes, digest: bytes, algorithm: str,
                       key: PublicKeyTypes) -> None:
    """The entry is a hashedrekord for exactly this signature, digest and key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        doc = json.loads(entry.body)
        spec = doc["spec"]
        kind = (doc["kind"], doc["apiVersion"])
        data_hash = spec["data"]["hash"]
        logged_sig = base64.b64decode(spec["signature"]["content"])
        logged_pem = base64.b64decode(spec["signature"]["publicKey"]["content"])
    except (ValueError, KeyError, TypeError):
        raise ProofError("the log entry is not a well-formed hashedrekord entry") from None
    if kind != ("hashedrekord", "0.0.1"):
        raise ProofError(f"the log entry is a {kind[0]} {kind[1]} entry, not hashedrekord 0.0.1")
    if data_hash.get("algorithm") != algorithm or data_hash.get("value") != digest.hex():
        raise ProofError("the log entry is for a different artifact digest")
    if logged_sig != signature:
        raise ProofError("the log entry is for a different signature")
    try:
        if pem_type(logged_pem) == "CERTIFICATE":
            logged_key: PublicKeyTypes = x509.load_pem_x509_certificate(logged_pem).public_key()
        else:
            logged_key = serialization.load_pem_public_key(logged_pem)
    except ValueError:
        raise ProofError("the log entry's public key cannot be parsed") from None
    if public_key_der(logged_key) != public_key_der(key):
        raise ProofError("the log entry was made with a different public key")


def verify_hashedrekord_evidence(entry: TlogEntry, logs: Sequence[Verifier], signature: bytes,
                                 digest: bytes, algorithm: str, key: PublicKeyTypes,
                                 *, set_only: bool = False) -> None:
    """Everything a verifier checks offline: the log is trusted, its SET (and, unless
    ``set_only`` for cosign's legacy bundles, inclusion proof and signed checkpoint)
    verify, and the entry matches the signature."""
    log_key = find_log(entry, logs)
    if set_only:
        from sigstack.tlog.checkpoint import verify_set

        if not entry.signed_entry_timestamp:
            raise ProofError("the bundle carries no signed entry timestamp")
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   log_key)
    else:
        verify_entry(entry, log_key)
    check_hashedrekord(entry, signature, digest, algorithm, key)
