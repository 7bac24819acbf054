"""The keyless seam's implementation: the keyless verification pipeline, worded as
policy-controller.

:class:`sigstack.policy.engine.KeylessVerifier` is what a keyless authority calls. It
hands the work to the one pipeline (:func:`sigstack.verify.image.verify_image` and
:func:`sigstack.verify.attestation.verify_attestations` with
:class:`sigstack.verify.keyless.Keyless` material): the certificate chains to a
TrustedRoot CA at a verified time, its SCT verifies against the TrustedRoot's CT logs
(unless ``insecureIgnoreSCT``), it satisfies one of the authority's identities, the
signature verifies with its key, and the log evidence (a legacy layer's SET, a bundle's
``tlogEntries``) verifies offline against the TrustedRoot's logs. Both storage layouts
are read: the legacy ``.sig`` / ``.att`` images, and (``signatureFormat: bundle``) the
Sigstore bundle referrers, falling back to the legacy images when there are none, as
key authorities do.

What stays here is the wording: kubectl shows policy-controller's (cosign's) error
strings, and people grep for them, so the pipeline's refusals are mapped to cosign's
where they differ (an identity mismatch is cosign's ``CheckCertificatePolicy`` line,
built from the subjects and issuer the pipeline's
:class:`~sigstack.errors.IdentityError` carries). The public-good root is not assumed:
a keyless authority needs a ``trustRootRef``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sigstack.errors import (
    IdentityError,
    NoMatchingAttestationsError,
    NoMatchingSignaturesError,
    NoSignaturesError,
    SigstackError,
    VerificationError,
)
from sigstack.oci.client import RegistryReader
from sigstack.oci.reference import Reference


def _identity_policy(identities: Sequence[Mapping[str, str]]) -> Any:
    from sigstack.verify.identity import AnyOf, IdentityRegexp

    return AnyOf([IdentityRegexp(identity_regexp=i.get("subjectRegExp") or None, identity=i.get("subject") or None,
                                 issuer=i.get("issuer") or None, issuer_regexp=i.get("issuerRegExp") or None)
                  for i in identities])


def _claims(cert: Any) -> dict[str, str]:
    """What policy-controller reports for a keyless signature: the certificate's first
    SAN, its OIDC issuer and the GitHub workflow claims it carries."""
    from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

    if cert is None:
        return {}
    ext = SigstoreExtensions.from_certificate(cert)
    sans = subject_alternative_names(cert)
    out = {"subject": sans[0] if sans else "", "issuer": ext.issuer or ""}
    for key, value in (("githubWorkflowTrigger", ext.workflow_trigger()), ("githubWorkflowSha", ext.workflow_sha()),
                       ("githubWorkflowName", ext.workflow_name()), ("githubWorkflowRepo", ext.workflow_repository()),
                       ("githubWorkflowRef", ext.workflow_ref())):
        if value:
            out[key] = value
    return {k: v for k, v in out.items() if v}


def _cosign_words(cause: SigstackError) -> str:
    """One signature's refusal as cosign words it."""
    if isinstance(cause, IdentityError) and (cause.subjects or cause.issuer is not None):
        return ("none of the expected identities matched what was in the certificate, got subjects "
                f"[{' '.join(cause.subjects)}] with issuer {cause.issuer or ''}")
    return cause.message


def _reworded(exc: VerificationError, attestations: bool) -> VerificationError:
    """The pipeline's refusal with cosign's words (``no matching signatures: <reasons>``)."""
    prefix = "no matching attestations: " if attestations else "no matching signatures: "
    if isinstance(exc, NoSignaturesError):
        return VerificationError(prefix if attestations else exc.message)
    if isinstance(exc, NoMatchingSignaturesError | NoMatchingAttestationsError):
        return VerificationError(prefix + "\n ".join(_cosign_words(c) for c in exc.causes))
    return exc


@functools.cache
def _no_log() -> Any:
    """The log policy of an ``rfc3161timestamp`` authority: the log is not consulted
    (policy-controller's choice for it); made once, so its warning is logged once."""
    from sigstack.verify.evidence import LogPolicy

    return LogPolicy(insecure_ignore_tlog=True)


def verify_keyless(client: RegistryReader, ref: Reference, *, trusted_root: bytes | None,
                   identities: Sequence[Mapping[str, str]], attestations: bool, target_repository: str | None,
                   tag_prefix: str, insecure_ignore_sct: bool, bundles: bool,
                   oci11: bool = False,
                   timestamp_root: bytes | None = None) -> list[tuple[bytes, dict[str, str]]]:
    """The seam (:class:`~sigstack.policy.engine.KeylessVerifier`): the payloads (signed
    simple-signing documents, or in-toto statements) that verify keylessly, with their
    certificates' claims. With ``timestamp_root`` (an ``rfc3161timestamp`` authority's
    TrustedRoot) the certificate is checked at the times of RFC 3161 timestamps from
    that root's TSAs, one at least being required, and the log is not consulted
    (policy-controller skips it for such an authority)."""
    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.verify.attestation import AttestationVerifyOptions, verify_attestations
    from sigstack.verify.image import ImageVerifyOptions, verify_image
    from sigstack.verify.keyless import Keyless

    if trusted_root is None:
        raise VerificationError("no trusted root: name a TrustRoot (keyless.trustRootRef) with the CA, CT log and "
                                "transparency log keys")
    root = TrustedRoot.from_json(trusted_root)
    extra: dict[str, Any] = {}
    if timestamp_root is not None:
        import dataclasses

        tsas = TrustedRoot.from_json(timestamp_root).timestamp_authorities
        root = dataclasses.replace(root, timestamp_authorities=tsas)
        extra["log"] = _no_log()
    material = Keyless(trusted_root=root, policy=_identity_policy(identities),
                       insecure_ignore_sct=insecure_ignore_sct, require_timestamp=timestamp_root is not None)
    try:
        if attestations:
            found = verify_attestations(client, material, ref, AttestationVerifyOptions(
                kind=None, max_workers=4, tag_prefix=tag_prefix, target_repository=target_repository,
                bundles=bundles, experimental_oci11=oci11, **extra))
            return [(a.statement.raw, _claims(a.certificate)) for a in found]
        verified = verify_image(client, material, ref, ImageVerifyOptions(
            check_reference=False, target_repository=target_repository, tag_prefix=tag_prefix, max_workers=4,
            bundles=bundles, experimental_oci11=oci11, **extra))
    except VerificationError as exc:
        raise _reworded(exc, attestations) from None
    return [(s.payload, _claims(s.certificate)) for s in verified.signatures]
