"""Ways the CA hands precertificates to a CT log: in process, or over RFC 6962 HTTP."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack._internal.proxy import proxy_for
from sigstack.ca import sct
from sigstack.ca.ctlog import CTLog
from sigstack.ca.errors import CTError


class LocalCT:
    """The CT log running in the CA's own process (``ca serve`` without ``--ct-url``).
    The CA's own chains need no re-checking; the entry is durable when this returns."""

    def __init__(self, log: CTLog) -> None:
        self.log = log
        self._der: dict[x509.Certificate, bytes] = {}  # the CA's chain, encoded once

    def _encoded(self, cert: x509.Certificate) -> bytes:
        found = self._der.get(cert)
        if found is None:
            found = self._der[cert] = cert.public_bytes(serialization.Encoding.DER)
        return found

    async def add_pre_chain(self, chain: Sequence[x509.Certificate], tbs: bytes | None = None) -> sct.SCT:
        ders = [chain[0].public_bytes(serialization.Encoding.DER), *(self._encoded(c) for c in chain[1:])]
        return await self.log.add_checked(list(chain), ders, precert=True, tbs=tbs)


class RemoteCT:
    """A CT log reached over HTTP (``sigstack ct serve`` or any RFC 6962 log)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + "/ct/v1/add-pre-chain"
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, proxy=proxy_for(self.url))

    async def add_pre_chain(self, chain: Sequence[x509.Certificate], tbs: bytes | None = None) -> sct.SCT:
        body = {"chain": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]}
        try:
            resp = await self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise CTError(f"cannot reach the CT log at {self.url}: {exc}") from None
        if resp.status_code != 200:
            raise CTError(f"the CT log answered HTTP {resp.status_code}: {resp.text.strip()[:200]}")
        try:
            doc = resp.json()
        except ValueError:
            raise CTError("the CT log answered malformed JSON") from None
        return sct.SCT.from_json(doc)

    async def close(self) -> None:
        await self._client.aclose()
