"""Asking an RFC 3161 timestamp authority (ours, sigstore/timestamp-authority, any
RFC 3161 TSA) to timestamp a signature, as cosign and sigstore-python do.

The request is built with ``rfc3161-client``: a SHA-256 imprint of the *signature
bytes* (what Sigstore verifiers check the timestamp over), a random nonce, and
``certReq`` set (as cosign asks: the token then embeds the TSA's certificate, so a
verifier holding only the root can check it). The answer is checked before it is
kept, because a bundle carrying a wrong timestamp fails verification later where the
cause is harder to see: HTTP 200/201, a ``TimeStampResp`` that parses, status granted,
the nonce and the imprint echoed. Its signature is not verified here (the client may
not know the TSA's chain); :func:`sigstack.verify.timestamp.verify_timestamps` does
that wherever a trusted root is at hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import httpx

from sigstack._internal import safejson
from sigstack._internal.bounded import IDENTITY, read_body
from sigstack._internal.proxy import ProxySettings
from sigstack._internal.proxy_transport import transport
from sigstack.errors import TSAClientError

#: a TimeStampResp is a few kilobytes (a token and perhaps the TSA's certificate)
MAX_RESPONSE_BYTES = 1024 * 1024


class TimestampClient:
    """One TSA endpoint: ``url`` is the full timestamp URL (a signing config's
    ``tsaUrls[].url``, cosign's ``--timestamp-server-url``), such as
    ``https://timestamp.sigstore.dev/api/v1/timestamp``."""

    def __init__(self, url: str, timeout: float = 30.0, proxies: ProxySettings | None = None) -> None:
        self.url = url
        self._timeout = timeout
        self._http = httpx.Client(timeout=timeout, headers=IDENTITY,
                                  transport=transport(proxies or ProxySettings.from_env(), True, trust_env=True))

    def __enter__(self) -> TimestampClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def timestamp(self, signature: bytes) -> bytes:
        """A DER ``TimeStampResp`` over ``signature``, checked as the module docstring says."""
        from rfc3161_client import PKIStatus, TimestampRequestBuilder, decode_timestamp_response
        from rfc3161_client.base import HashAlgorithm

        request = (TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(signature)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
        try:
            req = self._http.build_request("POST", self.url, content=request.as_bytes(),
                                           headers={"Content-Type": "application/timestamp-query"})
            resp = self._http.send(req, stream=True)
            try:
                body = read_body(resp, MAX_RESPONSE_BYTES, self._timeout, "the timestamp authority's answer",
                                 TSAClientError)
            finally:
                resp.close()
        except httpx.HTTPError as exc:
            raise TSAClientError(f"cannot reach the timestamp authority at {self.url}: {exc}") from None
        if resp.status_code not in (200, 201):
            message = None
            try:
                doc = safejson.loads(body)
                message = doc.get("message") if isinstance(doc, dict) else None
            except (ValueError, UnicodeDecodeError):
                pass
            raise TSAClientError(f"the timestamp authority at {self.url} refused the request "
                                 f"(HTTP {resp.status_code})" + (f": {message}" if message else ""))
        try:
            answer = decode_timestamp_response(body)
        except (ValueError, TypeError):
            raise TSAClientError(f"the timestamp authority at {self.url} answered with something that is not "
                                 "an RFC 3161 timestamp response") from None
        if PKIStatus(answer.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            text = "; ".join(answer.status_string) if answer.status_string else ""
            raise TSAClientError(f"the timestamp authority at {self.url} refused to timestamp (status "
                                 f"{PKIStatus(answer.status).name})" + (f": {text}" if text else ""))
        info = answer.tst_info
        if info.nonce != request.nonce:
            raise TSAClientError(f"the timestamp from {self.url} does not echo the request's nonce")
        if info.message_imprint.message != hashlib.sha256(signature).digest():
            raise TSAClientError(f"the timestamp from {self.url} is not over the signature")
        return body


def timestamper(urls: Sequence[str], timeout: float = 30.0) -> Callable[[bytes], list[bytes]]:
    """A :data:`sigstack.sign.blob.Timestamper` asking each of ``urls`` in turn; any
    failure is an error (cosign's rule: a signature asked to be timestamped is never
    stored without its timestamp)."""
    def stamp(signature: bytes) -> list[bytes]:
        out = []
        for url in urls:
            with TimestampClient(url, timeout) as client:
                out.append(client.timestamp(signature))
        return out

    return stamp
