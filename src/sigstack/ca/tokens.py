"""OIDC identity token verification, as Fulcio does it with go-oidc.

For a token whose ``iss`` the configuration accepts: discover the issuer
(``/.well-known/openid-configuration``, whose ``issuer`` must equal ``iss``), fetch
its JWKS, verify the signature with the key named by ``kid`` (PyJWT), require
``exp`` and ``iat``, check ``exp``/``nbf``/``iat`` with a small clock skew, and
require the configured client ID (``sigstore``) in ``aud``. Keys are cached per
issuer and fetched again when a token names an unknown ``kid`` (key rotation), at
most once per :data:`REFRESH_INTERVAL` so forged ``kid`` values cannot make the CA
hammer an issuer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from sigstack._internal.proxy import proxy_for
from sigstack.ca.config import CAConfig, IssuerConfig
from sigstack.ca.errors import TokenError
from sigstack.ca.identity import Principal, principal_from_claims

LEEWAY = 30  # seconds of clock skew allowed on exp / nbf / iat
REFRESH_INTERVAL = 5.0  # seconds between JWKS refreshes of one issuer
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@dataclass
class _Keys:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched: float = 0.0


class JWKSCache:
    """Discovery + JWKS per issuer, fetched lazily over HTTP (httpx)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout
        self._keys: dict[str, _Keys] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _fetch(self, issuer: str, ca_cert: str = "") -> dict[str, jwt.PyJWK]:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        verify: ssl.SSLContext | bool = True
        if ca_cert:  # the issuer's TLS certificate is under a private CA (Fulcio's ca-cert)
            try:
                verify = ssl.create_default_context(cadata=ca_cert)
            except (ssl.SSLError, ValueError):
                raise TokenError(f"the configured ca-cert of issuer {issuer} is not a PEM certificate") from None
        try:
            # Proxies by Go's rules, as for every other client here (sigstack._internal.proxy).
            async with httpx.AsyncClient(timeout=self._timeout, trust_env=False, proxy=proxy_for(url),
                                         verify=verify) as client:
                resp = await client.get(url)
                if resp.status_code != 200:
                    raise TokenError(f"issuer discovery at {url} answered HTTP {resp.status_code}")
                disc = resp.json()
                if not isinstance(disc, dict) or disc.get("issuer") != issuer:
                    raise TokenError(f"issuer discovery at {url} names a different issuer")
                jwks_uri = disc.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise TokenError(f"issuer discovery at {url} has no jwks_uri")
                resp = await client.get(jwks_uri)
                if resp.status_code != 200:
                    raise TokenError(f"fetching the issuer's keys from {jwks_uri} answered HTTP {resp.status_code}")
                doc = resp.json()
        except httpx.HTTPError as exc:
            raise TokenError(f"cannot reach the token issuer {issuer}: {exc}") from None
        except ValueError:
            raise TokenError(f"the token issuer {issuer} answered malformed JSON") from None
        keys: dict[str, jwt.PyJWK] = {}
        for item in doc.get("keys", []) if isinstance(doc, dict) else []:
            try:
                key = jwt.PyJWK(item)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # keys of unsupported types are skipped, as go-oidc does
            keys[str(item.get("kid", ""))] = key
        return keys

    async def key(self, issuer: str, kid: str, ca_cert: str = "") -> jwt.PyJWK:
        entry = self._keys.setdefault(issuer, _Keys())
        if kid in entry.keys:
            return entry.keys[kid]
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            if kid not in entry.keys and time.monotonic() - entry.fetched >= REFRESH_INTERVAL:
                entry.keys = await self._fetch(issuer, ca_cert)
                entry.fetched = time.monotonic()
        if kid not in entry.keys:
            if not kid and len(entry.keys) == 1:  # an issuer with one key may omit kid
                return next(iter(entry.keys.values()))
            raise TokenError(f"the token's signing key {kid!r} is not among the issuer's published keys")
        return entry.keys[kid]


def _peek(token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The header and claims, unverified: only to pick the issuer and key. PyJWT then
    decodes and checks everything once (each of its decodes scans the whole token
    character by character in Python, so it is not asked three times)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("the token is not a well-formed JWT")
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise TokenError("the token is not a well-formed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("the token is not a well-formed JWT")
    return header, claims


class TokenVerifier:
    def __init__(self, config: CAConfig, jwks: JWKSCache | None = None, leeway: int = LEEWAY) -> None:
        self.config = config
        self.jwks = jwks or JWKSCache()
        self.leeway = leeway

    async def verify(self, token: str) -> tuple[Principal, IssuerConfig]:
        """The principal a token proves, or :class:`TokenError` saying why not."""
        if not token:
            raise TokenError("no identity token in the request")
        header, unverified = _peek(token)
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise TokenError("the token has no 'iss' claim")
        issuer = self.config.lookup(iss)
        if issuer is None:
            raise TokenError(f"the issuer {iss!r} is not accepted by this CA")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenError(f"unsupported token signature algorithm {alg!r}")
        key = await self.jwks.key(iss, str(header.get("kid") or ""), issuer.ca_cert)
        try:
            claims = jwt.decode(
                token, key, algorithms=[str(alg)], audience=issuer.client_id, issuer=iss,
                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.ImmatureSignatureError as exc:  # PyJWT raises it for a future iat too
            if "iat" in str(exc):
                raise TokenError("the token's iat is in the future") from None
            raise TokenError("the token is not valid yet (nbf is in the future)") from None
        except jwt.InvalidIssuedAtError:
            raise TokenError("the token's iat is malformed") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"the token's audience does not include {issuer.client_id!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify with the issuer's key") from None
        except jwt.DecodeError:
            raise TokenError("the token is not a well-formed JWT") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is invalid: {exc}") from None
        # RFC 7519 NumericDate is a JSON number: PyJWT takes "1796128962" through int(),
        # go-oidc (Fulcio) refuses it, and so do we (found by the jwt-claims fuzz target)
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise TokenError(f"the token's {name} claim is not a number")
        return principal_from_claims(claims, issuer, self.config), issuer
