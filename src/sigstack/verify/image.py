"""Verify image signatures with a key or keyless, as ``cosign verify`` does (spec §3.2).

Order: resolve the image (404 → exit 11); look for Sigstore bundles among the
referrers (API or fallback tag); if there are none, read the legacy ``.sig`` image
(``[tag_prefix]sha256-<hex>.sig``) and ``oci-1-1`` referrers with
``experimental_oci11``. The tag prefix names only the ``.sig`` tag: as in cosign,
referrers and their fallback tag are found without it. No signatures → exit 10;
none valid → exit 12 with every reason. Signatures are checked concurrently
(``max_workers``), each over the exact bytes fetched (verified against their
digest by the client), and the payload must name this exact image digest.

Each signature goes through the one pipeline (:class:`sigstack.verify.verifier.Verifier`):
signature, claims, then log evidence under ``options.log`` (see
:mod:`sigstack.verify.evidence`: a legacy layer's SET-form annotation or a lookup; a
bundle's ``tlogEntries`` verified completely offline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sigstack.bundle.models import Bundle
from sigstack.errors import (
    InvalidSignatureError,
    NoMatchingAttestationsError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    NotFoundError,
    RegistryError,
    SigstackError,
    TagNotFoundError,
    VerificationError,
)
from sigstack.keys.base import Verifier
from sigstack.oci import layout
from sigstack.oci.client import Descriptor, RegistryReader
from sigstack.oci.layouts import BUNDLES, LEGACY, OCI11, Record, SignedEntity, signatures
from sigstack.oci.reference import Reference
from sigstack.payload import dsse, intoto, simplesigning
from sigstack.verify.evidence import LogPolicy, layer_rekor_bundle
from sigstack.verify.keyless import Keyless
from sigstack.verify.verifier import Verifier as Pipeline
from sigstack.verify.verifier import decode_signature_b64

if TYPE_CHECKING:
    from cryptography import x509

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ImageVerifyOptions:
    annotations: Mapping[str, str] = field(default_factory=dict)
    check_claims: bool = True
    target_repository: str | None = None  # where signatures are (cosign's COSIGN_REPOSITORY); None: the image's
    tag_prefix: str = ""  # cosign's --attachment-tag-prefix: [prefix]sha256-<hex>.sig
    max_workers: int = 10
    experimental_oci11: bool = False
    bundles: bool = True  # look for Sigstore bundle referrers first (cosign v3's default)
    # The simple-signing payload must name the verified repository. cosign does not check
    # this; we do by default, so a signature cannot be replayed onto another repository.
    check_reference: bool = True
    # trusted logs, the log client for signatures without evidence, or insecure_ignore_tlog
    log: LogPolicy = field(default_factory=LogPolicy)


@dataclass(frozen=True)
class VerifiedSignature:
    """One valid signature: ``payload`` is the signed bytes; ``output`` is what
    cosign prints for it in the JSON array; ``certificate`` is the keyless signing
    certificate that was trusted (None with a key)."""

    layout: str  # "legacy", "oci-1-1" or "bundle"
    payload: bytes
    output: dict[str, Any]
    certificate: x509.Certificate | None = None


@dataclass(frozen=True)
class ImageVerification:
    reference: Reference
    digest: str
    signatures: tuple[VerifiedSignature, ...]


def resolve_subject(client: RegistryReader, ref: Reference) -> Descriptor:
    """GET (not HEAD) as cosign does, so a 404 carries the registry's error code."""
    try:
        return client.get_manifest(ref).descriptor()
    except NotFoundError as exc:
        raise TagNotFoundError(exc.message) from None


def captured(fn: Callable[[T], R], item: T) -> R | VerificationError:
    """``fn(item)``, with a verification or registry failure returned as a value."""
    try:
        return fn(item)
    except (VerificationError, RegistryError) as exc:
        return exc if isinstance(exc, VerificationError) else VerificationError(exc.message)


def pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int,
             meanwhile: Callable[[], object] | None = None) -> list[R]:
    """``fn`` over ``items`` on up to ``workers`` threads, results in order (an
    exception ends it, as it would a plain loop). ``meanwhile`` runs on the calling
    thread while the workers start, instead of that thread idling."""
    if len(items) <= 1 or workers <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor  # only when there is something to share

    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        results = pool.map(fn, items)
        if meanwhile is not None:
            meanwhile()
        return list(results)


def _load_now(verifier: Verifier | Keyless) -> None:
    """Have a verifier that loads on first use (keys.load_verifier_on_first_use) load
    here, while the workers fetch: otherwise the first worker with a layer loads it
    and the workers behind it stop fetching until it is done. A failure is left for
    the workers' own use of the key to report."""
    import contextlib

    if isinstance(verifier, Keyless):
        return
    with contextlib.suppress(SigstackError):
        verifier.prehash  # noqa: B018 - the attribute's side effect is the point


def parallel(items: Sequence[T], fn: Callable[[T], R], workers: int) -> list[R | VerificationError]:
    """``fn`` over ``items`` on a thread pool; failures come back as values."""
    return pool_map(lambda item: captured(fn, item), items, workers)


def check_statement(env: dsse.Envelope, digest: str, annotations: Mapping[str, str]) -> intoto.Statement:
    if env.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"unexpected DSSE payload type {env.payload_type}")
    st = intoto.parse(env.payload)
    subject = st.names_digest(digest)
    if subject is None:
        raise VerificationError("no matching subject digest found")
    if annotations:
        have = subject.get("annotations") or {}
        if not isinstance(have, dict) or any(have.get(k) != v for k, v in annotations.items()):
            raise VerificationError("missing or incorrect annotation")
    return st


def _verify_bundles(pipeline: Pipeline, ref: Reference, digest: str, found: list[Bundle],
                    opts: ImageVerifyOptions) -> list[VerifiedSignature]:
    def check(b: Bundle) -> VerifiedSignature:
        statement: list[intoto.Statement] = []
        try:
            result = pipeline.verify_envelope(b.envelope, bundle=b, check_content=lambda: statement.append(
                check_statement(b.envelope, digest, opts.annotations)))
        except InvalidSignatureError:  # sigstore-go's words, as cosign prints them
            raise VerificationError(
                "failed to verify signature: could not verify envelope: accepted signatures do not "
                f"match threshold, Found: 0, Expected {max(1, len(b.envelope.signatures))}") from None
        subject = statement[0].names_digest(digest) or {}
        ann = subject.get("annotations")
        out = {"critical": {"identity": {"docker-reference": ref.name},
                            "image": {"docker-manifest-digest": digest},
                            "type": intoto.COSIGN_SIGN_PREDICATE},
               "optional": dict(sorted(ann.items())) if isinstance(ann, dict) else {}}
        return VerifiedSignature("bundle", b.envelope.payload, out, result.certificate)

    results = parallel(found, check, opts.max_workers)
    good = [r for r in results if isinstance(r, VerifiedSignature)]
    if not good:
        raise NoMatchingAttestationsError([r for r in results if isinstance(r, VerificationError)])
    return good


#: the deprecated raw-value Sigstore extensions cosign's ``CertExtensions`` reads, and the
#: names it prints them under (``pkg/cosign/certextensions.go`` ``CertExtensionMap``)
_COSIGN_EXTENSIONS = (("1.3.6.1.4.1.57264.1.2", "githubWorkflowTrigger", "github_workflow_trigger"),
                      ("1.3.6.1.4.1.57264.1.3", "githubWorkflowSha", "github_workflow_sha"),
                      ("1.3.6.1.4.1.57264.1.4", "githubWorkflowName", "github_workflow_name"),
                      ("1.3.6.1.4.1.57264.1.5", "githubWorkflowRepository", "github_workflow_repository"),
                      ("1.3.6.1.4.1.57264.1.6", "githubWorkflowRef", "github_workflow_ref"))


def certificate_output(cert: x509.Certificate) -> dict[str, str]:
    """What cosign's ``verify`` adds to a keyless signature's ``optional``
    (``PrintVerification``): ``Subject`` (the first SAN, empty if none), ``Issuer`` and
    ``1.3.6.1.4.1.57264.1.1`` (the deprecated raw issuer extension, when set), and each
    GitHub workflow extension under its name and its OID. cosign reads only the raw
    1.1-1.6 extensions here, not their DER successors, so neither does this."""
    from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

    sans = subject_alternative_names(cert)
    out = {"Subject": sans[0] if sans else ""}
    ext = SigstoreExtensions.from_certificate(cert)
    if ext.issuer_v1:
        out["Issuer"] = out["1.3.6.1.4.1.57264.1.1"] = ext.issuer_v1
    for oid, name, attr in _COSIGN_EXTENSIONS:
        value = getattr(ext, attr)
        if value:
            out[name] = out[oid] = value
    return out


def _timestamp_output(text: str | None) -> dict[str, Any] | None:
    """cosign's ``optional.RFC3161Timestamp``: the layer's timestamp annotation
    (``{"SignedRFC3161Timestamp": base64}``) when it parses; it was verified already when
    the policy asked for timestamps, and is printed either way, as cosign prints it."""
    if not text:
        return None
    from sigstack._internal import safejson

    try:
        value = safejson.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("SignedRFC3161Timestamp"), str):
        return None
    return {"SignedRFC3161Timestamp": value["SignedRFC3161Timestamp"]}


def check_claims(stored: layout.StoredLayer, digest: str, opts: ImageVerifyOptions,
                 repository: str | None = None) -> simplesigning.SimpleSigning:
    """The simple-signing payload (whose signature verified) names what is verified."""
    payload = simplesigning.parse(stored.data)
    if opts.check_claims:
        if payload.digest != digest:
            raise VerificationError(f"invalid or missing digest in claim: {payload.digest}")
        if opts.check_reference and repository is not None and payload.docker_reference != repository:
            raise VerificationError(f"the signed payload names {payload.docker_reference}, not {repository}",
                                    hint="check_reference")
        for k, v in opts.annotations.items():
            if not payload.optional or payload.optional.get(k) != v:
                raise VerificationError("missing or incorrect annotation")
    return payload


def verify_image(client: RegistryReader, verifier: Verifier | Keyless, ref: Reference,
                 options: ImageVerifyOptions | None = None) -> ImageVerification:
    opts = options or ImageVerifyOptions()
    if not isinstance(verifier, Keyless):  # keyless: the trusted root names the logs
        opts.log.require_logs()
    layout.check_tag_prefix(opts.tag_prefix)
    pipeline = Pipeline(verifier, opts.log)
    subject = resolve_subject(client, ref)
    digest = subject.digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=opts.target_repository,
                             tag_prefix=opts.tag_prefix)
    bundles = [s.bundle for s in BUNDLES.read(entity, opts.max_workers)] if opts.bundles else []
    if bundles:
        good = _verify_bundles(pipeline, ref, digest, bundles, opts)
        return ImageVerification(ref, digest, tuple(good))
    # the [prefix]...sig image's layers, then (experimental_oci11) the newest OCI 1.1 signature referrer's
    layers = signatures(entity, (LEGACY.name, OCI11.name) if opts.experimental_oci11 else (LEGACY.name,))
    if not layers:
        raise NoSignaturesError()

    def check(item: tuple[str, layout.StoredLayer]) -> VerifiedSignature:
        kind, stored = item
        if stored.media_type and stored.media_type != layout.SIMPLESIGNING_MEDIA:
            raise VerificationError(f"unexpected signature layer media type {stored.media_type}")
        sig = decode_signature_b64(stored.annotations.get(layout.SIGNATURE_ANNOTATION, ""))
        if not sig:
            raise VerificationError("the layer carries no signature")
        claims: list[simplesigning.SimpleSigning] = []
        result = pipeline.verify_payload(sig, stored.data, stored.annotations, check_content=lambda: claims.append(
            check_claims(stored, digest, opts, ref.repository.name)))
        payload = claims[0]
        out = json.loads(payload.raw)
        optional = out.get("optional")
        try:
            found = layer_rekor_bundle(stored.annotations)
        except VerificationError:
            found = None
        if found is not None:  # cosign prints the evidence it had
            optional = dict(sorted({**(optional or {}), "Bundle": found[1]}.items()))
        stamp = _timestamp_output(stored.annotations.get(layout.TIMESTAMP_ANNOTATION))
        if stamp is not None:  # and its signed timestamp, as stored
            optional = dict(sorted({**(optional or {}), "RFC3161Timestamp": stamp}.items()))
        if result.certificate is not None:  # and who signed
            optional = dict(sorted({**(optional or {}), **certificate_output(result.certificate)}.items()))
        normal = {"critical": {"identity": {"docker-reference": payload.docker_reference},
                               "image": {"docker-manifest-digest": payload.digest},
                               "type": simplesigning.COSIGN_TYPE},
                  "optional": optional}
        return VerifiedSignature(kind, stored.data, normal, result.certificate)

    def fetch_and_check(record: Record) -> VerifiedSignature | VerificationError:
        # Each layer is checked by the worker that fetched it, while the others are
        # still on the wire. A registry failure ends the verification, as it did
        # when the layers were all read first.
        return captured(check, (record.layout, record.fetch()))

    results = pool_map(fetch_and_check, layers, opts.max_workers, meanwhile=lambda: _load_now(verifier))
    good = [r for r in results if isinstance(r, VerifiedSignature)]
    if not good:
        raise NoMatchingSignaturesError([r for r in results if isinstance(r, VerificationError)])
    return ImageVerification(ref, digest, tuple(good))

