"""in-toto statements and cosign's predicate types (spec §2.7, §2.10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigstack._internal import safejson
from sigstack.errors import SigstackError, VerificationError
from sigstack.payload import gojson

STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
CUSTOM_PREDICATE = "https://cosign.sigstore.dev/attestation/v1"

PREDICATE_TYPES = {
    "custom": CUSTOM_PREDICATE,
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}


def predicate_uri(kind: str) -> str:
    """Map ``--type`` to its URI; any other value must itself be a URI."""
    if kind in PREDICATE_TYPES:
        return PREDICATE_TYPES[kind]
    from urllib.parse import urlparse

    parsed = urlparse(kind)
    if not parsed.scheme or not (parsed.netloc or parsed.path):
        raise SigstackError(f"invalid predicate type {kind!r}: use one of "
                            f"{', '.join(PREDICATE_TYPES)} or a URI")
    return kind


def predicate_from_file(kind: str, content: bytes, now: datetime | None = None) -> Any:
    """The predicate object: ``custom`` wraps the file as text, others must be JSON objects."""
    if kind == "custom":
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"Data": content.decode("utf-8", errors="replace"), "Timestamp": stamp}
    try:
        value = safejson.loads(content)
    except ValueError:
        raise SigstackError("the predicate file is not valid JSON") from None
    if not isinstance(value, dict):
        raise SigstackError("the predicate file must hold a JSON object")
    return value


def statement(predicate_type: str, predicate: Any, digest: str, name: str | None = None,
              annotations: Mapping[str, str] | None = None, version: str = STATEMENT_V01) -> bytes:
    alg, _, hexd = digest.partition(":")
    subject: dict[str, Any] = {}
    if name is not None:
        subject["name"] = name
    subject["digest"] = {alg: hexd}
    if annotations:
        subject["annotations"] = dict(sorted(annotations.items()))
    return gojson.dumps({"_type": version, "subject": [subject], "predicateType": predicate_type,
                         "predicate": predicate})


@dataclass(frozen=True)
class Statement:
    type: str
    predicate_type: str
    subjects: tuple[dict[str, Any], ...]
    predicate: Any
    raw: bytes

    def names_digest(self, digest: str) -> dict[str, Any] | None:
        alg, _, hexd = digest.partition(":")
        for s in self.subjects:
            d = s.get("digest")
            if isinstance(d, dict) and d.get(alg) == hexd:
                return s
        return None


def parse(data: bytes) -> Statement:
    try:
        obj = safejson.loads(data)
        subjects = obj["subject"]
        if not isinstance(subjects, list) or not all(isinstance(s, dict) for s in subjects):
            raise TypeError
        return Statement(str(obj["_type"]), str(obj["predicateType"]), tuple(subjects),
                         obj.get("predicate"), data)
    except (ValueError, KeyError, TypeError):
        raise VerificationError("the attestation payload is not an in-toto statement") from None
