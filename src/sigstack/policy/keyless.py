"""The keyless seam's implementation from verify's building blocks.

:class:`sigstack.policy.engine.KeylessVerifier` is what a keyless authority calls. This
module implements it with the pieces that exist today, in the order cosign's
``VerifyImageSignatures`` checks a keyless ``.sig`` layer under policy-controller's
options (offline log evidence: ``RekorPubKeys`` set, no client):

1. the layer's certificate (``dev.sigstore.cosign/certificate``) is the key: the
   signature over the stored payload and the claims go through the one pipeline
   (:class:`sigstack.verify.verifier.Verifier`) with the certificate's public key and a
   :class:`~sigstack.verify.evidence.LogPolicy` trusting the TrustedRoot's logs, so the
   layer's SET must verify and bind this signature to this certificate;
2. the certificate chains to a TrustedRoot CA at the SET's integrated time
   (:func:`sigstack.verify.certificate.verify_certificate_chain`);
3. its embedded SCT verifies against the TrustedRoot's CT logs, unless
   ``insecureIgnoreSCT`` (:func:`sigstack.verify.sct.verify_embedded_sct`);
4. it satisfies one of the authority's identities (:mod:`sigstack.verify.identity`).

Attestations (``.att`` layers) go through the same steps with the DSSE envelope. When
the wired keyless pipeline (``verify/verifier.py``) lands, this function is the one
place to replace with a call to it. The public-good root is not assumed: a keyless
authority needs a ``trustRootRef``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sigstack.errors import IdentityError, SigstackError, VerificationError
from sigstack.oci.client import RegistryReader
from sigstack.oci.reference import Reference


def _identity_policy(identities: Sequence[Mapping[str, str]]) -> Any:
    from sigstack.verify.identity import AnyOf, IdentityRegexp

    return AnyOf([IdentityRegexp(identity_regexp=i.get("subjectRegExp") or None, identity=i.get("subject") or None,
                                 issuer=i.get("issuer") or None, issuer_regexp=i.get("issuerRegExp") or None)
                  for i in identities])


def _claims(cert: Any) -> dict[str, str]:
    from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

    ext = SigstoreExtensions.from_certificate(cert)
    sans = subject_alternative_names(cert)
    out = {"subject": sans[0] if sans else "", "issuer": ext.issuer or ""}
    for key, value in (("githubWorkflowTrigger", ext.workflow_trigger()), ("githubWorkflowSha", ext.workflow_sha()),
                       ("githubWorkflowName", ext.workflow_name()), ("githubWorkflowRepo", ext.workflow_repository()),
                       ("githubWorkflowRef", ext.workflow_ref())):
        if value:
            out[key] = value
    return {k: v for k, v in out.items() if v}


def verify_keyless(client: RegistryReader, ref: Reference, *, trusted_root: bytes | None,
                   identities: Sequence[Mapping[str, str]], attestations: bool, target_repository: str | None,
                   tag_prefix: str, insecure_ignore_sct: bool, bundles: bool) -> list[tuple[bytes, dict[str, str]]]:
    """The seam (:class:`~sigstack.policy.engine.KeylessVerifier`): the payloads (signed
    simple-signing documents, or in-toto statements) that verify keylessly, with their
    certificates' claims."""
    from cryptography import x509

    from sigstack.bundle.trustroot import TrustedRoot, parse_trusted_root
    from sigstack.keys.software import PublicKeyVerifier
    from sigstack.oci import layout
    from sigstack.oci.layouts import LEGACY, SignedEntity, signatures
    from sigstack.payload import dsse, simplesigning
    from sigstack.verify.certificate import verify_certificate_chain
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.image import check_statement, parallel, resolve_subject
    from sigstack.verify.sct import verify_embedded_sct
    from sigstack.verify.verifier import Verifier as Pipeline
    from sigstack.verify.verifier import decode_signature_b64

    if trusted_root is None:
        raise VerificationError("no trusted root: name a TrustRoot (keyless.trustRootRef) with the CA, CT log and "
                                "transparency log keys")
    if bundles:
        raise VerificationError("keyless verification of bundle-format signatures is not connected yet (use "
                                "signatureFormat: legacy)")
    root = TrustedRoot.from_json(trusted_root)
    log = LogPolicy(trusted_logs=[t.verifier for t in parse_trusted_root(trusted_root)])
    policy = _identity_policy(identities)
    digest = resolve_subject(client, ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    if attestations:
        stored_layers = LEGACY.read(entity, "att", 4)
    else:
        stored_layers = [r.fetch() for r in signatures(entity, (LEGACY.name,))]
    if not stored_layers:
        if attestations:
            raise VerificationError("no matching attestations: ")
        raise VerificationError("no signatures found")

    def check(stored: layout.StoredLayer) -> tuple[bytes, dict[str, str]]:
        pem = stored.annotations.get(layout.CERT_ANNOTATION)
        if not pem:
            raise VerificationError("no certificate found on signature")
        try:
            leaf = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise VerificationError("the signature's certificate is not a PEM certificate") from None
        pipeline = Pipeline(PublicKeyVerifier(leaf.public_key()), log)
        if attestations:
            env = dsse.parse(stored.data)
            result = pipeline.verify_envelope(env, stored=stored.data, annotations=stored.annotations,
                                              check_content=lambda: check_statement(env, digest, {}))
            payload = env.payload
        else:
            sig = decode_signature_b64(stored.annotations.get(layout.SIGNATURE_ANNOTATION, ""))

            def claims() -> None:
                found = simplesigning.parse(stored.data)
                if found.digest != digest:
                    raise VerificationError(f"invalid or missing digest in claim: {found.digest}")

            result = pipeline.verify_payload(sig, stored.data, stored.annotations, check_content=claims)
            payload = stored.data
        if result.entry is None:
            raise VerificationError("the signature has no transparency log evidence")
        at = datetime.fromtimestamp(result.entry.integrated_time, UTC)
        path = verify_certificate_chain(leaf, root, at)
        if not insecure_ignore_sct:
            verify_embedded_sct(path, root)
        try:
            policy.verify(leaf)
        except IdentityError:  # cosign's words (CheckCertificatePolicy), which kubectl shows
            from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

            sans = " ".join(subject_alternative_names(leaf))
            issuer = SigstoreExtensions.from_certificate(leaf).issuer or ""
            raise VerificationError("none of the expected identities matched what was in the certificate, got "
                                    f"subjects [{sans}] with issuer {issuer}") from None
        return payload, _claims(leaf)

    results = parallel(stored_layers, check, 4)
    good = [r for r in results if isinstance(r, tuple)]
    if not good:
        reasons = "\n ".join(r.message for r in results if isinstance(r, SigstackError))
        raise VerificationError(("no matching attestations: " if attestations else "no matching signatures: ")
                                + reasons)
    return good
