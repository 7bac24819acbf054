"""Verify image signatures with a key, as ``cosign verify --key`` does (spec §3.2).

Order: resolve the image (404 → exit 11); look for Sigstore bundles among the
referrers (API or fallback tag); if there are none, read the legacy ``.sig`` image
(``[tag_prefix]sha256-<hex>.sig``) and ``oci-1-1`` referrers with
``experimental_oci11``. The tag prefix names only the ``.sig`` tag: as in cosign,
referrers and their fallback tag are found without it. No signatures → exit 10;
none valid → exit 12 with every reason. Signatures are checked concurrently
(``max_workers``), each over the exact bytes fetched (verified against their
digest by the client), and the payload must name this exact image digest.

Log evidence (unless ``insecure_ignore_tlog``): a legacy layer's
``dev.sigstore.cosign/bundle`` annotation (cosign's SET form) must carry a SET
that verifies with one of ``tlog_keys`` and name exactly this signature, payload
digest and key (cosign's ``VerifyBundle``); a bundle's ``tlogEntries`` must verify
completely offline (SET, inclusion proof, signed checkpoint) and name this
envelope's payload, signature and key. A signature without evidence fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sigstack.errors import (
    MissingEvidenceError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    NotFoundError,
    NoTrustedLogError,
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
from sigstack.payload import bundle, dsse, intoto, simplesigning

if TYPE_CHECKING:  # the log client is imported only when a signature carries evidence
    from sigstack.tlog.entry import TlogEntry

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
    tlog_keys: tuple[Verifier, ...] = ()  # trusted transparency log keys
    insecure_ignore_tlog: bool = False  # accept signatures without log evidence
    rekor_url: str | None = None  # where to look up signatures that carry no evidence (as cosign)
    rekor_timeout: float = 30.0  # seconds per request to the log (the CLI's -t/--timeout)


@dataclass(frozen=True)
class VerifiedSignature:
    """One valid signature: ``payload`` is the signed bytes; ``output`` is what
    cosign prints for it in the JSON array."""

    layout: str  # "legacy", "oci-1-1" or "bundle"
    payload: bytes
    output: dict[str, Any]


@dataclass(frozen=True)
class ImageVerification:
    reference: Reference
    digest: str
    signatures: tuple[VerifiedSignature, ...]


def require_log_keys(keys: Sequence[Verifier], ignore: bool) -> None:
    if not ignore and not keys:
        raise NoTrustedLogError()


def layer_rekor_bundle(stored: layout.StoredLayer) -> tuple[TlogEntry, Any] | None:
    """The SET-form evidence of a legacy layer (entry, JSON as stored), or None if absent."""
    text = stored.annotations.get(layout.BUNDLE_ANNOTATION)
    if text is None:
        return None
    from sigstack.bundle.models import BundleError, parse_rekor_bundle

    try:
        doc = json.loads(text)
        return parse_rekor_bundle(doc), doc
    except ValueError:
        raise VerificationError("unmarshaling bundle: the dev.sigstore.cosign/bundle annotation is not JSON"
                                ) from None
    except BundleError as exc:
        raise VerificationError(f"unmarshaling bundle: the dev.sigstore.cosign/bundle annotation is invalid: "
                                f"{exc.message}") from None


_COSIGN_WORDS = {  # our finding -> what cosign's VerifyBundle says for it
    "the log entry is for a different signature": "signature in bundle does not match signature being verified",
    "the log entry was made with a different public key": "comparing public key PEMs",
    "the log entry is for a different artifact digest": "matching bundle to payload",
}


def legacy_evidence(stored: layout.StoredLayer, keys: Sequence[Verifier]) -> TlogEntry | None:
    """The layer's log entry after its SET verified with a trusted log key (None when the
    layer has no ``dev.sigstore.cosign/bundle`` annotation). Failures use cosign's words."""
    from sigstack.errors import ProofError
    from sigstack.tlog.checkpoint import verify_set
    from sigstack.tlog.evidence import find_log

    found = layer_rekor_bundle(stored)
    if found is None:
        return None
    entry = found[0]
    try:
        log_key = find_log(entry, keys)
    except ProofError:
        raise VerificationError("error verifying bundle: verifying bundle: rekor log public key not found "
                                "for payload (the entry was logged by a log that is not trusted)") from None
    try:
        verify_set(entry.signed_entry_timestamp or b"", entry.body_b64, entry.integrated_time,
                   entry.log_index, log_key)
    except ProofError:
        raise VerificationError("error verifying bundle: unable to verify SET") from None
    return entry


def check_rekord_evidence(entry: TlogEntry, stored: layout.StoredLayer, verifier: Verifier) -> None:
    """The entry is a hashedrekord for this layer's signature, key and payload digest; checked
    in cosign's order (signature, key, digest), so a pasted entry gets cosign's message."""
    from sigstack.errors import ProofError
    from sigstack.tlog.evidence import check_hashedrekord

    sig = base64.b64decode(stored.annotations[layout.SIGNATURE_ANNOTATION])
    try:
        logged = json.loads(entry.body)["spec"]["signature"]["content"]
    except (ValueError, KeyError, TypeError):
        logged = None
    if isinstance(logged, str) and logged != base64.b64encode(sig).decode():
        raise VerificationError("error verifying bundle: " + _COSIGN_WORDS["the log entry is for a different "
                                                                           "signature"])
    try:
        check_hashedrekord(entry, sig, hashlib.new(verifier.hash_name, stored.data).digest(),
                           verifier.hash_name, verifier.public_key())
    except ProofError as exc:
        said = _COSIGN_WORDS.get(exc.message)
        raise VerificationError("error verifying bundle: " + (f"{said}: {exc.message}" if said else exc.message)
                                ) from None


def lookup_rekord(stored: layout.StoredLayer, verifier: Verifier, keys: Sequence[Verifier],
                  rekor_url: str | None, timeout: float = 30.0) -> None:
    """A layer without the annotation: as cosign, find its entry in the log at ``rekor_url``
    and verify what comes back offline (SET, inclusion proof, checkpoint, and that it is
    this signature)."""
    from sigstack.errors import LogClientError
    from sigstack.tlog.client import RekorClient, hashedrekord
    from sigstack.tlog.evidence import verify_hashedrekord_evidence

    if not rekor_url:
        raise MissingEvidenceError("the signature has no transparency log evidence (no "
                                   "dev.sigstore.cosign/bundle annotation)", hint="insecure_ignore_tlog_accept")
    sig = base64.b64decode(stored.annotations[layout.SIGNATURE_ANNOTATION])
    digest = hashlib.new(verifier.hash_name, stored.data).digest()
    proposal = hashedrekord(sig, digest, verifier.hash_name, verifier.public_key_pem())
    try:
        found = RekorClient(rekor_url, timeout).retrieve(proposal)
    except LogClientError as exc:
        raise VerificationError(f"searching log query: {exc.message}") from None
    if found is None:
        raise VerificationError("signature not found in transparency log")
    verify_hashedrekord_evidence(found, keys, sig, digest, verifier.hash_name, verifier.public_key())


def bundle_evidence(b: bundle.Bundle, verifier: Verifier, keys: Sequence[Verifier]) -> None:
    """A bundle's log entry: fully verified offline and about this envelope and key."""
    from sigstack.tlog.evidence import check_envelope_entry, verify_log_evidence

    entry = b.tlog_entry()
    if entry is None:
        raise MissingEvidenceError("the bundle has no transparency log entry", hint="insecure_ignore_tlog_accept")
    verify_log_evidence(entry, keys, set_only=False)
    if len(b.envelope.signatures) != 1:
        raise VerificationError("a logged envelope must have exactly one signature")
    check_envelope_entry(entry, None, b.envelope.payload, base64.b64encode(b.envelope.signatures[0]).decode(),
                         verifier.public_key())


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


def _load_now(verifier: Verifier) -> None:
    """Have a verifier that loads on first use (keys.load_verifier_on_first_use) load
    here, while the workers fetch: otherwise the first worker with a layer loads it
    and the workers behind it stop fetching until it is done. A failure is left for
    the workers' own use of the key to report."""
    import contextlib

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


def _verify_bundles(verifier: Verifier, ref: Reference, digest: str, found: list[bundle.Bundle],
                    opts: ImageVerifyOptions) -> list[VerifiedSignature]:
    def check(b: bundle.Bundle) -> VerifiedSignature:
        try:
            dsse.verify(verifier, b.envelope)
        except VerificationError:  # sigstore-go's words, as cosign prints them
            raise VerificationError(
                "failed to verify signature: could not verify envelope: accepted signatures do not "
                f"match threshold, Found: 0, Expected {max(1, len(b.envelope.signatures))}") from None
        st = check_statement(b.envelope, digest, opts.annotations)
        if not opts.insecure_ignore_tlog:
            bundle_evidence(b, verifier, opts.tlog_keys)
        subject = st.names_digest(digest) or {}
        ann = subject.get("annotations")
        out = {"critical": {"identity": {"docker-reference": ref.name},
                            "image": {"docker-manifest-digest": digest},
                            "type": intoto.COSIGN_SIGN_PREDICATE},
               "optional": dict(sorted(ann.items())) if isinstance(ann, dict) else {}}
        return VerifiedSignature("bundle", b.envelope.payload, out)

    results = parallel(found, check, opts.max_workers)
    good = [r for r in results if isinstance(r, VerifiedSignature)]
    if not good:
        reasons = [str(r) for r in results if isinstance(r, VerificationError)]
        raise VerificationError("no matching attestations: " + "\n ".join(reasons))
    return good


def check_simple_signing(verifier: Verifier, stored: layout.StoredLayer, digest: str,
                         opts: ImageVerifyOptions,
                         repository: str | None = None) -> simplesigning.SimpleSigning:
    text = stored.annotations.get(layout.SIGNATURE_ANNOTATION, "")
    try:
        sig = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the signature annotation is not valid base64") from None
    if not sig:
        raise VerificationError("the layer carries no signature")
    verifier.verify(sig, stored.data)
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


def verify_image(client: RegistryReader, verifier: Verifier, ref: Reference,
                 options: ImageVerifyOptions | None = None) -> ImageVerification:
    opts = options or ImageVerifyOptions()
    require_log_keys(opts.tlog_keys, opts.insecure_ignore_tlog)
    layout.check_tag_prefix(opts.tag_prefix)
    subject = resolve_subject(client, ref)
    digest = subject.digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=opts.target_repository,
                             tag_prefix=opts.tag_prefix)
    bundles = [s.bundle for s in BUNDLES.read(entity, opts.max_workers)] if opts.bundles else []
    if bundles:
        good = _verify_bundles(verifier, ref, digest, bundles, opts)
        return ImageVerification(ref, digest, tuple(good))
    # the [prefix]...sig image's layers, then (experimental_oci11) the newest OCI 1.1 signature referrer's
    layers = signatures(entity, (LEGACY.name, OCI11.name) if opts.experimental_oci11 else (LEGACY.name,))
    if not layers:
        raise NoSignaturesError()

    def check(item: tuple[str, layout.StoredLayer]) -> VerifiedSignature:
        kind, stored = item
        if stored.media_type and stored.media_type != layout.SIMPLESIGNING_MEDIA:
            raise VerificationError(f"unexpected signature layer media type {stored.media_type}")
        payload = check_simple_signing(verifier, stored, digest, opts, ref.repository.name)
        if not opts.insecure_ignore_tlog:
            entry = legacy_evidence(stored, opts.tlog_keys)
            if entry is None:
                lookup_rekord(stored, verifier, opts.tlog_keys, opts.rekor_url, opts.rekor_timeout)
            else:
                check_rekord_evidence(entry, stored, verifier)
        out = json.loads(payload.raw)
        optional = out.get("optional")
        try:
            found = layer_rekor_bundle(stored)
        except VerificationError:
            found = None
        if found is not None:  # cosign prints the evidence it had
            optional = dict(sorted({**(optional or {}), "Bundle": found[1]}.items()))
        normal = {"critical": {"identity": {"docker-reference": payload.docker_reference},
                               "image": {"docker-manifest-digest": payload.digest},
                               "type": simplesigning.COSIGN_TYPE},
                  "optional": optional}
        return VerifiedSignature(kind, stored.data, normal)

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

