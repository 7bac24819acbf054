"""Who signed a log entry: the certificates inside an entry body and the identity they
carry (SAN emails and URIs, the Fulcio OIDC issuer and the other Sigstore extensions).

Used by the log's search index (the issuer is a search key) and by the explorer's
entry page. Entry bodies are attacker-controlled: everything here tolerates malformed
input and returns less rather than raising.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from sigstack._internal import der

SIGSTORE_OID = "1.3.6.1.4.1.57264.1."

#: Fulcio's certificate extensions (docs/oid-info.md in sigstore/fulcio). The first six
#: hold the raw string; from .8 on the value is a DER UTF8String.
FULCIO_EXTENSIONS: dict[str, str] = {
    "1": "Issuer (deprecated)",
    "2": "GitHub Workflow Trigger (deprecated)",
    "3": "GitHub Workflow SHA (deprecated)",
    "4": "GitHub Workflow Name (deprecated)",
    "5": "GitHub Workflow Repository (deprecated)",
    "6": "GitHub Workflow Ref (deprecated)",
    "7": "OtherName SAN",
    "8": "Issuer",
    "9": "Build Signer URI",
    "10": "Build Signer Digest",
    "11": "Runner Environment",
    "12": "Source Repository URI",
    "13": "Source Repository Digest",
    "14": "Source Repository Ref",
    "15": "Source Repository Identifier",
    "16": "Source Repository Owner URI",
    "17": "Source Repository Owner Identifier",
    "18": "Build Config URI",
    "19": "Build Config Digest",
    "20": "Build Trigger",
    "21": "Run Invocation URI",
    "22": "Source Repository Visibility At Signing",
    "23": "Deployment Environment",
}
_RAW_VALUE = {"1", "2", "3", "4", "5", "6"}
MAX_CERTS = 16  # per entry body: an entry with more is odd; the page shows the first ones


@dataclass(frozen=True)
class Identity:
    """The identity fields of one certificate, as shown and indexed."""

    subject: str
    issuer_dn: str
    not_before: str
    not_after: str
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    oidc_issuer: str | None = None
    #: (OID, name, value) of each Sigstore extension, in certificate order
    extensions: tuple[tuple[str, str, str], ...] = field(default=())


def extension_text(dotted: str, value: bytes) -> str:
    """A Sigstore extension's value as text (hex when it is neither form)."""
    suffix = dotted.removeprefix(SIGSTORE_OID)
    if suffix in _RAW_VALUE:
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    text = der.decode_utf8_string(value)
    return text if text is not None else value.hex()


def identity(cert: x509.Certificate) -> Identity:
    emails: list[str] = []
    uris: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = list(san.get_values_for_type(x509.RFC822Name))
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        pass
    except der.extension_errors():
        pass
    exts: list[tuple[str, str, str]] = []
    issuer: str | None = None
    legacy_issuer: str | None = None
    try:
        extensions = list(cert.extensions)
    except der.extension_errors():  # a malformed extension: show the certificate without them
        extensions = []
    for ext in extensions:
        dotted = ext.oid.dotted_string
        if not dotted.startswith(SIGSTORE_OID):
            continue
        raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        text = extension_text(dotted, raw)
        suffix = dotted.removeprefix(SIGSTORE_OID)
        exts.append((dotted, FULCIO_EXTENSIONS.get(suffix, "Sigstore extension"), text))
        if suffix == "8":
            issuer = text
        elif suffix == "1":
            legacy_issuer = text
    try:
        subject = cert.subject.rfc4514_string()
        issuer_dn = cert.issuer.rfc4514_string()
    except (ValueError, TypeError):  # TypeError: a BIT STRING attribute of another OID (fuzz)
        subject = issuer_dn = "(unreadable name)"
    return Identity(
        subject=subject,
        issuer_dn=issuer_dn,
        not_before=cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        not_after=cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
        emails=tuple(emails),
        uris=tuple(uris),
        oidc_issuer=issuer or legacy_issuer,
        extensions=tuple(exts),
    )


def oidc_issuer(cert: x509.Certificate) -> str | None:
    """The Fulcio OIDC issuer extension (v2, else the deprecated v1)."""
    return identity(cert).oidc_issuer


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 12:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, depth + 1)


def body_certificates(body: bytes) -> list[x509.Certificate]:
    """The X.509 certificates embedded (base64 PEM) anywhere in an entry body: where a
    kind keeps its verifier differs (hashedrekord publicKey.content, dsse verifiers,
    intoto envelope signatures), so this looks at every string value."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    out: list[x509.Certificate] = []
    seen: set[bytes] = set()
    for text in _strings(doc):
        if len(out) >= MAX_CERTS:
            break
        if len(text) < 100 or not text.startswith("LS0tLS1CRUdJTi"):  # base64 of "-----BEGIN"
            continue
        try:
            pem = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            continue
        if b"CERTIFICATE-----" not in pem[:40] or pem in seen:
            continue
        seen.add(pem)
        try:
            out.extend(x509.load_pem_x509_certificates(pem)[: MAX_CERTS - len(out)])
        except (ValueError, x509.InvalidVersion):
            continue
    return out


def issuer_keys(body: bytes) -> list[str]:
    """The ``issuer:<url>`` search keys of an entry body's certificates (used to add
    them to databases written before the index held issuers)."""
    keys: list[str] = []
    for cert in body_certificates(body):
        iss = oidc_issuer(cert)
        if iss:
            keys.append("issuer:" + iss.lower())
    return list(dict.fromkeys(keys))
