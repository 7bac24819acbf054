"""Step 3 of keyless verification: the signing certificate chains to a trusted CA.

:func:`verify_certificate_chain` checks, at one verified time (a SET's integrated
time or an RFC 3161 timestamp's genTime):

- the leaf chains to a certificate of a ``certificateAuthorities`` entry of the
  trusted root whose ``validFor`` contains that time (conformance
  ``intoto-expired-certificate_fail``). Path building and the X.509 checks are
  ``cryptography``'s ``x509.verification`` (the Rust WebPKI verifier), configured as
  sigstore-python configures it: the store holds *every* certificate of the eligible
  CAs (Fulcio intermediates are anchors too), WebPKI default extension policies with
  the EKU validator relaxed (client verifiers otherwise demand clientAuth), and the
  validation time set to the verified time, so every certificate of the path must be
  valid then;
- the chain a bundle carries (``x509CertificateChain``) is *not* trusted beyond that:
  its intermediates are never used to build the path, and a chain that carries a
  self-signed root is refused (conformance ``bundle-with-root-cert_fail``);
- the leaf is a code-signing leaf: KeyUsage digitalSignature and EKU codeSigning
  (what Fulcio issues and cosign / sigstore-python require).

It returns the verified path, leaf first, root last; the SCT check takes the issuer
from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sigstack.errors import CertificateChainError

if TYPE_CHECKING:
    from cryptography import x509

    from sigstack.bundle.trustroot import TrustedRoot


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer == subject and the certificate's own key verifies its signature."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    try:  # names are parsed on first access: one that does not parse names no root
        if cert.issuer != cert.subject:
            return False
    except (ValueError, TypeError):  # TypeError: a BIT STRING attribute of another OID (fuzz)
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):  # TypeError: unsupported key types
        return False
    return True


def check_bundle_chain(chain: Sequence[x509.Certificate]) -> None:
    """A bundle's ``x509CertificateChain`` after the leaf must not contain a root."""
    for cert in chain:
        if is_self_signed(cert):
            raise CertificateChainError(
                "certificate chain contains a root certificate: the bundle must not carry the trust anchor")


def check_code_signing_leaf(leaf: x509.Certificate) -> None:
    """KeyUsage digitalSignature and ExtendedKeyUsage codeSigning, not a CA."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from sigstack._internal import der

    try:
        leaf.extensions  # noqa: B018  (parsed on first access: a malformed one raises here)
    except der.extension_errors() as exc:
        raise CertificateChainError(f"certificate chain: the signing certificate's extensions cannot be parsed: "
                                    f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise CertificateChainError("certificate chain: the signing certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateChainError("certificate chain: the signing certificate has no KeyUsage extension") from None
    if not ku.digital_signature:
        raise CertificateChainError("certificate chain: the signing certificate's KeyUsage lacks digitalSignature")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateChainError("certificate chain: the signing certificate has no ExtendedKeyUsage") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise CertificateChainError("certificate chain: the signing certificate is not for code signing (EKU)")


def verify_certificate_chain(
    leaf: x509.Certificate,
    trusted_root: TrustedRoot,
    at: datetime,
    chain: Sequence[x509.Certificate] = (),
) -> list[x509.Certificate]:
    """The path leaf → … → trusted anchor valid at ``at``; CertificateChainError otherwise.

    ``chain`` is what the bundle carried after the leaf (checked for a root, never
    trusted)."""
    from cryptography.x509 import ExtendedKeyUsage
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    check_bundle_chain(chain)
    check_code_signing_leaf(leaf)
    anchors = [c for ca in trusted_root.certificate_authorities_at(at) for c in ca.certs()]
    if not anchors:
        raise CertificateChainError(
            f"certificate chain: no certificate authority of the trusted root is valid at {_fmt(at)}")
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    verifier = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(leaf, []).chain)
    except VerificationError as exc:
        if not (leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc):
            raise CertificateChainError(
                f"certificate chain: the signing certificate is not valid at {_fmt(at)} "
                f"(valid {_fmt(leaf.not_valid_before_utc)} to {_fmt(leaf.not_valid_after_utc)})") from None
        raise CertificateChainError(
            f"certificate chain: the signing certificate does not chain to a trusted CA at {_fmt(at)}: {exc}"
        ) from None
    except ValueError as exc:  # e.g. an unsupported SAN type in the leaf
        raise CertificateChainError(f"certificate chain: cannot verify the signing certificate: {exc}") from None


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
