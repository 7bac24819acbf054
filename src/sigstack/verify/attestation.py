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
from typing import TYPE_CHECKING

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
from sigstack.oci.layouts import BUNDLES, LEGACY, OCI11, SignedEntity
from sigstack.oci.layouts.base import fetch_valid
from sigstack.oci.reference import Reference
from sigstack.payload import dsse, intoto
from sigstack.verify.evidence import LogPolicy
from sigstack.verify.image import check_statement, parallel, resolve_subject
from sigstack.verify.keyless import Keyless
from sigstack.verify.policy import evaluate_rego, load_policy
from sigstack.verify.verifier import Verifier as Pipeline

if TYPE_CHECKING:
    from cryptography import x509


@dataclass(frozen=True)
class AttestationVerifyOptions:
    """What ``verify-attestation`` checks: the predicate ``kind`` (cosign's ``--type``;
    None: every verified statement is returned, whatever its predicate type, for callers
    that match types themselves, as policy-controller's authorities do) and Rego
    ``policies``; ``tag_prefix`` (cosign's ``--attachment-tag-prefix``) names the
    ``.att`` tag read when there are no bundles; ``target_repository`` is where
    attestations are stored (cosign's ``COSIGN_REPOSITORY``); ``bundles`` False reads
    the ``.att`` image only (policy-controller's ``signatureFormat: legacy``), unless
    ``experimental_oci11``, which reads every form: in-toto referrers, bundle referrers
    and the ``.att`` image."""

    kind: str | None = "custom"
    policies: Sequence[str] = ()
    check_claims: bool = True
    max_workers: int = 10
    tag_prefix: str = ""
    target_repository: str | None = None
    log: LogPolicy = field(default_factory=LogPolicy)
    bundles: bool = True
    experimental_oci11: bool = False  # also in-toto and bundle referrers (policy-controller's enable-oci11)


@dataclass(frozen=True)
class VerifiedAttestation:
    envelope_json: bytes  # what is printed: the stored DSSE envelope
    statement: intoto.Statement
    certificate: x509.Certificate | None = None  # the keyless signing certificate trusted (None with a key)


def verify_attestations(client: RegistryReader, verifier: Verifier | Keyless, ref: Reference,
                        options: AttestationVerifyOptions | None = None) -> list[VerifiedAttestation]:
    """The attestations of ``ref`` that verify, match ``options.kind`` and pass the policies."""
    opts = options or AttestationVerifyOptions()
    if not isinstance(verifier, Keyless):  # keyless: the trusted root names the logs
        opts.log.require_logs()
    layout.check_tag_prefix(opts.tag_prefix)
    loaded = [(p, load_policy(p)[1]) for p in opts.policies]
    uri = intoto.predicate_uri(opts.kind) if opts.kind is not None else None
    digest = resolve_subject(client, ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=opts.target_repository,
                             tag_prefix=opts.tag_prefix)
    pipeline = Pipeline(verifier, opts.log)
    envelopes = stored_envelopes(entity, bundles=opts.bundles, oci11=opts.experimental_oci11,
                                 workers=opts.max_workers)
    if not envelopes:
        raise NoSignaturesError()

    def check(item: StoredEnvelope) -> VerifiedAttestation:
        raw, env, source = item
        found: list[intoto.Statement] = []

        def statement() -> None:
            found.append(check_statement(env, digest, {}) if opts.check_claims else intoto.parse(env.payload))

        if isinstance(source, Bundle):
            result = pipeline.verify_envelope(env, bundle=source, check_content=statement)
        else:
            result = pipeline.verify_envelope(env, stored=source.data, annotations=source.annotations,
                                              check_content=statement)
        return VerifiedAttestation(raw, found[0], result.certificate)

    results = parallel(envelopes, check, opts.max_workers)
    good = [r for r in results if isinstance(r, VerifiedAttestation)]
    if not good:
        raise NoMatchingSignaturesError([r for r in results if isinstance(r, VerificationError)])
    matching = [a for a in good if uri is None or a.statement.predicate_type == uri]
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


StoredEnvelope = tuple[bytes, dsse.Envelope, Bundle | layout.StoredLayer]


def stored_envelopes(entity: SignedEntity, *, bundles: bool, oci11: bool, workers: int) -> list[StoredEnvelope]:
    """The DSSE envelopes stored for ``entity`` (raw bytes, envelope, where it came from):
    with ``bundles``, the bundle referrers when there are any, else the ``.att`` image's
    layers (cosign's order); with ``oci11``, all of them: in-toto referrers
    (policy-controller's ``enable-oci11`` lookup, which takes only those), bundle
    referrers, and the ``.att`` image, each verified on its own. A layer that is not a
    DSSE envelope is skipped."""
    found: list[StoredEnvelope] = []
    if bundles or oci11:
        found = [(s.bundle.envelope.to_json(), s.bundle.envelope, s.bundle) for s in BUNDLES.read(entity, workers)]
        if found and not oci11:
            return found
    layers = list(LEGACY.read(entity, "att", workers))
    if oci11:
        layers = fetch_valid(OCI11.attestations(entity), workers) + layers
    for stored in layers:
        try:
            found.append((stored.data, dsse.parse(stored.data), stored))
        except VerificationError:
            continue
    return found


def verify_blob_attestation(material: Verifier | Keyless, *, log: LogPolicy, digest: tuple[str, bytes],
                            bundle: Bundle | None = None, envelope_json: bytes | None = None,
                            kind: str = "custom", check_claims: bool = True) -> intoto.Statement:
    """``cosign verify-blob-attestation``: a DSSE envelope over an in-toto statement about
    a blob whose ``(algorithm, digest)`` is given, from a bundle (its evidence inside) or
    an envelope file (its entry looked up in the log). The statement must name the
    digest (unless not ``check_claims``; keyless verification always checks it) and have
    the predicate type ``kind`` names (cosign's ``--type``, default custom). Returns the statement."""
    found: list[intoto.Statement] = []
    name = f"{digest[0]}:{digest[1].hex()}"

    def statement(env: dsse.Envelope) -> None:
        st = intoto.parse(env.payload)
        if check_claims and st.names_digest(name) is None:
            raise VerificationError("the attestation's subject does not name the blob's digest "
                                    f"({name[:80]})")
        found.append(st)

    pipeline = Pipeline(material, log)
    if bundle is not None:
        env = bundle.envelope
        if isinstance(material, Keyless):
            if digest[0] != "sha256":
                raise VerificationError("keyless attestations name their blob by its sha256 digest")
            pipeline.verify_blob(bundle=bundle, digest=digest)
            statement(env)
        else:
            pipeline.verify_envelope(env, bundle=bundle, check_content=lambda: statement(env))
    else:
        if envelope_json is None:
            raise VerificationError("a bundle or a DSSE envelope is needed")
        env = dsse.parse(envelope_json)
        pipeline.verify_detached_envelope(env, stored=envelope_json, check_content=lambda: statement(env))
    st = found[0]
    if st.predicate_type != intoto.predicate_uri(kind):  # cosign's words
        raise VerificationError(f"invalid predicate type, expected {kind[:120]} got {st.predicate_type[:120]}")
    return st
