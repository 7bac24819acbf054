"""Asking the development issuer for a token over HTTP."""

from __future__ import annotations

import httpx

from sigstack.errors import OIDCError


def request_token(issuer: str, subject: str | None, email: str | None, audience: str = "sigstore",
                  ttl: int = 600, timeout: float = 30.0) -> str:
    url = issuer.rstrip("/") + "/token"
    body = {"subject": subject or "", "email": email or "", "audience": audience, "ttl": ttl}
    try:
        resp = httpx.post(url, json=body, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise OIDCError(f"cannot reach the OIDC issuer at {url}: {exc}") from None
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    if resp.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("id_token"), str):
        detail = doc.get("error_description") if isinstance(doc, dict) else None
        raise OIDCError(f"the OIDC issuer at {url} answered HTTP {resp.status_code}"
                        + (f": {detail}" if detail else ""))
    token: str = doc["id_token"]
    return token
