"""Step 1 of the pipeline for keyless signatures: the signing certificate, trusted.

A keyless signature is made with a short-lived key whose certificate (Fulcio's) names
who signed. Before its key may check anything, the certificate must be shown to be
right *at the time it was used*, in sigstore-python's order
(``_verify_common_signing_cert``; spec ``tlog-ca-bundle.md`` §5.2):

0. **Verified times**: each RFC 3161 timestamp verified against the trusted root's
   TSAs (:func:`~sigstack.verify.timestamp.verify_timestamps`), plus the Rekor v1
   integrated time when the entry carries a SET (its signature is verified in step 4
   of the pipeline, before anything is accepted). At least one is needed: Rekor v2
   entries have no SET, so they need a timestamp.
1. **Chain** to a CA of the trusted root valid at each verified time
   (:func:`~sigstack.verify.certificate.verify_certificate_chain`), the leaf a
   code-signing leaf valid then.
2. **SCT**: the one embedded SCT (as sigstore-python), or the detached one given (as
   cosign's ``--sct``), from a CT log of the trusted root; ``insecure_ignore_sct``
   skips it (and warns).
3. **Identity policy** (:mod:`sigstack.verify.identity`).

:class:`Keyless` is what the caller trusts (trusted root + identity policy, and the
detached material cosign can be handed); :func:`establish` returns the
:class:`SigningCertificate` whose key the pipeline then verifies the signature with,
using the hash algorithm the bundle names (a P-384 key signing SHA-256 digests, as
older sigstore-python did, verifies as cosign accepts it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sigstack.errors import CertificateChainError, IdentityError, TimestampError

if TYPE_CHECKING:
    from cryptography import x509

    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.keys.base import Verifier as KeyVerifier
    from sigstack.tlog.entry import TlogEntry
    from sigstack.verify.identity import Policy


#: entry kinds whose integrated time a SET vouches for (sigstore-python: hashedrekord and
#: dsse 0.0.1; cosign also takes intoto's)
_SET_TIMED = {("hashedrekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.1"), ("intoto", "0.0.2")}


@dataclass(frozen=True)
class Keyless:
    """Keyless signing material: signatures are trusted when their certificate chains to
    ``trusted_root`` and satisfies ``policy``.

    ``certificate``/``chain`` (DER) stand in for a bundle that carries none (cosign's
    ``--certificate``/``--certificate-chain``; the chain is never trusted, only the
    root's CAs are). ``sct`` is a detached SCT (CT ``AddChainResponse`` JSON),
    ``timestamps`` detached RFC 3161 responses (DER). ``require_timestamp`` accepts only
    RFC 3161 timestamps as verified times (cosign's ``--use-signed-timestamps``).
    ``insecure_ignore_sct`` skips the SCT check and logs a warning."""

    trusted_root: TrustedRoot
    policy: Policy
    certificate: bytes | None = None
    chain: tuple[bytes, ...] = ()
    sct: bytes | None = None
    timestamps: tuple[bytes, ...] = field(default=())
    insecure_ignore_sct: bool = False
    require_timestamp: bool = False

    def __post_init__(self) -> None:
        if self.insecure_ignore_sct:
            from sigstack.verify.evidence import warn

            warn("the certificate's SCT is not checked (insecure_ignore_sct)")


@dataclass(frozen=True)
class SigningCertificate:
    """A leaf that passed step 1: its verified path and the times it was checked at."""

    leaf: x509.Certificate
    der: bytes
    path: tuple[x509.Certificate, ...]
    times: tuple[datetime, ...]

    def verifier(self, hash_name: str | None) -> KeyVerifier:
        """The leaf's key, checking digests made with ``hash_name`` (the bundle's
        ``messageDigest.algorithm``; None: the key's own)."""
        from sigstack.keys.software import PublicKeyVerifier

        try:
            key = PublicKeyVerifier(self.leaf.public_key())
        except Exception as exc:  # UnsupportedKeyError, or an unparseable key
            raise CertificateChainError(f"certificate chain: the signing certificate's key is unusable: {exc}"
                                        ) from None
        if hash_name is not None and key.prehash:
            key.hash_name = hash_name
        return key


def load_certificate(der: bytes, what: str = "the signing certificate") -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):  # a version past v3 is no ValueError (fuzz, finding 15's class)
        raise CertificateChainError(f"certificate chain: {what} cannot be parsed") from None


def set_time(entry: TlogEntry | None) -> datetime | None:
    """The integrated time a Rekor v1 SET vouches for (None without a SET, or for a kind
    whose time sigstore-python does not take)."""
    if entry is None or not entry.signed_entry_timestamp or entry.integrated_time <= 0:
        return None
    try:
        if entry.kind_version not in _SET_TIMED:
            return None
    except Exception:  # an unparseable body: the log evidence step says so
        return None
    return datetime.fromtimestamp(entry.integrated_time, UTC)


def establish(material: Keyless, *, certificate: bytes | None, chain: Sequence[bytes], signature: bytes,
              timestamps: Sequence[bytes], entry: TlogEntry | None, log_checked: bool,
              timestamped: bytes | None = None) -> SigningCertificate:
    """Steps 0-3 above for the certificate a signature came with (``certificate`` from
    the bundle or the layer; else ``material.certificate``). ``entry`` is the log entry
    whose SET time may count (only when ``log_checked``: step 4 will verify that SET).
    ``timestamped`` is what the RFC 3161 timestamps are over when it is not the
    signature (a legacy ``.att`` layer's envelope)."""
    from sigstack.verify.certificate import verify_certificate_chain
    from sigstack.verify.sct import verify_detached_sct, verify_embedded_sct
    from sigstack.verify.timestamp import verify_timestamps

    der = certificate if certificate is not None else material.certificate
    if der is None:
        raise CertificateChainError("certificate chain: the signature comes with no signing certificate "
                                    "(it was made with a key; verify it with that key)")
    leaf = load_certificate(der)
    intermediates = [load_certificate(c, "a certificate of the chain")
                     for c in (chain if certificate is not None else material.chain)]
    root = material.trusted_root
    stamped = signature if timestamped is None else timestamped
    times = list(verify_timestamps(stamped, [*timestamps, *material.timestamps], root, leaf))
    if material.require_timestamp and not times:
        raise TimestampError("timestamp: no RFC 3161 timestamp, and one is required")
    logged = set_time(entry) if log_checked and not material.require_timestamp else None
    if logged is not None:
        times.append(logged)
    if not times:
        raise TimestampError("timestamp: no verified time (no signed entry timestamp and no RFC 3161 timestamp)")
    path: list[x509.Certificate] = []
    for t in times:
        path = verify_certificate_chain(leaf, root, t, intermediates)
    if material.sct is not None:
        verify_detached_sct(leaf, material.sct, root)
    elif not material.insecure_ignore_sct:
        verify_embedded_sct(path, root)
    try:
        material.policy.verify(leaf)
    except IdentityError as exc:  # with what the certificate names, for callers that word it their way
        from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

        raise IdentityError(exc.message, subjects=subject_alternative_names(leaf),
                            issuer=SigstoreExtensions.from_certificate(leaf).issuer, hint=exc.hint) from None
    return SigningCertificate(leaf, der, tuple(path), tuple(times))


CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
TIMESTAMP_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"


def layer_certificates(annotations: dict[str, str]) -> tuple[bytes | None, tuple[bytes, ...]]:
    """The (leaf, chain) DER of a legacy layer's certificate and chain annotations (PEM),
    as cosign writes them; (None, ()) without a certificate annotation. cosign stores the
    whole chain, root included: the root is dropped here (only the trusted root's CAs
    anchor a path; a bundle, unlike a layer, must not carry one at all)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.verify.certificate import is_self_signed

    pem = annotations.get(CERT_ANNOTATION)
    if not pem:
        return None, ()
    try:
        leaf = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
        chain_pem = annotations.get(CHAIN_ANNOTATION) or ""
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem.strip() else []
    except ValueError:
        raise CertificateChainError("certificate chain: the layer's certificate or chain annotation is not PEM"
                                    ) from None
    return leaf, tuple(c.public_bytes(Encoding.DER) for c in chain if not is_self_signed(c))


def layer_timestamps(annotations: dict[str, str]) -> tuple[bytes, ...]:
    """The RFC 3161 timestamp of a legacy layer (cosign's ``rfc3161timestamp``
    annotation: ``{"SignedRFC3161Timestamp": "<b64 DER>"}``), if any."""
    import base64
    import binascii
    import json

    text = annotations.get(TIMESTAMP_ANNOTATION)
    if not text:
        return ()
    try:
        return (base64.b64decode(json.loads(text)["SignedRFC3161Timestamp"], validate=True),)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TimestampError("timestamp: the layer's RFC 3161 timestamp annotation is malformed") from None
