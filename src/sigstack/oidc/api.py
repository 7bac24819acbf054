"""HTTP face of the development issuer (Starlette). NOT FOR PRODUCTION.

For each issuer (``/`` email, ``/github`` GitHub Actions):
``/.well-known/openid-configuration``, ``/jwks``, and ``POST /token`` (JSON or form:
``subject``, ``email``, ``audience``, ``ttl``) answering ``{"id_token": JWT}``.
GitHub's token-request protocol is served at ``/github/actions-token``: ``GET`` with
``Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`` and an ``audience`` query
parameter, answering ``{"value": JWT}``. Clients append the audience differently
(``&audience=`` to a URL that already has a query, as GitHub's does, or ``?audience=``),
so both arrive as a query parameter, and a ``&audience=`` glued to a query-less path is
read from the path too.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sigstack.errors import OIDCError
from sigstack.oidc.issuer import DevIssuer


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": message}, status_code=status)


def create_app(issuer: DevIssuer) -> Starlette:
    def routes_for(github: bool) -> list[Route]:
        prefix = "/github" if github else ""

        async def discovery(request: Request) -> Response:
            return JSONResponse(issuer.discovery(github))

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [issuer.public_jwk()]})

        async def token(request: Request) -> Response:
            raw = await request.body()
            params: dict[str, Any]
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    params = json.loads(raw or b"{}")
                except ValueError:
                    return _error(400, "the request body is not valid JSON")
                if not isinstance(params, dict):
                    return _error(400, "the request body must be a JSON object")
            else:  # application/x-www-form-urlencoded (parsed here: no multipart dependency)
                try:
                    params = dict(urllib.parse.parse_qsl(raw.decode()))
                except UnicodeDecodeError:
                    return _error(400, "the request body is not UTF-8")
            try:
                ttl = int(params.get("ttl", 600))
                extra = params.get("claims")
                if extra is not None and not isinstance(extra, dict):
                    return _error(400, "claims must be a JSON object")
                jwt_text = issuer.mint(params.get("subject") or None, params.get("email") or None,
                                       str(params.get("audience") or "sigstore"), github, ttl, extra)
            except (OIDCError, ValueError) as exc:
                return _error(400, str(exc))
            return JSONResponse({"id_token": jwt_text, "token_type": "Bearer", "expires_in": ttl})

        return [
            Route(prefix + "/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route(prefix + "/jwks", jwks, methods=["GET"]),
            Route(prefix + "/token", token, methods=["POST"]),
        ]

    async def actions_token(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), issuer.request_token):
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        audience = request.query_params.get("audience")
        rest = request.path_params.get("rest", "")
        if audience is None and "audience=" in rest:  # "&audience=x" glued to a query-less URL
            audience = rest.split("audience=", 1)[1].split("&", 1)[0]
        return JSONResponse({"count": 1, "value": issuer.mint(audience=audience or "sigstore", github=True)})

    return Starlette(routes=[
        *routes_for(False), *routes_for(True),
        Route("/github/actions-token", actions_token, methods=["GET"]),
        Route("/github/actions-token{rest:path}", actions_token, methods=["GET"]),
    ])
