"""Asking a Fulcio-compatible CA (ours or Sigstore's) for a signing certificate.

Both request forms of API v2: a public key with a proof of possession (the key's
signature over the token's ``email`` claim when it has one, else ``sub``, as cosign
signs it), or a CSR (as sigstore-python sends it). The keyless signing flow uses an
ephemeral ECDSA P-256 key, whose SHA-256 signature is what Fulcio checks.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack._internal import safejson
from sigstack._internal.bounded import IDENTITY, read_body
from sigstack._internal.proxy import ProxySettings
from sigstack._internal.proxy_transport import transport
from sigstack.ca.certrequest import SigningCertificate, parse_signing_certificate
from sigstack.errors import CAClientError, SigstackError
from sigstack.keys.base import Signer


def challenge_subject(token: str) -> str:
    """What the proof of possession signs: the token's ``email`` if present, else ``sub``
    (read without verifying: the CA verifies the token). Reading unverified claims is a
    base64url decode of the middle part, done here rather than with PyJWT, whose import
    (it pulls in ``urllib.request`` and ``inspect``) is about 15 ms of every keyless
    signature."""
    import binascii
    import json

    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CAClientError("the identity token is not a well-formed JWT") from None
    if not isinstance(claims, dict):
        raise CAClientError("the identity token is not a well-formed JWT")
    value = claims.get("email") or claims.get("sub")
    if not isinstance(value, str) or not value:
        raise CAClientError("the identity token has neither an email nor a sub claim")
    return value


#: the largest answer read from a CA (a certificate chain is a few kilobytes)
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class CAClient:
    def __init__(self, url: str, timeout: float = 60.0, proxies: ProxySettings | None = None) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        # proxies chosen with Go's rules, as cosign's Fulcio client does (see _internal.proxy)
        self._http = httpx.Client(timeout=timeout, headers=IDENTITY,
                                  transport=transport(proxies or ProxySettings.from_env(), True, trust_env=True))

    def _request(self, method: str, url: str, **kw: Any) -> tuple[int, bytes]:
        """Status and body, the body within :data:`MAX_RESPONSE_BYTES` and the timeout
        (a CA that streams forever or trickles is cut off; see _internal/bounded.py)."""
        req = self._http.build_request(method, url, **kw)
        resp = self._http.send(req, stream=True)
        try:
            return resp.status_code, read_body(resp, MAX_RESPONSE_BYTES, self._timeout,
                                               f"the CA's answer to {method}", CAClientError)
        finally:
            resp.close()

    def __enter__(self) -> CAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, body: dict[str, Any], token: str) -> SigningCertificate:
        endpoint = self.url + "/api/v2/signingCert"
        try:
            status, data = self._request("POST", endpoint, json=body, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise CAClientError(f"cannot reach the CA at {self.url}: {exc}") from None
        try:
            doc = safejson.loads(data)
        except ValueError:
            doc = None
        if status != 200:
            message = doc.get("message") if isinstance(doc, dict) else None
            raise CAClientError(f"the CA refused the certificate request (HTTP {status})"
                                + (f": {message}" if message else ""))
        try:
            return parse_signing_certificate(doc)
        except SigstackError as exc:
            raise CAClientError(exc.message) from None

    def sign_with_key(self, token: str, signer: Signer) -> SigningCertificate:
        """A certificate for ``signer``'s public key, proving possession by signing the
        token's challenge subject."""
        proof = signer.sign(challenge_subject(token).encode())
        body = {"credentials": {"oidcIdentityToken": token},
                "publicKeyRequest": {"publicKey": {"content": signer.public_key_pem().decode()},
                                     "proofOfPossession": base64.b64encode(proof).decode()}}
        return self._post(body, token)

    def sign_with_csr(self, token: str, csr: x509.CertificateSigningRequest) -> SigningCertificate:
        pem = csr.public_bytes(serialization.Encoding.PEM)
        return self._post({"certificateSigningRequest": base64.b64encode(pem).decode()}, token)

    def trust_bundle(self) -> list[list[x509.Certificate]]:
        try:
            status, data = self._request("GET", self.url + "/api/v2/trustBundle")
            if status != 200:
                raise CAClientError(f"fetching the CA's trust bundle from {self.url}: HTTP {status}")
            chains = safejson.loads(data)["chains"]
            return [[x509.load_pem_x509_certificate(c.encode()) for c in ch["certificates"]] for ch in chains]
        except httpx.HTTPError as exc:
            raise CAClientError(f"fetching the CA's trust bundle from {self.url}: {exc}") from None
        except (ValueError, KeyError, TypeError, x509.InvalidVersion):
            raise CAClientError("the CA's trust bundle is malformed") from None
