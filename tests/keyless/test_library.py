"""The keyless library pieces: picking services from a signing config, refusing a CA
answer for another key, and a CertifiedSigner going through the ordinary blob flow."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sigstack.bundle.trustroot import SigningConfig, TrustedRoot
from sigstack.ca.client import CAClient
from sigstack.errors import CAClientError, TrustRootError
from sigstack.sign.keyless import certify, ephemeral_key, services_from
from tests.keyless._support import Served


def service(url: str, start: str, version: int = 1, end: str | None = None) -> dict[str, Any]:
    valid: dict[str, str] = {"start": start, **({"end": end} if end else {})}
    return {"url": url, "majorApiVersion": version, "validFor": valid, "operator": "x"}


def config(**lists: list[dict[str, Any]]) -> SigningConfig:
    doc = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json", "caUrls": [], "oidcUrls": [],
           "rekorTlogUrls": [], "tsaUrls": [], **lists}
    return SigningConfig.from_dict(doc)


def test_services_from_picks_valid_v1_newest() -> None:
    cfg = config(
        caUrls=[service("https://old-ca", "2020-01-01T00:00:00Z"), service("https://new-ca/", "2024-01-01T00:00:00Z"),
                service("https://future-ca", "2999-01-01T00:00:00Z"),
                service("https://ended-ca", "2025-01-01T00:00:00Z", end="2025-06-01T00:00:00Z")],
        rekorTlogUrls=[service("https://v2-log", "2025-01-01T00:00:00Z", 2),
                       service("https://log", "2021-01-01T00:00:00Z")],
    )
    got = services_from(cfg)
    assert (got.ca_url, got.rekor_url, got.oidc_url) == ("https://new-ca", "https://log", None)


def test_services_from_needs_a_log() -> None:
    cfg = config(caUrls=[service("https://ca", "2020-01-01T00:00:00Z")],
                 rekorTlogUrls=[service("https://v2-log", "2020-01-01T00:00:00Z", 2)])
    with pytest.raises(TrustRootError, match="no usable Rekor v1 transparency log"):
        services_from(cfg)


class _WrongKeyCA:
    """A CA double that answers with a genuine certificate, for a key other than the one
    submitted (what a confused or malicious CA could do)."""

    def __init__(self, real: CAClient) -> None:
        self.real = real

    def sign_with_key(self, token: str, signer: object) -> Any:
        return self.real.sign_with_key(token, ephemeral_key())


def test_certificate_for_another_key_is_refused(sigstore_stack: Served) -> None:
    with CAClient(sigstore_stack.ca) as ca, pytest.raises(CAClientError, match="for another public key"):
        certify(_WrongKeyCA(ca), sigstore_stack.token())  # type: ignore[arg-type]


def test_certified_signer_through_the_blob_flow(sigstore_stack: Served, tmp_path: Path) -> None:
    from sigstack.sign import sign_blob_to_log
    from sigstack.tlog.client import RekorClient

    root = TrustedRoot.from_json(sigstore_stack.trusted_root.read_bytes())
    with CAClient(sigstore_stack.ca) as ca:
        signer = certify(ca, sigstore_stack.token("lib@example.com"), trusted_root=root)
    assert signer.certificate is not None and len(signer.chain) == 2
    assert signer.verifier_pem().startswith(b"-----BEGIN CERTIFICATE-----")
    with RekorClient(sigstore_stack.tlog) as log:
        done = sign_blob_to_log(lambda: signer, io.BytesIO(b"library"), log=log, bundle=True)
    assert done.bundle is not None and done.entry is not None
    doc = json.loads(done.bundle.to_json())
    assert "publicKey" not in doc["verificationMaterial"]
    body = json.loads(base64.b64decode(doc["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
    verifier = base64.b64decode(body["spec"]["signature"]["publicKey"]["content"])
    assert verifier == signer.verifier_pem()  # the log binds the certificate, not a bare key
