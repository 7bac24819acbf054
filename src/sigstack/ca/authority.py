"""Issuing Fulcio's code-signing certificates with an embedded SCT.

The flow is Fulcio's ``CreatePrecertificate`` / ``IssueFinalCertificate``: build the
certificate once (Fulcio's profile, ``docs/certificate-specification.md``), sign it
with the CT poison extension as a precertificate, submit it with its chain to the CT
log (``add-pre-chain``), which answers only after the entry is durable, then sign the
same TBSCertificate with the SCT list in place of the poison. Both share every field
and every other extension in the same order, so a verifier removing the SCT list from
the final certificate gets exactly the TBS the log signed.

The issuing key may live anywhere a sigstack key reference points (file, KMS,
PKCS#11). ``cryptography`` signs certificates only with in-memory private keys, so
for other signers the TBSCertificate is produced with a throwaway key of the same
algorithm, signed by the real signer, and assembled into the Certificate by hand.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from sigstack._internal import der
from sigstack.ca import errors, sct
from sigstack.ca.identity import Principal
from sigstack.keys.base import Signer
from sigstack.keys.software import PrivateKeySigner

SIGSTORE_OID = "1.3.6.1.4.1.57264.1"
RAW_ARCS = frozenset({1, 2, 3, 4, 5, 6})  # deprecated: the UTF-8 bytes are the extension value
VALIDITY = datetime.timedelta(minutes=10)
_EMPTY_NAME = x509.Name([])
_HASHES: dict[str, hashes.SHA256 | hashes.SHA384 | hashes.SHA512] = {
    "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


class CTSubmitter(Protocol):
    """Where precertificates go: the in-process log or a CT log's HTTP API."""

    async def add_pre_chain(self, chain: Sequence[x509.Certificate], tbs: bytes | None = None) -> sct.SCT:
        """``tbs``: the precertificate's TBS without the poison, when the caller has it."""
        ...


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuer first, root last
    sct: sct.SCT
    chain_pem: tuple[str, ...] = ()  # the chain's PEM, when the caller has it made already

    def pem_chain(self) -> list[str]:
        rest = self.chain_pem or tuple(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)
        return [self.certificate.public_bytes(serialization.Encoding.PEM).decode(), *rest]


def sigstore_extensions(principal: Principal) -> list[x509.UnrecognizedExtension]:
    """The 1.3.6.1.4.1.57264.1.* extensions, by arc: .1 and .8 (issuer) always, the raw
    deprecated forms .1–.6 as UTF-8 bytes, .8 onwards as DER UTF8String."""
    values: dict[int, str] = {1: principal.issuer, 8: principal.issuer}
    for arc, value in principal.extensions.items():
        values[arc] = value
    out = []
    for arc in sorted(values):
        value = values[arc]
        if not value:
            continue
        raw = value.encode() if arc in RAW_ARCS else der.utf8_string(value)
        out.append(x509.UnrecognizedExtension(ObjectIdentifier(f"{SIGSTORE_OID}.{arc}"), raw))
    return out


def _san(principal: Principal) -> x509.Extension[x509.ExtensionType]:
    """The one critical SAN. Encoded here for ASCII values (cryptography's RFC822Name
    re-parses the address with the email package, a fifth of an issuance); anything
    else goes through cryptography's types, which validate it."""
    oid = x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    if principal.san_type in ("email", "uri") and principal.san.isascii():
        tag = 0x81 if principal.san_type == "email" else 0x86  # [1] rfc822Name, [6] URI (IA5String)
        value: x509.ExtensionType = x509.UnrecognizedExtension(
            oid, der.tlv(0x30, der.tlv(tag, principal.san.encode())))
    elif principal.san_type == "email":
        value = x509.SubjectAlternativeName([x509.RFC822Name(principal.san)])
    elif principal.san_type == "uri":
        value = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(principal.san)])
    else:
        value = x509.SubjectAlternativeName([
            x509.OtherName(ObjectIdentifier(f"{SIGSTORE_OID}.7"), der.utf8_string(principal.san))])
    return x509.Extension(oid, True, value)


def check_public_key(key: PublicKeyTypes) -> CertificatePublicKeyTypes:
    """Fulcio's weak-key rules: ECDSA P-256/384/521, RSA 2048–4096 bits, Ed25519."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise errors.BadRequestError(f"{errors.INSECURE_PUBLIC_KEY}: unsupported curve {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if not 2048 <= key.key_size <= 4096:
            raise errors.BadRequestError(f"{errors.INSECURE_PUBLIC_KEY}: RSA keys must have 2048 to 4096 bits")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise errors.BadRequestError(f"{errors.INSECURE_PUBLIC_KEY}: unsupported key type")


def verify_proof(key: CertificatePublicKeyTypes, proof: bytes, message: str) -> None:
    """The proof of possession: ``key``'s signature over ``message`` (the token's email
    or subject), with the key's default algorithm (SHA-256 for ECDSA and RSA)."""
    data = message.encode()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(proof, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(proof, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(proof, data)
        else:
            raise InvalidSignature()
    except InvalidSignature:
        raise errors.BadRequestError(
            f"{errors.INVALID_SIGNATURE}: the proof of possession is not a signature over {message!r} "
            "by the submitted key") from None


@functools.lru_cache(maxsize=8)
def _throwaway_key(kind: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}[kind]
    return ec.generate_private_key(curve)


def sign_builder(builder: x509.CertificateBuilder, signer: Signer) -> x509.Certificate:
    """Sign a certificate with any :class:`Signer` (see the module docstring)."""
    if isinstance(signer, PrivateKeySigner):
        key = signer.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return builder.sign(key, None)
        if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            return builder.sign(key, _HASHES[signer.hash_name])
    pub = signer.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        kind = pub.curve.name
    elif isinstance(pub, rsa.RSAPublicKey):
        kind = "rsa"
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    else:
        raise errors.CAError("unsupported CA key type")
    tmp_key = _throwaway_key(kind)
    draft = builder.sign(tmp_key, None if kind == "ed25519" else _HASHES[signer.hash_name])
    tbs, algorithm = der.split_certificate(draft.public_bytes(serialization.Encoding.DER))
    cert_der = der.certificate(tbs, algorithm, signer.sign(tbs))
    return x509.load_der_x509_certificate(cert_der)


class CertificateAuthority:
    """Issues certificates under ``chain[0]`` (the issuing certificate) with ``signer``."""

    def __init__(self, signer: Signer, chain: Sequence[x509.Certificate], ct: CTSubmitter) -> None:
        if not chain:
            raise errors.CAError("the CA needs its certificate chain")
        self.signer = signer
        self.chain = tuple(chain)
        self.ct = ct
        issuer = chain[0]
        if issuer.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo) != \
                signer.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo):
            raise errors.CAError("the CA key does not match the issuing certificate")
        try:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            self._aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key())  # type: ignore[arg-type]
        self._issuer_name = issuer.subject
        # Per-CA constants, made once: extensions every certificate carries, the chain's encodings.
        self._fixed = [
            x509.Extension(x509.oid.ExtensionOID.KEY_USAGE, True,
                           x509.KeyUsage(True, False, False, False, False, False, False, False, False)),
            x509.Extension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE, False,
                           x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])),
        ]
        self._aki_ext = x509.Extension(x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER, False, self._aki)
        self._poison = x509.Extension(x509.oid.ExtensionOID.PRECERT_POISON, True, x509.PrecertPoison())
        self.chain_pem = tuple(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)

    def _extensions(self, principal: Principal,
                    key: CertificatePublicKeyTypes) -> list[x509.Extension[x509.ExtensionType]]:
        exts: list[x509.Extension[x509.ExtensionType]] = [
            *self._fixed,
            x509.Extension(x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER, False,
                           x509.SubjectKeyIdentifier.from_public_key(key)),
            self._aki_ext,
            _san(principal),
        ]
        exts.extend(x509.Extension(e.oid, False, e) for e in sigstore_extensions(principal))
        return exts

    def _builder(self, key: CertificatePublicKeyTypes, serial: int, now: datetime.datetime,
                 extensions: list[x509.Extension[x509.ExtensionType]]) -> x509.CertificateBuilder:
        # One constructor call: add_extension() would copy and re-check the list each time.
        return x509.CertificateBuilder(self._issuer_name, _EMPTY_NAME, key, serial, now, now + VALIDITY,
                                       extensions)

    async def issue(self, principal: Principal, key: CertificatePublicKeyTypes) -> Issued:
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        exts = self._extensions(principal, key)
        builder = self._builder(key, x509.random_serial_number(), now, [*exts, self._poison])
        precert = sign_builder(builder, self.signer)
        pre_tbs, algorithm = der.split_certificate(precert.public_bytes(serialization.Encoding.DER))
        # What the log signs, and the base of the final certificate: the poison (last) removed.
        base_tbs, _ = der.tbs_without_extension(pre_tbs, der.POISON_OID)
        try:
            stamp = await self.ct.add_pre_chain([precert, *self.chain], base_tbs)
        except errors.CAError as exc:
            raise errors.CAError(f"{errors.FAILED_CT}: {exc.message}") from None
        # The final certificate is that TBS plus the SCT list, signed: spliced here rather
        # than built again, so it cannot differ from the precertificate in anything else.
        final_tbs = der.tbs_with_extension(
            base_tbs, der.extension(der.SCT_LIST_OID, sct.sct_list_extension_value([stamp])))
        final_der = der.certificate(final_tbs, algorithm, self.signer.sign(final_tbs))
        return Issued(x509.load_der_x509_certificate(final_der), self.chain, stamp, self.chain_pem)
