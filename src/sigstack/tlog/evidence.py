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

from sigstack.errors import ProofError
from sigstack.keys.base import Verifier
from sigstack.keys.pem import pem_type
from sigstack.tlog.checkpoint import log_id, public_key_der
from sigstack.tlog.entry import TlogEntry, verify_entry


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


def _logged_key(pem: bytes) -> PublicKeyTypes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        if pem_type(pem) == "CERTIFICATE":
            return x509.load_pem_x509_certificate(pem).public_key()
        return serialization.load_pem_public_key(pem)
    except ValueError:
        raise ProofError("the log entry's public key cannot be parsed") from None


def check_envelope_entry(entry: TlogEntry, envelope_json: bytes | None, payload: bytes,
                         signature_b64: str, key: PublicKeyTypes) -> None:
    """The entry is a ``dsse`` 0.0.1 or ``intoto`` 0.0.1/0.0.2 entry for exactly this DSSE envelope
    (one signature) and key. ``envelope_json``: the envelope bytes as stored, whose SHA-256
    the entry records (cosign compares it for ``.att`` layers); None for bundles, where the
    uploader's serialisation is not known and, as in sigstore-go, payload hash and
    signature decide."""
    import hashlib

    try:
        doc = json.loads(entry.body)
        spec = doc["spec"]
        kind = (doc["kind"], doc["apiVersion"])
        if kind == ("dsse", "0.0.1"):
            recorded = spec["envelopeHash"]
            payload_hash = spec["payloadHash"]
            sigs = [(s["signature"], base64.b64decode(s["verifier"])) for s in spec["signatures"]]
        elif kind == ("intoto", "0.0.2"):
            content = spec["content"]
            recorded = content["hash"]
            payload_hash = content["payloadHash"]
            sigs = [(base64.b64decode(s["sig"]).decode(), base64.b64decode(s["publicKey"]))
                    for s in content["envelope"]["signatures"]]
        elif kind == ("intoto", "0.0.1"):
            # No signatures recorded: the envelope's hash binds them, so the envelope
            # as stored is needed to match the entry at all.
            content = spec["content"]
            recorded = content["hash"]
            payload_hash = content["payloadHash"]
            sigs = [(signature_b64, base64.b64decode(spec["publicKey"]))]
            if envelope_json is None:
                raise ProofError("an intoto 0.0.1 entry records no signature; without the envelope "
                                 "it hashed it cannot be matched")
        else:
            raise ProofError(f"the log entry is a {kind[0]} {kind[1]} entry, not dsse 0.0.1 or intoto")
    except (ValueError, KeyError, TypeError):
        raise ProofError("the log entry is not a well-formed DSSE entry") from None
    if payload_hash != {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}:
        raise ProofError("the log entry is for a different attestation payload")
    if envelope_json is not None and recorded != {"algorithm": "sha256",
                                                  "value": hashlib.sha256(envelope_json).hexdigest()}:
        raise ProofError("the log entry is for a different envelope")
    if len(sigs) != 1 or sigs[0][0] != signature_b64:
        raise ProofError("the log entry is for a different signature")
    if public_key_der(_logged_key(sigs[0][1])) != public_key_der(key):
        raise ProofError("the log entry was made with a different public key")


def verify_log_evidence(entry: TlogEntry, logs: Sequence[Verifier], *, set_only: bool) -> None:
    """The log is trusted and its SET (and, unless ``set_only``, the inclusion proof and
    signed checkpoint) verify offline."""
    log_key = find_log(entry, logs)
    if set_only:
        from sigstack.tlog.checkpoint import verify_set

        if not entry.signed_entry_timestamp:
            raise ProofError("the bundle carries no signed entry timestamp")
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   log_key)
    else:
        verify_entry(entry, log_key)


def trusted_log_keys(trusted_root: str | None, rekor_public_key: str | None = None) -> list[Verifier]:
    """The trusted log keys, as cosign finds them: the ``tlogs`` of the trusted root file, else
    the PEM file ``rekor_public_key`` (cosign's ``$SIGSTORE_REKOR_PUBLIC_KEY``). There is no
    built-in default."""
    from pathlib import Path

    from sigstack.errors import SigstackError

    if trusted_root:
        from sigstack.bundle.trustroot import parse_trusted_root

        try:
            data = Path(trusted_root).read_bytes()
        except OSError as exc:
            raise SigstackError(f"reading trusted root {trusted_root}: {exc.strerror or exc}") from None
        return [t.verifier for t in parse_trusted_root(data)]
    if rekor_public_key:
        from sigstack.tlog.client import log_verifier

        return [log_verifier(rekor_public_key)]
    from sigstack.errors import NoTrustedLogError

    raise NoTrustedLogError()


def verify_hashedrekord_evidence(entry: TlogEntry, logs: Sequence[Verifier], signature: bytes,
                                 digest: bytes, algorithm: str, key: PublicKeyTypes,
                                 *, set_only: bool = False) -> None:
    """Everything a verifier checks offline: the log is trusted, its SET (and, unless
    ``set_only`` for cosign's legacy bundles, inclusion proof and signed checkpoint)
    verify, and the entry matches the signature."""
    verify_log_evidence(entry, logs, set_only=set_only)
    check_hashedrekord(entry, signature, digest, algorithm, key)
