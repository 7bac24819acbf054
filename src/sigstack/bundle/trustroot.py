"""Sigstore trust material: ``TrustedRoot`` (media types 0.1 and 0.2), ``SigningConfig``
v0.2 and ``ClientTrustConfig``, as strict models (``protos/sigstore_trustroot.proto``).

Models follow python-tuf's style: ``from_json``/``from_dict`` check every field they
know (type, required-ness, base64, RFC 3339 times) and raise :class:`TrustRootError`
naming the field; fields they do not know are kept in ``unrecognized`` and written
back by ``to_dict``/``to_json``, so a newer file survives a round trip. Keys and
certificates are kept as the DER bytes the file carries and parsed on first use
(``cryptography`` is imported only then): a trusted root lists keys a given
verification never touches, and a key the library cannot parse (the PKCS#1 RSA key of
the conformance case ``invalid-ct-key_fail``) must make *that* check fail, not the
whole file.

Lookups (all pure):

- :meth:`TrustedRoot.tlog` / :meth:`TrustedRoot.ctlog` — the log instance whose
  ``logId.keyId`` equals a key ID (Rekor v1: SHA-256 of the DER key; Rekor v2: the
  full 32-byte C2SP checkpoint key ID; CT: RFC 6962 log ID), optionally valid at a time.
- :meth:`TrustedRoot.certificate_authorities_at` / :meth:`TrustedRoot.timestamp_authorities_at`
  — the CAs / TSAs whose ``validFor`` contains a time. ``validFor`` is a closed interval
  (conformance ``trust-root-*-validity-end-inclusive``); a ``validFor`` without its
  ``start`` is malformed (``trust-root-tlog-missing-validity-start_fail``).

The older helpers ``parse_trusted_root`` (the tlogs as :class:`TrustedLog`) and
``trusted_root_for_log`` keep their signatures and messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sigstack._internal import safejson
from sigstack.errors import SigstackError, TrustRootError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.keys.base import Verifier

TRUSTED_ROOT_V01 = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUSTED_ROOT_V02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
TRUSTED_ROOT_MEDIA_TYPES = (TRUSTED_ROOT_V01, TRUSTED_ROOT_V02)
SIGNING_CONFIG_V02 = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_V01 = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


# ---------------------------------------------------------------------------- helpers

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})\Z"
)


def parse_time(value: object, where: str) -> datetime:
    """An RFC 3339 timestamp as protobuf JSON writes it (``Z`` or an offset, 0-9
    fraction digits; nanoseconds are truncated to microseconds)."""
    if not isinstance(value, str):
        raise TrustRootError(f"invalid trusted root: {where} must be an RFC 3339 string")
    m = _RFC3339.match(value)
    if m is None:
        raise TrustRootError(f"invalid trusted root: {where} is not an RFC 3339 time: {value[:40]!r}")
    frac = (m.group(7) or "").ljust(6, "0")[:6]
    tz = m.group(8).upper()
    text = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}.{frac}"
    text += "+00:00" if tz == "Z" else tz
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise TrustRootError(f"invalid trusted root: {where} is not a valid time: {value[:40]!r}") from None


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, fractions only when present (as protobuf JSON)."""
    t = t.astimezone(UTC)
    if t.microsecond:
        frac = f"{t.microsecond:06d}".rstrip("0")
        frac = frac.ljust(3 if len(frac) <= 3 else 6, "0")
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise TrustRootError(f"invalid trusted root: {where} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TrustRootError(f"invalid trusted root: {where} is not base64") from None


def _enc(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrustRootError(f"invalid trusted root: {where} must be an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TrustRootError(f"invalid trusted root: {where} must be a list")
    return value


def _str(value: object, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise TrustRootError(f"invalid trusted root: {where} must be a string")
    return value


def _rest(d: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in known}


def _load_json(data: bytes | str, what: str) -> Any:
    try:
        return safejson.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TrustRootError(f"invalid {what}: not JSON") from None


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class TimeRange:
    """A closed interval ``[start, end]``; no ``end`` means still valid. The times'
    text as read is kept so a file round-trips byte-for-byte (``.000Z`` stays)."""

    start: datetime
    end: datetime | None = None
    text: tuple[str, str | None] | None = field(default=None, compare=False, repr=False)

    def contains(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t <= self.end)

    @classmethod
    def from_dict(cls, d: object, where: str) -> TimeRange:
        obj = _obj(d, where)
        if "start" not in obj:
            raise TrustRootError(f"invalid trusted root: {where} is missing its start")
        end = obj.get("end")
        return cls(parse_time(obj["start"], f"{where}.start"),
                   None if end is None else parse_time(end, f"{where}.end"),
                   (obj["start"], end))

    def to_dict(self) -> dict[str, Any]:
        start, end = self.text if self.text else (format_time(self.start), None)
        out = {"start": start}
        if self.end is not None:
            out["end"] = end if self.text and end else format_time(self.end)
        return out


@dataclass(frozen=True, eq=False)
class TransparencyLogInstance:
    """A Rekor or CT log: its key, the ID it is known by, and when the key is valid.

    ``log_id`` is ``logId.keyId``: what a bundle's tlog entry or an SCT names the log
    by. For Rekor v2 it is the C2SP checkpoint key ID, not a hash of the key alone, so
    lookups never recompute it from the key."""

    base_url: str
    hash_algorithm: str
    public_key_raw: bytes
    key_details: str
    valid_for: TimeRange | None
    log_id: bytes
    checkpoint_key_id: bytes | None = None
    operator: str = ""
    unrecognized: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("baseUrl", "hashAlgorithm", "publicKey", "logId", "checkpointKeyId", "operator")

    @classmethod
    def from_dict(cls, d: object, where: str) -> TransparencyLogInstance:
        obj = _obj(d, where)
        pk = _obj(obj.get("publicKey"), f"{where}.publicKey")
        log = _obj(obj.get("logId"), f"{where}.logId")
        if "rawBytes" not in pk:
            raise TrustRootError(f"invalid trusted root: {where}.publicKey has no rawBytes")
        if "keyId" not in log:
            raise TrustRootError(f"invalid trusted root: {where}.logId has no keyId")
        vf = pk.get("validFor")
        ckid = obj.get("checkpointKeyId")
        return cls(
            base_url=_str(obj.get("baseUrl"), f"{where}.baseUrl"),
            hash_algorithm=_str(obj.get("hashAlgorithm"), f"{where}.hashAlgorithm") or "SHA2_256",
            public_key_raw=_b64(pk["rawBytes"], f"{where}.publicKey.rawBytes"),
            key_details=_str(pk.get("keyDetails"), f"{where}.publicKey.keyDetails"),
            valid_for=None if vf is None else TimeRange.from_dict(vf, f"{where}.publicKey.validFor"),
            log_id=_b64(log["keyId"], f"{where}.logId.keyId"),
            checkpoint_key_id=None if ckid is None else _b64(
                _obj(ckid, f"{where}.checkpointKeyId").get("keyId"), f"{where}.checkpointKeyId.keyId"),
            operator=_str(obj.get("operator"), f"{where}.operator"),
            unrecognized=_rest(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        pk: dict[str, Any] = {"rawBytes": _enc(self.public_key_raw)}
        if self.key_details:
            pk["keyDetails"] = self.key_details
        if self.valid_for is not None:
            pk["validFor"] = self.valid_for.to_dict()
        out: dict[str, Any] = {"baseUrl": self.base_url, "hashAlgorithm": self.hash_algorithm,
                               "publicKey": pk, "logId": {"keyId": _enc(self.log_id)}}
        if self.checkpoint_key_id is not None:
            out["checkpointKeyId"] = {"keyId": _enc(self.checkpoint_key_id)}
        if self.operator:
            out["operator"] = self.operator
        out.update(self.unrecognized)
        return out

    def valid_at(self, t: datetime) -> bool:
        return self.valid_for is None or self.valid_for.contains(t)

    def public_key(self) -> PublicKeyTypes:
        """The key (DER SubjectPublicKeyInfo; PKCS#1 for ``PKIX_RSA_PKCS1V15_*`` /
        ``PKCS1_RSA_*`` details); TrustRootError when it cannot be parsed."""
        cached = self.__dict__.get("_key")
        if cached is None:
            from cryptography.exceptions import UnsupportedAlgorithm
            from cryptography.hazmat.primitives import serialization

            try:
                cached = serialization.load_der_public_key(self.public_key_raw)
            except (ValueError, TypeError, UnsupportedAlgorithm):  # unknown curves: the last one
                raise TrustRootError(
                    f"the trusted root's key for log {self.base_url or _enc(self.log_id)} cannot be parsed"
                ) from None
            object.__setattr__(self, "_key", cached)
        return cached

    def verifier(self) -> Verifier:
        from sigstack.keys.software import PublicKeyVerifier

        cached = self.__dict__.get("_verifier")
        if cached is None:
            cached = PublicKeyVerifier(self.public_key())
            object.__setattr__(self, "_verifier", cached)
        return cached


@dataclass(frozen=True, eq=False)
class CertificateAuthority:
    """A Fulcio CA or a TSA: its certificate chain (leaf first, the last one the
    trust anchor) and when it is trusted."""

    certificates: tuple[bytes, ...]  # DER
    valid_for: TimeRange
    uri: str = ""
    subject_organization: str = ""
    subject_common_name: str = ""
    operator: str = ""
    unrecognized: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("subject", "uri", "certChain", "validFor", "operator")

    @classmethod
    def from_dict(cls, d: object, where: str) -> CertificateAuthority:
        obj = _obj(d, where)
        subject = _obj(obj.get("subject") or {}, f"{where}.subject")
        chain = _obj(obj.get("certChain"), f"{where}.certChain")
        certs = tuple(
            _b64(_obj(c, f"{where}.certChain.certificates[{i}]").get("rawBytes"),
                 f"{where}.certChain.certificates[{i}].rawBytes")
            for i, c in enumerate(_list(chain.get("certificates"), f"{where}.certChain.certificates"))
        )
        if not certs:
            raise TrustRootError(f"invalid trusted root: {where}.certChain has no certificates")
        if "validFor" not in obj:
            raise TrustRootError(f"invalid trusted root: {where} has no validFor")
        return cls(
            certificates=certs,
            valid_for=TimeRange.from_dict(obj["validFor"], f"{where}.validFor"),
            uri=_str(obj.get("uri"), f"{where}.uri"),
            subject_organization=_str(subject.get("organization"), f"{where}.subject.organization"),
            subject_common_name=_str(subject.get("commonName"), f"{where}.subject.commonName"),
            operator=_str(obj.get("operator"), f"{where}.operator"),
            unrecognized=_rest(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": {"organization": self.subject_organization, "commonName": self.subject_common_name},
            "certChain": {"certificates": [{"rawBytes": _enc(c)} for c in self.certificates]},
            "validFor": self.valid_for.to_dict(),
        }
        if self.uri:
            out["uri"] = self.uri
        if self.operator:
            out["operator"] = self.operator
        out.update(self.unrecognized)
        return out

    def certs(self) -> list[x509.Certificate]:
        """The chain as ``cryptography`` certificates (parsed once)."""
        cached = self.__dict__.get("_certs")
        if cached is None:
            from cryptography import x509

            try:
                cached = [x509.load_der_x509_certificate(c) for c in self.certificates]
            except (ValueError, x509.InvalidVersion):  # a version byte past v3 is not a ValueError
                raise TrustRootError(
                    f"invalid trusted root: a certificate of {self.uri or 'an authority'} is not DER X.509"
                ) from None
            object.__setattr__(self, "_certs", cached)
        return list(cached)


@dataclass(frozen=True, eq=False)
class TrustedRoot:
    """A Sigstore ``trusted_root.json``: the logs, CT logs, CAs and TSAs to trust."""

    media_type: str
    tlogs: tuple[TransparencyLogInstance, ...] = ()
    ctlogs: tuple[TransparencyLogInstance, ...] = ()
    certificate_authorities: tuple[CertificateAuthority, ...] = ()
    timestamp_authorities: tuple[CertificateAuthority, ...] = ()
    unrecognized: dict[str, Any] = field(default_factory=dict)

    _KNOWN = ("mediaType", "tlogs", "ctlogs", "certificateAuthorities", "timestampAuthorities")

    @classmethod
    def from_json(cls, data: bytes | str) -> TrustedRoot:
        return cls.from_dict(_load_json(data, "trusted root"))

    @classmethod
    def from_dict(cls, doc: object) -> TrustedRoot:
        if not isinstance(doc, dict) or doc.get("mediaType") not in TRUSTED_ROOT_MEDIA_TYPES:
            raise TrustRootError("invalid trusted root: unknown mediaType")

        def logs(key: str) -> tuple[TransparencyLogInstance, ...]:
            return tuple(TransparencyLogInstance.from_dict(t, f"{key}[{i}]")
                         for i, t in enumerate(_list(doc.get(key), key)))

        def cas(key: str) -> tuple[CertificateAuthority, ...]:
            return tuple(CertificateAuthority.from_dict(c, f"{key}[{i}]")
                         for i, c in enumerate(_list(doc.get(key), key)))

        return cls(
            media_type=doc["mediaType"],
            tlogs=logs("tlogs"),
            ctlogs=logs("ctlogs"),
            certificate_authorities=cas("certificateAuthorities"),
            timestamp_authorities=cas("timestampAuthorities"),
            unrecognized=_rest(doc, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "tlogs": [t.to_dict() for t in self.tlogs],
            "certificateAuthorities": [c.to_dict() for c in self.certificate_authorities],
            "ctlogs": [t.to_dict() for t in self.ctlogs],
            "timestampAuthorities": [c.to_dict() for c in self.timestamp_authorities],
        }
        out.update(self.unrecognized)
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode() + b"\n"

    # lookups

    def tlog(self, key_id: bytes, at: datetime | None = None) -> TransparencyLogInstance | None:
        """The transparency log known by ``logId.keyId == key_id`` (valid at ``at`` if given)."""
        return _find_log(self.tlogs, key_id, at)

    def ctlog(self, key_id: bytes, at: datetime | None = None) -> TransparencyLogInstance | None:
        """The CT log whose log ID is ``key_id`` (valid at ``at`` if given)."""
        return _find_log(self.ctlogs, key_id, at)

    def certificate_authorities_at(self, t: datetime) -> list[CertificateAuthority]:
        return [c for c in self.certificate_authorities if c.valid_for.contains(t)]

    def timestamp_authorities_at(self, t: datetime) -> list[CertificateAuthority]:
        return [c for c in self.timestamp_authorities if c.valid_for.contains(t)]


def _find_log(logs: tuple[TransparencyLogInstance, ...], key_id: bytes,
              at: datetime | None) -> TransparencyLogInstance | None:
    for log in logs:
        if log.log_id == key_id and (at is None or log.valid_at(at)):
            return log
    return None


# ------------------------------------------------------------------- signing config


@dataclass(frozen=True)
class Service:
    """One service endpoint of a signing config (Fulcio, OIDC, Rekor, TSA)."""

    url: str
    major_api_version: int
    valid_for: TimeRange
    operator: str = ""

    @classmethod
    def from_dict(cls, d: object, where: str) -> Service:
        obj = _obj(d, where)
        version = obj.get("majorApiVersion")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise TrustRootError(f"invalid trusted root: {where}.majorApiVersion must be a non-negative integer")
        if "validFor" not in obj:
            raise TrustRootError(f"invalid trusted root: {where} has no validFor")
        return cls(_str(obj.get("url"), f"{where}.url", required=True), version,
                   TimeRange.from_dict(obj["validFor"], f"{where}.validFor"),
                   _str(obj.get("operator"), f"{where}.operator"))

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "majorApiVersion": self.major_api_version,
                "validFor": self.valid_for.to_dict(), "operator": self.operator}


_SELECTORS = ("ALL", "ANY", "EXACT")


@dataclass(frozen=True)
class ServiceConfiguration:
    selector: str
    count: int | None = None

    @classmethod
    def from_dict(cls, d: object, where: str) -> ServiceConfiguration:
        obj = _obj(d, where)
        sel = obj.get("selector")
        if sel not in _SELECTORS:
            raise TrustRootError(f"invalid trusted root: {where}.selector must be one of ALL, ANY, EXACT")
        count = obj.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise TrustRootError(f"invalid trusted root: {where}.count must be a positive integer")
        if sel == "EXACT" and count is None:
            raise TrustRootError(f"invalid trusted root: {where}: selector EXACT needs a count")
        return cls(sel, count)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"selector": self.selector}
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True)
class SigningConfig:
    """``signing_config.v0.2.json``: where to sign (Fulcio, OIDC, Rekor, TSA)."""

    ca_urls: tuple[Service, ...]
    oidc_urls: tuple[Service, ...]
    rekor_tlog_urls: tuple[Service, ...]
    tsa_urls: tuple[Service, ...]
    rekor_tlog_config: ServiceConfiguration | None = None
    tsa_config: ServiceConfiguration | None = None
    media_type: str = SIGNING_CONFIG_V02

    @classmethod
    def from_json(cls, data: bytes | str) -> SigningConfig:
        return cls.from_dict(_load_json(data, "signing config"))

    @classmethod
    def from_dict(cls, doc: object) -> SigningConfig:
        if not isinstance(doc, dict) or doc.get("mediaType") != SIGNING_CONFIG_V02:
            raise TrustRootError("invalid signing config: unknown mediaType")

        def services(key: str) -> tuple[Service, ...]:
            return tuple(Service.from_dict(s, f"{key}[{i}]") for i, s in enumerate(_list(doc.get(key), key)))

        def conf(key: str) -> ServiceConfiguration | None:
            return None if doc.get(key) is None else ServiceConfiguration.from_dict(doc[key], key)

        return cls(services("caUrls"), services("oidcUrls"), services("rekorTlogUrls"),
                   services("tsaUrls"), conf("rekorTlogConfig"), conf("tsaConfig"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "caUrls": [s.to_dict() for s in self.ca_urls],
            "oidcUrls": [s.to_dict() for s in self.oidc_urls],
            "rekorTlogUrls": [s.to_dict() for s in self.rekor_tlog_urls],
            "tsaUrls": [s.to_dict() for s in self.tsa_urls],
        }
        if self.rekor_tlog_config is not None:
            out["rekorTlogConfig"] = self.rekor_tlog_config.to_dict()
        if self.tsa_config is not None:
            out["tsaConfig"] = self.tsa_config.to_dict()
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode() + b"\n"


@dataclass(frozen=True)
class ClientTrustConfig:
    """``{"mediaType", "trustedRoot", "signingConfig"}``: what ``sigstore --trust-config`` reads."""

    trusted_root: TrustedRoot
    signing_config: SigningConfig

    @classmethod
    def from_json(cls, data: bytes | str) -> ClientTrustConfig:
        doc = _load_json(data, "client trust config")
        if not isinstance(doc, dict) or doc.get("mediaType") != CLIENT_TRUST_CONFIG_V01:
            raise TrustRootError("invalid client trust config: unknown mediaType")
        return cls(TrustedRoot.from_dict(doc.get("trustedRoot")), SigningConfig.from_dict(doc.get("signingConfig")))

    def to_json(self) -> bytes:
        doc = {"mediaType": CLIENT_TRUST_CONFIG_V01, "trustedRoot": self.trusted_root.to_dict(),
               "signingConfig": self.signing_config.to_dict()}
        return json.dumps(doc, indent=2).encode() + b"\n"


# ------------------------------------------------------------- older helpers (kept)


@dataclass(frozen=True)
class TrustedLog:
    base_url: str
    log_id: bytes
    verifier: Verifier


def _key_details(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}[key.curve.name]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"
    raise TrustRootError("unsupported log key type")


def trusted_root_for_log(public_key_pem: bytes, base_url: str,
                         start: str = "2020-01-01T00:00:00Z") -> bytes:
    """A trusted root naming one Rekor v1 log (cosign ``--trusted-root`` accepts it)."""
    from cryptography.hazmat.primitives import serialization

    from sigstack.tlog.checkpoint import log_id, public_key_der

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError:
        raise TrustRootError("the log public key is not a PEM public key") from None
    der = public_key_der(key)
    doc = {
        "mediaType": TRUSTED_ROOT_V01,
        "tlogs": [{
            "baseUrl": base_url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": _key_details(key),
                          "validFor": {"start": start}},
            "logId": {"keyId": base64.b64encode(log_id(key)).decode()},
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def parse_trusted_root(data: bytes) -> list[TrustedLog]:
    """The transparency logs a trusted root lists (their keys parsed now)."""
    root = TrustedRoot.from_json(data)
    logs = []
    for t in root.tlogs:
        try:
            verifier = t.verifier()
        except SigstackError:
            raise TrustRootError("invalid trusted root: malformed tlogs entry") from None
        logs.append(TrustedLog(t.base_url, t.log_id, verifier))
    if not logs:
        raise TrustRootError("the trusted root lists no transparency logs")
    return logs
