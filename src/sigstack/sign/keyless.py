"""Keyless signing: an ephemeral key certified by a Fulcio-compatible CA for an OIDC identity.

What cosign does when no ``--key`` is given: make a fresh ECDSA P-256 key (Fulcio's
default, and the key sigstore-go uses), prove possession to the CA by signing the
token's ``email`` (else ``sub``), receive a 10-minute certificate with the SCT embedded,
and sign with the key while the certificate is valid. The key never leaves the process
and is forgotten when it ends, so there is nothing to keep or revoke.

The returned :class:`CertifiedSigner` is an ordinary :class:`~sigstack.keys.base.Signer`
holding its certificate: the blob, image and attestation flows log it as the entry's
verifier and store it beside the signature without a keyless branch of their own.

With a trusted root the issued chain is checked before anything is signed (chain to a
trusted CA at the time of issue, one embedded SCT from a trusted CT log), as cosign's
``fulcioverifier`` does: a CA that answers with a certificate nobody could verify must
not lead to a published signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigstack.keys.base import Signer

if TYPE_CHECKING:
    import datetime

    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.bundle.trustroot import SigningConfig, TrustedRoot
    from sigstack.ca.client import CAClient


class CertifiedSigner(Signer):
    """An in-memory key together with the certificate a CA issued for it."""

    def __init__(self, key: Signer, certificate: bytes, chain: tuple[bytes, ...]) -> None:
        self._key = key
        self.hash_name, self.prehash = key.hash_name, key.prehash
        self.certificate = certificate
        self.chain = chain

    def public_key(self) -> PublicKeyTypes:
        return self._key.public_key()

    def sign_digest(self, digest: bytes) -> bytes:
        return self._key.sign_digest(digest)


def ephemeral_key() -> Signer:
    """A fresh ECDSA P-256 key (SHA-256), held only in memory."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from sigstack.keys.software import PrivateKeySigner

    return PrivateKeySigner(ec.generate_private_key(ec.SECP256R1()))


def certify(ca: CAClient, token: str, *, trusted_root: TrustedRoot | None = None,
            key: Signer | None = None) -> CertifiedSigner:
    """Ask ``ca`` for a certificate binding ``token``'s identity to ``key`` (a fresh
    P-256 key by default); with ``trusted_root``, verify the chain and its SCT first."""
    from cryptography.hazmat.primitives import serialization

    key = key or ephemeral_key()
    issued = ca.sign_with_key(token, key)
    if not issued.chain:
        from sigstack.errors import CAClientError

        raise CAClientError("the CA answered without a certificate")
    leaf = issued.chain[0]
    if leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo):
        from sigstack.errors import CAClientError

        raise CAClientError("the CA's certificate is for another public key than the one submitted")
    if trusted_root is not None:
        from sigstack.verify.certificate import is_self_signed, verify_certificate_chain
        from sigstack.verify.sct import verify_embedded_sct

        intermediates = [c for c in issued.chain[1:] if not is_self_signed(c)]  # the anchor comes from the root
        path = verify_certificate_chain(leaf, trusted_root, leaf.not_valid_before_utc, intermediates)
        verify_embedded_sct(path, trusted_root)
    ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in issued.chain)
    return CertifiedSigner(key, ders[0], ders[1:])


@dataclass(frozen=True)
class Services:
    """Where keyless signing goes: the CA, the log, and the OIDC issuer for interactive logins."""

    ca_url: str
    rekor_url: str
    oidc_url: str | None = None
    #: the timestamp authorities' endpoints to timestamp each signature with (may be none)
    tsa_urls: tuple[str, ...] = ()


def services_from(config: SigningConfig, at: float | None = None) -> Services:
    """The CA, Rekor v1 log and OIDC issuer a SigningConfig v0.2 names: among the
    services valid now and of an API version we speak (Fulcio 1, Rekor 1, OIDC 1),
    the newest-starting one of each, as sigstore-go picks with selector ANY."""
    import datetime

    from sigstack.errors import TrustRootError

    now = datetime.datetime.fromtimestamp(at, datetime.UTC) if at is not None else datetime.datetime.now(datetime.UTC)

    def pick(services: tuple[object, ...], kind: str, required: bool) -> str | None:
        from sigstack.bundle.trustroot import Service

        usable = [s for s in services if isinstance(s, Service) and s.major_api_version == 1
                  and s.valid_for.contains(now)]
        if not usable:
            if required:
                raise TrustRootError(f"the signing config names no usable {kind} (API version 1, valid now)")
            return None
        return max(usable, key=lambda s: s.valid_for.start).url.rstrip("/")

    ca = pick(config.ca_urls, "certificate authority", True)
    rekor = pick(config.rekor_tlog_urls, "Rekor v1 transparency log", True)
    assert ca is not None and rekor is not None
    return Services(ca, rekor, pick(config.oidc_urls, "OIDC provider", False), tsas_from(config, now))


def tsas_from(config: SigningConfig, now: datetime.datetime) -> tuple[str, ...]:
    """The TSA endpoints a signing config selects, as sigstore-python's
    ``SigningConfig.get_tsas``: the valid services of API version 1, one per operator
    (the newest-starting), then ``tsaConfig``'s selector (ANY: one; EXACT: that many,
    an error when fewer are usable; ALL: every one)."""
    from sigstack.bundle.trustroot import Service
    from sigstack.errors import TrustRootError

    usable = sorted((s for s in config.tsa_urls if isinstance(s, Service) and s.major_api_version == 1
                     and s.valid_for.contains(now)), key=lambda s: s.valid_for.start, reverse=True)
    by_operator: dict[str, Service] = {}
    for s in usable:
        by_operator.setdefault(s.operator or s.url, s)
    chosen = list(by_operator.values())
    selector = config.tsa_config.selector if config.tsa_config is not None else "ANY"
    if selector == "ALL" or not chosen:
        return tuple(s.url for s in chosen)
    count = 1 if selector == "ANY" else (config.tsa_config.count if config.tsa_config is not None else 1) or 1
    if len(chosen) < count:
        raise TrustRootError(f"the signing config asks for {count} timestamp authorities but names "
                             f"{len(chosen)} usable ones")
    return tuple(s.url for s in chosen[:count])
