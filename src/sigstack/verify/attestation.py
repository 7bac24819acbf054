"""Verify image attestations with a key, as ``cosign verify-attestation`` does (§3.3).

Sources: Sigstore bundles among the referrers when any exist, else the ``.att``
image. Each envelope's DSSE signature is checked over the fetched bytes, the
statement must name the image digest, and then those whose ``predicateType``
matches ``--type`` are checked against the Rego policies.

Log evidence, unless ``insecure_ignore_tlog``: an ``.att`` layer's
``dev.sigstore.cosign/bundle`` SET must verify with a trusted log key and its
``dsse`` 0.0.1 (or cosign v2's optional ``intoto`` 0.0.1/0.0.2) entry must record this
envelope's SHA-256, payload, signature and key; a bundle's entry must verify fully
offline (see :mod:`sigstack.verify.image`). A layer without the annotation is looked
up at ``rekor_url`` as cosign does (the dsse, then the intoto 0.0.1 entry this
envelope and key would make), and what comes back is verified offline the same way.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigstack.errors import (
    MissingEvidenceError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    PolicyViolation,
    VerificationError,
)
from sigstack.keys.base import Verifier
from sigstack.oci import layout
from sigstack.oci.client import RegistryReader
from sigstack.oci.layouts import BUNDLES, LEGACY, SignedEntity
from sigstack.oci.reference import Reference
from sigstack.payload import bundle, dsse, intoto
from sigstack.verify.image import (
    bundle_evidence,
    check_statement,
    legacy_evidence,
    parallel,
    require_log_keys,
    resolve_subject,
)
from sigstack.verify.policy import evaluate_rego, load_policy

if TYPE_CHECKING:
    from sigstack.tlog.entry import TlogEntry


@dataclass(frozen=True)
class VerifiedAttestation:
    envelope_json: bytes  # what is printed: the stored DSSE envelope
    statement: intoto.Statement


def verify_attestations(client: RegistryReader, verifier: Verifier, ref: Reference, kind: str = "custom",
                        policies: Sequence[str] = (), *, check_claims: bool = True,
                        max_workers: int = 10, tlog_keys: Sequence[Verifier] = (),
                        insecure_ignore_tlog: bool = False,
                        rekor_url: str | None = None,
                        tag_prefix: str = "", rekor_timeout: float = 30.0,
                        target_repository: str | None = None) -> list[VerifiedAttestation]:
    """``tag_prefix`` (cosign's ``--attachment-tag-prefix``) names the ``.att`` tag read
    when there are no bundles; ``target_repository`` (cosign's ``COSIGN_REPOSITORY``;
    None: the image's) is where they are; ``rekor_url`` is where a layer without log
    evidence is looked up."""
    require_log_keys(tlog_keys, insecure_ignore_tlog)
    layout.check_tag_prefix(tag_prefix)
    loaded = [(p, load_policy(p)[1]) for p in policies]
    uri = intoto.predicate_uri(kind)
    digest = resolve_subject(client, ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    envelopes: list[tuple[bytes, dsse.Envelope, bundle.Bundle | layout.StoredLayer]] = []
    bundles = [s.bundle for s in BUNDLES.read(entity, max_workers)]
    if bundles:
        envelopes = [(b.envelope.to_json(), b.envelope, b) for b in bundles]
    else:
        for stored in LEGACY.read(entity, "att", max_workers):
            try:
                envelopes.append((stored.data, dsse.parse(stored.data), stored))
            except VerificationError:
                continue
    if not envelopes:
        raise NoSignaturesError()

    def check(item: tuple[bytes, dsse.Envelope, bundle.Bundle | layout.StoredLayer]) -> VerifiedAttestation:
        raw, env, source = item
        dsse.verify(verifier, env)
        st = check_statement(env, digest, {}) if check_claims else intoto.parse(env.payload)
        if not insecure_ignore_tlog:
            if isinstance(source, bundle.Bundle):
                bundle_evidence(source, verifier, tlog_keys)
            else:
                from sigstack.tlog.evidence import check_envelope_entry

                entry = legacy_evidence(source, tlog_keys)
                if entry is None:
                    entry = lookup_envelope(source.data, verifier, tlog_keys, rekor_url, rekor_timeout)
                if len(env.signatures) != 1:
                    raise VerificationError("a logged envelope must have exactly one signature")
                check_envelope_entry(entry, source.data, env.payload,
                                     base64.b64encode(env.signatures[0]).decode(), verifier.public_key())
        return VerifiedAttestation(raw, st)

    results = parallel(envelopes, check, max_workers)
    good = [r for r in results if isinstance(r, VerifiedAttestation)]
    if not good:
        raise NoMatchingSignaturesError([r for r in results if isinstance(r, VerificationError)])
    matching = [a for a in good if a.statement.predicate_type == uri]
    if not matching:
        found = sorted({a.statement.predicate_type for a in good})
        raise VerificationError(f"none of the attestations matched the predicate type: {kind}, "
                                f"found: {','.join(found)}")
    errors: list[str] = []
    for att in matching:
        statement = json.loads(att.statement.raw)
        for name, text in loaded:
            reason = evaluate_rego(name, text, statement)
            if reason is not None:
                errors.append(reason)
    if errors:
        raise PolicyViolation(errors)
    return matching


def lookup_envelope(envelope_json: bytes, verifier: Verifier, keys: Sequence[Verifier],
                    rekor_url: str | None, timeout: float = 30.0) -> TlogEntry:
    """The log entry for an attestation that carries no evidence, found at ``rekor_url``
    as cosign finds it: the ``dsse`` entry this envelope and key would make, else the
    ``intoto`` 0.0.1 one. Its SET, inclusion proof and checkpoint are verified here; the
    caller checks that it is about this envelope."""
    from sigstack.errors import LogClientError
    from sigstack.tlog.client import RekorClient, dsse_proposal, intoto_proposal
    from sigstack.tlog.evidence import verify_log_evidence

    if not rekor_url:
        raise MissingEvidenceError("the attestation has no transparency log evidence (no "
                                   "dev.sigstore.cosign/bundle annotation)", hint="insecure_ignore_tlog_accept")
    pem = verifier.public_key_pem()
    client = RekorClient(rekor_url, timeout)
    found = None
    try:
        for proposal in (dsse_proposal(envelope_json, pem), intoto_proposal(envelope_json, pem)):
            found = client.retrieve(proposal)
            if found is not None:
                break
    except LogClientError as exc:
        raise VerificationError(f"searching log query: {exc.message}") from None
    if found is None:
        raise VerificationError("attestation not found in transparency log")
    verify_log_evidence(found, keys, set_only=False)
    return found
