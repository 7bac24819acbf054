"""Parsing helpers shared by the entry kinds: base64, PEM keys and certificates."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack._internal import safejson
from sigstack._internal.der import extension_errors
from sigstack.errors import BadEntryError
from sigstack.keys.pem import encode_pem, pem_type

HASHES: dict[str, tuple[hashes.HashAlgorithm, int]] = {
    "sha256": (hashes.SHA256(), 32),
    "sha384": (hashes.SHA384(), 48),
    "sha512": (hashes.SHA512(), 64),
}


def bad(detail: str) -> BadEntryError:
    return BadEntryError(f"error processing entry: {detail}")


def field(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict) or name not in obj:
            raise bad(f"missing {'.'.join(path)}")
        obj = obj[name]
    return obj


def string(obj: Any, *path: str) -> str:
    value = field(obj, *path)
    if not isinstance(value, str) or not value:
        raise bad(f"{'.'.join(path)} must be a non-empty string")
    return value


def b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"{what} is not valid base64") from None


@dataclass(frozen=True)
class Verifier:
    """A public key (bare or from a certificate) with its canonical PEM."""

    key: PublicKeyTypes
    canonical_pem: bytes
    emails: tuple[str, ...]
    #: the certificate's Fulcio OIDC issuer, filed as ``issuer:<url>`` (the explorer's
    #: identity search; Rekor's index API never asks for it)
    issuers: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical_pem).hexdigest()

    def index_keys(self) -> list[str]:
        return [self.fingerprint, *self.emails, *("issuer:" + i for i in self.issuers)]


@lru_cache(maxsize=4096)
def parse_verifier(pem: bytes) -> Verifier:
    """Parse a ``PUBLIC KEY`` or ``CERTIFICATE`` PEM (cached: signers reuse keys)."""
    label = pem_type(pem)
    try:
        if label == "CERTIFICATE":
            cert = x509.load_pem_x509_certificate(pem)
            key = cert.public_key()
            der = cert.public_bytes(serialization.Encoding.DER)
            emails: list[str] = []
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                emails += [e.lower() for e in san.get_values_for_type(x509.RFC822Name)]
                emails += [u.lower() for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
            except x509.ExtensionNotFound:
                pass
            except extension_errors() as exc:  # duplicate or malformed: not a certificate Rekor accepts
                raise bad(f"invalid public key or certificate: {str(exc).splitlines()[0][:100]}") from None
            from sigstack.tlog.identity import oidc_issuer

            issuer = oidc_issuer(cert)
            return Verifier(key, encode_pem("CERTIFICATE", der), tuple(emails),
                            (issuer.lower(),) if issuer else ())
        if label == "PUBLIC KEY":
            pub = serialization.load_pem_public_key(pem)
            der = pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return Verifier(pub, encode_pem("PUBLIC KEY", der), ())
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:  # not ValueErrors
        raise bad(f"invalid public key or certificate: {str(exc).splitlines()[0][:100]}") from None
    raise bad("the public key must be a PEM 'PUBLIC KEY' or 'CERTIFICATE'")


def verify_digest(v: Verifier, signature: bytes, digest: bytes, algorithm: str) -> None:
    """Check a signature over a precomputed digest, as Rekor's x509 verifier does."""
    alg = HASHES[algorithm][0]
    key = v.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(utils.Prehashed(alg)))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(alg))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            raise bad("Ed25519 keys sign with Ed25519ph for hashedrekord, which this log does not accept")
        else:
            raise bad(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise bad("verifying signature: invalid signature") from None


def verify_message(v: Verifier, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` over a whole message (DSSE PAE) verifies. Like Rekor's DSSE
    verifier this hashes with SHA-256 for every ECDSA and RSA key."""
    key = v.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def dsse_b64(text: str, what: str) -> bytes:
    """DSSE fields are standard or URL-safe base64, padded or not (the DSSE spec allows
    each; go-securesystemslib tries all four, strictly). Python's URL-safe decoder
    skips characters outside its alphabet, so it is only given text made of it: else
    ``"MEQ::CI..."`` decoded like ``"MEQCI..."`` and one signature had endless spellings
    in the log (found by tests/fuzz)."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4) if "=" not in text else text, validate=True)
    except (binascii.Error, ValueError):
        if not _URLSAFE_B64.fullmatch(text):
            raise bad(f"{what} is not valid base64") from None
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise bad(f"{what} is not valid base64") from None


def verify_envelope(payload_type: str, payload: bytes, sigs: list[str],
                    verifiers: list[Verifier]) -> dict[str, Verifier]:
    """Every DSSE signature (base64 text) must verify with one of ``verifiers``; returns
    signature -> the verifier that accepted it (as Rekor's ``verifyEnvelope``)."""
    if not sigs:
        raise bad("the envelope has no signatures")
    message = pae(payload_type, payload)
    found: dict[str, Verifier] = {}
    for sig in sigs:
        raw = dsse_b64(sig, "an envelope signature")
        for v in verifiers:
            if verify_message(v, raw, message):
                found[sig] = v
                break
        else:
            raise bad("verifying envelope: all signatures must have a key that verifies it")
    return found


def statement_digests(payload_type: str, payload: bytes) -> list[str]:
    """``alg:hex`` of each in-toto subject, for the search index (best effort)."""
    if payload_type != "application/vnd.in-toto+json":
        return []
    try:
        doc = safejson.loads(payload)
        return [f"{alg}:{value}".lower() for s in doc.get("subject", [])
                for alg, value in s.get("digest", {}).items() if isinstance(value, str)]
    except (ValueError, AttributeError, TypeError):
        return []


def parse_envelope(text: str, what: str) -> tuple[str, bytes, list[str]]:
    """A DSSE envelope submitted as a JSON string: (payload type, payload, the signatures
    as their base64 text). ``what`` names the field in errors. An empty signature list
    is returned as such; kinds differ on whether they accept it."""
    try:
        env = safejson.loads(text)
    except ValueError:
        raise bad(f"{what} is not a JSON DSSE envelope") from None
    payload_type = string(env, "payloadType")
    payload = dsse_b64(string(env, "payload"), "envelope payload")
    sigs = field(env, "signatures")
    if not isinstance(sigs, list) or not all(
        isinstance(s, dict) and isinstance(s.get("sig"), str) for s in sigs
    ):
        raise bad("envelope signatures must be a list of objects with a sig")
    return payload_type, payload, [s["sig"] for s in sigs]
