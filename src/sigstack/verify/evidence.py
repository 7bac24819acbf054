"""Transparency log evidence: the one module that decides whether a log entry proves that
a signature was logged, for blobs, image signatures and attestations alike.

Log evidence only helps if the entry is about *this* signature: after the proofs
verify against a trusted log key, the entry's canonical body must name the same
digest (or envelope), signature and key. Without that check any valid entry could be
pasted next to any signature.

Every flow goes through the same steps, configured by one :class:`LogPolicy`:

1. **Find the entry**: the evidence stored with the signature (a bundle's
   ``tlogEntries``, a layer's ``dev.sigstore.cosign/bundle`` annotation), else look the
   signature up with the policy's log client, as cosign does.
2. **Trusted log**: the entry's log ID names one of the policy's trusted log keys.
3. **Proofs**: the SET verifies; unless the evidence is SET-only (cosign's annotation
   and legacy bundle file), so do the inclusion proof and the signed checkpoint.
4. **Binding**: the entry body is a hashedrekord for this digest, signature and key, or
   a dsse/intoto entry for this envelope, signature and key.

Failures are :class:`~sigstack.errors.ProofError` (and its relatives) whose message
says which step failed. Legacy image layers report in cosign's words (its
``VerifyBundle`` messages), because scripts match on them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigstack._internal import safejson
from sigstack.errors import (
    BundleError,
    LogClientError,
    MissingEvidenceError,
    NotInLogError,
    NoTrustedLogError,
    ProofError,
    SigstackError,
    VerificationError,
)
from sigstack.keys.base import Verifier
from sigstack.tlog.entry import TlogEntry

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.bundle.models import Bundle
    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.payload.dsse import Envelope
    from sigstack.tlog.client import RekorClient


def warn(message: str) -> None:
    """Log a warning on the ``sigstack`` logger (a library's warnings reach a handler its
    application installs; the CLI prints its own, cosign-worded one; without any, a
    NullHandler keeps Python's last-resort handler from printing them). ``logging`` is
    imported only then: with traceback, string and weakref it is ~5 ms of every verify
    command's start-up."""
    import logging

    logger = logging.getLogger("sigstack")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.warning(message)


BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"


@dataclass(frozen=True)
class LogPolicy:
    """How verification treats the transparency log.

    ``trusted_logs`` are the log keys evidence must be signed by. ``client`` is the log
    a signature without stored evidence is looked up in (None: such a signature fails).
    ``insecure_ignore_tlog`` skips every log check; it is never a default, and choosing
    it logs a warning (cosign prints one too).
    """

    trusted_logs: Sequence[Verifier] = ()
    client: RekorClient | None = None
    insecure_ignore_tlog: bool = False

    def __post_init__(self) -> None:
        if self.insecure_ignore_tlog:
            warn("transparency log checks are disabled (insecure_ignore_tlog)")

    @property
    def checked(self) -> bool:
        return not self.insecure_ignore_tlog

    def require_logs(self) -> None:
        """Fail early, before any work, when the log must be checked but no key is trusted."""
        if self.checked and not self.trusted_logs:
            raise NoTrustedLogError()


def trusted_log_keys(trusted_root: str | None, rekor_public_key: str | None = None) -> list[Verifier]:
    """The trusted log keys, as cosign finds them: the ``tlogs`` of the trusted root file, else
    the PEM file ``rekor_public_key`` (cosign's ``$SIGSTORE_REKOR_PUBLIC_KEY``). There is no
    built-in default."""
    from pathlib import Path

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
    raise NoTrustedLogError()


# ---- steps 2 and 3: a trusted log, and its proofs ------------------------------------------

def find_log(entry: TlogEntry, logs: Sequence[Verifier]) -> Verifier:
    from sigstack.tlog.checkpoint import log_id

    for v in logs:
        if log_id(v.public_key()) == entry.log_id:
            return v
    raise ProofError("the entry was logged by a transparency log that is not trusted")


def verify_proofs(entry: TlogEntry, logs: Sequence[Verifier], *, set_only: bool) -> Verifier:
    """Steps 2-3: the log is trusted and its SET (and, unless ``set_only``, the inclusion
    proof and signed checkpoint) verify offline. Returns the log's key."""
    log_key = find_log(entry, logs)
    if set_only:
        from sigstack.tlog.checkpoint import verify_set

        if not entry.signed_entry_timestamp:
            raise ProofError("the bundle carries no signed entry timestamp")
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   log_key)
    else:
        from sigstack.tlog.entry import verify_entry

        verify_entry(entry, log_key)
    return log_key


# ---- step 4: the entry is about this signature ---------------------------------------------

def _logged_key(pem: bytes) -> PublicKeyTypes:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from sigstack.keys.pem import pem_type

    try:
        if pem_type(pem) == "CERTIFICATE":
            return x509.load_pem_x509_certificate(pem).public_key()
        return serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        raise ProofError("the log entry's public key cannot be parsed") from None


def _same_key(a: PublicKeyTypes, b: PublicKeyTypes) -> bool:
    from sigstack.tlog.checkpoint import public_key_der

    return public_key_der(a) == public_key_der(b)


def _check_logged_signer(pem: bytes, key: PublicKeyTypes, certificate: bytes | None) -> None:
    """The entry's public key (or certificate) is ``key``; for a keyless signature
    (``certificate``, DER) it is that very certificate, as sigstore-python compares it."""
    if certificate is not None:  # the same certificate: the same key (and nothing to parse)
        from sigstack.errors import KeyLoadError
        from sigstack.keys.pem import pem_body

        try:
            logged = pem_body(pem, "CERTIFICATE")
        except KeyLoadError:
            logged = None
        if logged == certificate:
            return
        if logged is None and not _same_key(_logged_key(pem), key):
            raise ProofError("the log entry was made with a different public key")
        raise ProofError("the log entry was made with a different certificate")
    if not _same_key(_logged_key(pem), key):
        raise ProofError("the log entry was made with a different public key")


def check_hashedrekord(entry: TlogEntry, signature: bytes, digest: bytes, algorithm: str,
                       key: PublicKeyTypes, certificate: bytes | None = None) -> None:
    """The entry is a hashedrekord for exactly this signature, digest and key."""
    try:
        doc = safejson.loads(entry.body)
        spec = doc["spec"]
        kind = (doc["kind"], doc["apiVersion"])
        data_hash = spec["data"]["hash"]
        logged_sig = base64.b64decode(spec["signature"]["content"], validate=True)
        logged_pem = base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise ProofError("the log entry is not a well-formed hashedrekord entry") from None
    if kind != ("hashedrekord", "0.0.1"):
        raise ProofError(f"the log entry is a {kind[0]} {kind[1]} entry, not hashedrekord 0.0.1")
    if data_hash.get("algorithm") != algorithm or data_hash.get("value") != digest.hex():
        raise ProofError("the log entry is for a different artifact digest")
    if logged_sig != signature:
        raise ProofError("the log entry is for a different signature")
    _check_logged_signer(logged_pem, key, certificate)


def check_envelope_entry(entry: TlogEntry, envelope_json: bytes | None, payload: bytes,
                         signature_b64: str, key: PublicKeyTypes, certificate: bytes | None = None) -> None:
    """The entry is a ``dsse`` 0.0.1 or ``intoto`` 0.0.1/0.0.2 entry for exactly this DSSE envelope
    (one signature) and key. ``envelope_json``: the envelope bytes as stored, whose SHA-256
    the entry records (cosign compares it for ``.att`` layers); None for bundles, where the
    uploader's serialisation is not known and, as in sigstore-go, payload hash and
    signature decide."""
    try:
        doc = safejson.loads(entry.body)
        spec = doc["spec"]
        kind = (doc["kind"], doc["apiVersion"])
        if kind == ("dsse", "0.0.1"):
            recorded = spec["envelopeHash"]
            payload_hash = spec["payloadHash"]
            sigs = [(s["signature"], base64.b64decode(s["verifier"], validate=True)) for s in spec["signatures"]]
        elif kind == ("intoto", "0.0.2"):
            content = spec["content"]
            recorded = content["hash"]
            payload_hash = content["payloadHash"]
            # the logged sig is base64 of the base64 signature; anything else is another signature
            sigs = [(base64.b64decode(s["sig"], validate=True).decode(errors="replace"),
                     base64.b64decode(s["publicKey"], validate=True))
                    for s in content["envelope"]["signatures"]]
        elif kind == ("intoto", "0.0.1"):
            # No signatures recorded: the envelope's hash binds them, so the envelope
            # as stored is needed to match the entry at all.
            content = spec["content"]
            recorded = content["hash"]
            payload_hash = content["payloadHash"]
            sigs = [(signature_b64, base64.b64decode(spec["publicKey"], validate=True))]
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
    _check_logged_signer(sigs[0][1], key, certificate)


# ---- keyless: the trusted root's logs, found by logId.keyId (Rekor v1 and v2) ---------------

def verify_root_proofs(root: TrustedRoot, entry: TlogEntry, *, set_only: bool) -> None:
    """Steps 2-3 against a trusted root: the log is the root's log whose ``logId.keyId``
    the entry names (Rekor v2 IDs are not hashes of the key), valid at the SET's
    integrated time; its SET (Rekor v1) verifies; unless ``set_only``, the inclusion
    proof verifies against the root hash of a checkpoint signed by that log (its
    signature line found by the key ID's first 4 bytes, witness lines ignored)."""
    from datetime import UTC, datetime

    from sigstack.tlog import merkle
    from sigstack.tlog.checkpoint import verify_set
    from sigstack.tlog.rekor_v2 import verify_log_checkpoint

    log = root.tlog(entry.log_id)
    if log is None:
        raise ProofError("the entry was logged by a transparency log that is not in the trusted root")
    if entry.signed_entry_timestamp:
        when = datetime.fromtimestamp(entry.integrated_time, UTC)
        if root.tlog(entry.log_id, when) is None:
            raise ProofError("the transparency log's key was not valid at the entry's integrated time")
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   log.verifier())
    elif set_only:
        raise ProofError("the bundle carries no signed entry timestamp")
    if set_only:
        return
    proof = entry.inclusion_proof
    if proof is None or not proof.checkpoint:
        raise ProofError("the entry has no inclusion proof with a checkpoint")
    checkpoint = verify_log_checkpoint(proof.checkpoint, log)
    merkle.verify_inclusion(proof.log_index, proof.tree_size, merkle.leaf_hash(entry.body), proof.hashes,
                            checkpoint.root_hash)


def keyless_blob_evidence(root: TrustedRoot, bundle: Bundle | None, entry: TlogEntry | None, *,
                          key: PublicKeyTypes, certificate: bytes, signature: bytes,
                          digest: tuple[str, bytes] | None = None, envelope: Envelope | None = None,
                          stored: bytes | None = None) -> TlogEntry:
    """A keyless signature's entry, verified offline against ``root`` and bound to this
    signature, certificate, and digest (``(algorithm, digest)`` of the artifact) or DSSE
    ``envelope`` (``stored``: its bytes as given, which an entry found by search records):
    hashedrekord 0.0.1 / dsse 0.0.1 / intoto (Rekor v1), hashedrekord 0.0.2 (Rekor v2;
    for an envelope its digest is the PAE's) or dsse 0.0.2."""
    import hashlib

    from sigstack.tlog.rekor_v2 import verify_dsse_v002, verify_hashedrekord_v002

    if entry is None:
        raise MissingEvidenceError("the bundle has no transparency log entry", hint="insecure_ignore_tlog_skip")
    verify_root_proofs(root, entry, set_only=bundle is not None and bundle.legacy)
    kind = entry.kind_version
    if envelope is not None:
        if len(envelope.signatures) != 1:
            raise VerificationError("a logged envelope must have exactly one signature")
        if kind == ("hashedrekord", "0.0.2"):
            from sigstack.payload.dsse import pae

            pae_digest = hashlib.sha256(pae(envelope.payload_type, envelope.payload)).digest()
            verify_hashedrekord_v002(entry.body, digest=pae_digest, signature=signature, certificate_der=certificate)
        elif kind == ("dsse", "0.0.2"):
            verify_dsse_v002(entry.body, payload=envelope.payload, signature=signature, certificate_der=certificate)
        else:
            check_envelope_entry(entry, stored, envelope.payload, base64.b64encode(signature).decode(), key,
                                 certificate)
        return entry
    assert digest is not None, "a message signature's entry is matched by the artifact's digest"
    if kind == ("hashedrekord", "0.0.2"):
        verify_hashedrekord_v002(entry.body, digest=digest[1], signature=signature, certificate_der=certificate)
    else:
        check_hashedrekord(entry, signature, digest[1], digest[0], key, certificate)
    return entry


def keyless_layer_evidence(root: TrustedRoot, annotations: Any, *, key: Verifier, certificate: bytes,
                           signature: bytes, payload: bytes, envelope: Envelope | None = None,
                           stored: bytes | None = None) -> TlogEntry:
    """A keyless legacy layer's SET-form evidence (its ``dev.sigstore.cosign/bundle``
    annotation), verified against ``root`` and bound to this signature, the payload's
    digest (or the ``.att`` envelope as ``stored``) and the very certificate."""
    found = layer_rekor_bundle(annotations)
    if found is None:
        raise MissingEvidenceError(f"the signature has no transparency log evidence (no {BUNDLE_ANNOTATION} "
                                   "annotation)", hint="insecure_ignore_tlog_accept")
    entry = found[0]
    verify_root_proofs(root, entry, set_only=True)
    if envelope is not None:
        check_envelope_entry(entry, stored, envelope.payload, base64.b64encode(signature).decode(),
                             key.public_key(), certificate)
    else:
        check_hashedrekord(entry, signature, hashlib.new(key.hash_name, payload).digest(), key.hash_name,
                           key.public_key(), certificate)
    return entry


# ---- step 1: finding the entry -------------------------------------------------------------

def lookup_hashedrekord(policy: LogPolicy, signature: bytes, digest: bytes, key: Verifier) -> TlogEntry:
    """The entry the log holds for this signature over ``digest`` (cosign's search)."""
    return lookup_hashedrekord_pem(policy, signature, digest, key.hash_name, key.public_key_pem())


def lookup_hashedrekord_pem(policy: LogPolicy, signature: bytes, digest: bytes, algorithm: str,
                            pem: bytes) -> TlogEntry:
    """The entry the log holds for this signature over ``digest`` made by the key or
    certificate ``pem`` (cosign's search by proposed entry)."""
    from sigstack.tlog.client import hashedrekord

    if policy.client is None:
        raise MissingEvidenceError("no bundle and no log to look the signature up in")
    found = policy.client.retrieve(hashedrekord(signature, digest, algorithm, pem))
    if found is None:
        raise NotInLogError("signature not found in transparency log")
    return found


def lookup_envelope(policy: LogPolicy, envelope_json: bytes, key: Verifier) -> TlogEntry:
    """The entry for an envelope that carries no evidence, found as cosign finds it: the
    ``dsse`` entry this envelope and key would make, else the ``intoto`` 0.0.1 one."""

    return lookup_envelope_pem(policy, envelope_json, key.public_key_pem())


def lookup_envelope_pem(policy: LogPolicy, envelope_json: bytes, pem: bytes) -> TlogEntry:
    """:func:`lookup_envelope` for the key or certificate ``pem`` (a keyless envelope's
    entry names the signing certificate as its verifier)."""
    from sigstack.tlog.client import dsse_proposal, intoto_proposal

    if policy.client is None:
        raise MissingEvidenceError("the attestation has no transparency log evidence (no "
                                   f"{BUNDLE_ANNOTATION} annotation)", hint="insecure_ignore_tlog_accept")
    try:
        for proposal in (dsse_proposal(envelope_json, pem), intoto_proposal(envelope_json, pem)):
            found = policy.client.retrieve(proposal)
            if found is not None:
                return found
    except LogClientError as exc:
        raise VerificationError(f"searching log query: {exc.message}", hint=exc.hint) from None
    raise NotInLogError("attestation not found in transparency log")


# ---- the flows -------------------------------------------------------------------------------

def blob_evidence(policy: LogPolicy, key: Verifier, signature: bytes, digest: bytes,
                  bundle: Bundle | None) -> TlogEntry:
    """A blob signature over ``digest``: the bundle's entry, else the one the log holds,
    verified offline (SET-only for cosign's legacy bundle file)."""
    if bundle is not None:
        entry = bundle.tlog_entry
        if entry is None:
            raise MissingEvidenceError("the bundle has no transparency log entry", hint="insecure_ignore_tlog_skip")
        set_only = bundle.legacy
    else:
        entry, set_only = lookup_hashedrekord(policy, signature, digest, key), False
    verify_proofs(entry, policy.trusted_logs, set_only=set_only)
    check_hashedrekord(entry, signature, digest, key.hash_name, key.public_key())
    return entry


def envelope_bundle_evidence(policy: LogPolicy, key: Verifier, bundle: Bundle) -> TlogEntry:
    """A DSSE bundle's log entry: fully verified offline and about this envelope and key."""
    entry = bundle.tlog_entry
    if entry is None:
        raise MissingEvidenceError("the bundle has no transparency log entry", hint="insecure_ignore_tlog_accept")
    verify_proofs(entry, policy.trusted_logs, set_only=False)
    env = bundle.envelope
    if len(env.signatures) != 1:
        raise VerificationError("a logged envelope must have exactly one signature")
    check_envelope_entry(entry, None, env.payload, base64.b64encode(env.signatures[0]).decode(),
                         key.public_key())
    return entry


def layer_rekor_bundle(annotations: dict[str, str] | Any) -> tuple[TlogEntry, Any] | None:
    """The SET-form evidence of a legacy layer (entry, JSON as stored), or None if absent."""
    text = annotations.get(BUNDLE_ANNOTATION)
    if text is None:
        return None
    from sigstack.bundle.models import parse_rekor_bundle

    try:
        doc = safejson.loads(text)
        return parse_rekor_bundle(doc), doc
    except ValueError:
        raise VerificationError(f"unmarshaling bundle: the {BUNDLE_ANNOTATION} annotation is not JSON"
                                ) from None
    except BundleError as exc:
        raise VerificationError(f"unmarshaling bundle: the {BUNDLE_ANNOTATION} annotation is invalid: "
                                f"{exc.message}") from None


_COSIGN_WORDS = {  # our finding -> what cosign's VerifyBundle says for it
    "the log entry is for a different signature": "signature in bundle does not match signature being verified",
    "the log entry was made with a different public key": "comparing public key PEMs",
    "the log entry is for a different artifact digest": "matching bundle to payload",
}


def _layer_set_evidence(annotations: Any, logs: Sequence[Verifier]) -> TlogEntry | None:
    """A layer's log entry after its SET verified with a trusted log key (None when the
    layer has no annotation). Failures use cosign's words."""
    from sigstack.tlog.checkpoint import verify_set

    found = layer_rekor_bundle(annotations)
    if found is None:
        return None
    entry = found[0]
    try:
        log_key = find_log(entry, logs)
    except ProofError:
        raise VerificationError("error verifying bundle: verifying bundle: rekor log public key not found "
                                "for payload (the entry was logged by a log that is not trusted)") from None
    try:
        verify_set(entry.signed_entry_timestamp or b"", entry.body_b64, entry.integrated_time,
                   entry.log_index, log_key)
    except ProofError:
        raise VerificationError("error verifying bundle: unable to verify SET") from None
    return entry


def signature_layer_evidence(policy: LogPolicy, key: Verifier, signature: bytes, payload: bytes,
                             annotations: Any) -> TlogEntry:
    """A legacy (``.sig``/oci-1-1) layer: its SET-form evidence, checked in cosign's order
    (SET, then signature, key, digest) with cosign's messages; or, without it, the entry
    the log holds for it, verified offline."""
    digest = hashlib.new(key.hash_name, payload).digest()
    entry = _layer_set_evidence(annotations, policy.trusted_logs)
    if entry is None:
        if policy.client is None:
            raise MissingEvidenceError(f"the signature has no transparency log evidence (no {BUNDLE_ANNOTATION} "
                                       "annotation)", hint="insecure_ignore_tlog_accept")
        try:
            found = lookup_hashedrekord(policy, signature, digest, key)
        except LogClientError as exc:
            raise VerificationError(f"searching log query: {exc.message}", hint=exc.hint) from None
        verify_proofs(found, policy.trusted_logs, set_only=False)
        check_hashedrekord(found, signature, digest, key.hash_name, key.public_key())
        return found
    try:
        logged = safejson.loads(entry.body)["spec"]["signature"]["content"]
    except (ValueError, KeyError, TypeError):
        logged = None
    if isinstance(logged, str) and logged != base64.b64encode(signature).decode():
        raise VerificationError("error verifying bundle: " + _COSIGN_WORDS["the log entry is for a different "
                                                                           "signature"])
    try:
        check_hashedrekord(entry, signature, digest, key.hash_name, key.public_key())
    except ProofError as exc:
        said = _COSIGN_WORDS.get(exc.message)
        raise VerificationError("error verifying bundle: " + (f"{said}: {exc.message}" if said else exc.message)
                                ) from None
    return entry


def attestation_layer_evidence(policy: LogPolicy, key: Verifier, envelope: Envelope, stored: bytes,
                               annotations: Any) -> TlogEntry:
    """An ``.att`` layer: its SET-form evidence, else the entry looked up in the log; the
    entry must record this envelope (as stored), its one signature and the key."""
    entry = _layer_set_evidence(annotations, policy.trusted_logs)
    if entry is None:
        entry = lookup_envelope(policy, stored, key)
        verify_proofs(entry, policy.trusted_logs, set_only=False)
    if len(envelope.signatures) != 1:
        raise VerificationError("a logged envelope must have exactly one signature")
    check_envelope_entry(entry, stored, envelope.payload, base64.b64encode(envelope.signatures[0]).decode(),
                         key.public_key())
    return entry
