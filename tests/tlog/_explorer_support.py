"""Helpers for the explorer tests: Fulcio-shaped signing certificates (a throwaway CA
issues a leaf with the SAN and Sigstore extensions Fulcio writes) and hashedrekord
proposals signed with them, and the system Chromium driven by Playwright."""

from __future__ import annotations

import base64
import datetime
import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.tlog.client import hashedrekord

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def _utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


class CertSigner:
    """An artifact signer with a Fulcio-like certificate for ``san`` (email or URI)."""

    def __init__(self, san: str, issuer: str, extra: dict[str, str] | None = None) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-intermediate")])
        general: x509.GeneralName = (x509.RFC822Name(san) if "@" in san and "://" not in san
                                     else x509.UniformResourceIdentifier(san))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([general]), critical=True)
            .add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), _utf8(issuer)), critical=False)
        )
        for suffix, value in (extra or {}).items():
            builder = builder.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.57264.1." + suffix), _utf8(value)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def proposal(self, data: bytes) -> dict[str, Any]:
        sig = self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        return hashedrekord(sig, hashlib.sha256(data).digest(), "sha256", self.pem)


def fingerprint(pem: bytes) -> str:
    """The search index's key of a public key or certificate PEM (as the log re-encodes it)."""
    from sigstack.tlog.entries._common import parse_verifier

    return parse_verifier(pem).fingerprint


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        import pytest

        pytest.fail("the Debian package 'chromium' is not installed (scripts/bootstrap installs it)")
    return found


@contextmanager
def browser() -> Iterator[Any]:
    """Headless system Chromium (never a downloaded build). ``--no-sandbox``: the tests
    may run as root, where Chromium's sandbox refuses to start."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
