"""The shared conformance and public-good bundle vectors, read in place and parsed
with plain ``json`` (the bundle model is not under test here: the keyless building
blocks are), into what each check takes."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509

from sigstack.bundle.trustroot import TrustedRoot

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
CONFORMANCE = VECTORS / "conformance"
BUNDLES = VECTORS / "bundles"


@cache
def cases() -> list[dict[str, Any]]:
    return list(json.loads((CONFORMANCE / "CASES.json").read_bytes())["cases"])


def case(name: str) -> dict[str, Any]:
    return next(c for c in cases() if c["case"] == name)


@cache
def trusted_root(path: Path) -> TrustedRoot:
    return TrustedRoot.from_json(path.read_bytes())


@dataclass
class Parsed:
    """One bundle, taken apart."""

    doc: dict[str, Any]
    certs: list[x509.Certificate]
    signature: bytes
    tokens: list[bytes]
    entry: dict[str, Any] | None
    dsse: dict[str, Any] | None = None
    artifact: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    def integrated_time(self) -> datetime | None:
        """The SET-backed integrated time (only with an inclusion promise, as sigstore-python)."""
        e = self.entry
        if e is None or "inclusionPromise" not in e or not int(e.get("integratedTime") or 0):
            return None
        return datetime.fromtimestamp(int(e["integratedTime"]), UTC)


def _b64(text: str) -> bytes:
    return base64.b64decode(text.replace("\n", ""))


def parse_bundle(path: Path, artifact: Path | None = None) -> Parsed:
    doc = json.loads(path.read_bytes())
    vm = doc["verificationMaterial"]
    raw = [vm["certificate"]] if "certificate" in vm else vm.get("x509CertificateChain", {}).get("certificates", [])
    certs = [x509.load_der_x509_certificate(_b64(c["rawBytes"])) for c in raw]
    dsse = doc.get("dsseEnvelope")
    sig = _b64(dsse["signatures"][0]["sig"]) if dsse else _b64(doc["messageSignature"]["signature"])
    tokens = [_b64(t["signedTimestamp"])
              for t in (vm.get("timestampVerificationData") or {}).get("rfc3161Timestamps") or []]
    entries = vm.get("tlogEntries") or []
    return Parsed(doc, certs, sig, tokens, entries[0] if entries else None, dsse,
                  artifact.read_bytes() if artifact else b"")


def parse_case(c: dict[str, Any]) -> Parsed:
    return parse_bundle(CONFORMANCE / c["bundle"], CONFORMANCE / c["artifact"])


def case_root(c: dict[str, Any]) -> TrustedRoot:
    return trusted_root(CONFORMANCE / c["trusted_root"])
