"""Verify image attestations with a key, as ``cosign verify-attestation`` does (§3.3).

Sources: Sigstore bundles among the referrers when any exist, else the ``.att``
image. Each envelope's DSSE signature is checked over the fetched bytes, the
statement must name the image digest, and then those whose ``predicateType``
matches ``--type`` are checked against the Rego policies.

Each envelope goes through the one pipeline (:class:`sigstack.verify.verifier.Verifier`):
signature, statement, then log evidence under ``options.log`` (an ``.att`` layer's
SET-form annotation, else a lookup of the dsse then intoto 0.0.1 entry this envelope
would make, as cosign does; a bundle's ``tlogEntries`` verified fully offline; see
:mod:`sigstack.verify.evidence`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sigstack.bundle.models import Bundle
from sigstack.errors import (
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
from sigstack.payload import dsse, intoto
from sigstack.verify.evidence import LogPolicy
from sigstack.verify.image import check_statement, parallel, resolve_subject
from sigstack.verify.policy import evaluate_rego, load_policy
from sigstack.verify.verifier import Verifier as Pipeline


@dataclass(frozen=True)
class AttestationVerifyOptions:
    """What ``verify-attestation`` checks: the predicate ``kind`` (cosign's ``--type``)
    and Rego ``policies``; ``tag_prefix`` (cosign's ``--attachment-tag-prefix``) names
    the ``.att`` tag read when there are no bundles; ``target_repository`` is where
    attestations are stored (cosign's ``COSIGN_REPOSITORY``)."""

    kind: str = "custom"
    policies: Sequence[str] = ()
    check_claims: bool = True
    max_workers: int = 10
    tag_prefix: str = ""
    target_repository: str | None = None
    log: LogPolicy = field(default_factory=LogPolicy)


@dataclass(frozen=True)
class VerifiedAttestation:
    envelope_json: bytes  # what is printed: the stored DSSE envelope
    statement: intoto.Statement


def verify_attestations(client: RegistryReader, verifier: Verifier, ref: Reference,
                        options: AttestationVerifyOptions | None = None) -> list[VerifiedAttestation]:
    """The attestations of ``ref`` that verify, match ``options.kind`` and pass the policies."""
    opts = options or AttestationVerifyOptions()
    opts.log.require_logs()
    layout.check_tag_prefix(opts.tag_prefix)
    loaded = [(p, load_policy(p)[1]) for p in opts.policies]
    uri = intoto.predicate_uri(opts.kind)
    digest = resolve_subject(client, ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=opts.target_repository,
                             tag_prefix=opts.tag_prefix)
    pipeline = Pipeline(verifier, opts.log)
    envelopes: list[tuple[bytes, dsse.Envelope, Bundle | layout.StoredLayer]] = []
    bundles = [s.bundle for s in BUNDLES.read(entity, opts.max_workers)]
    if bundles:
        envelopes = [(b.envelope.to_json(), b.envelope, b) for b in bundles]
    else:
        for stored in LEGACY.read(entity, "att", opts.max_workers):
            try:
                envelopes.append((stored.data, dsse.parse(stored.data), stored))
            except VerificationError:
                continue
    if not envelopes:
        raise NoSignaturesError()

    def check(item: tuple[bytes, dsse.Envelope, Bundle | layout.StoredLayer]) -> VerifiedAttestation:
        raw, env, source = item
        found: list[intoto.Statement] = []

        def statement() -> None:
            found.append(check_statement(env, digest, {}) if opts.check_claims else intoto.parse(env.payload))

        if isinstance(source, Bundle):
            pipeline.verify_envelope(env, bundle=source, check_content=statement)
        else:
            pipeline.verify_envelope(env, stored=source.data, annotations=source.annotations,
                                     check_content=statement)
        return VerifiedAttestation(raw, found[0])

    results = parallel(envelopes, check, opts.max_workers)
    good = [r for r in results if isinstance(r, VerifiedAttestation)]
    if not good:
        raise NoMatchingSignaturesError([r for r in results if isinstance(r, VerificationError)])
    matching = [a for a in good if a.statement.predicate_type == uri]
    if not matching:
        kinds = sorted({a.statement.predicate_type for a in good})
        raise VerificationError(f"none of the attestations matched the predicate type: {opts.kind}, "
                                f"found: {','.join(kinds)}")
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
