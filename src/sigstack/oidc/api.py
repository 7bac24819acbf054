"""HTTP face of the development issuer (Starlette). NOT FOR PRODUCTION.

For each issuer (``/`` email, ``/github`` GitHub Actions):
``/.well-known/openid-configuration``, ``/jwks``, and ``POST /token`` (JSON or form:
``subject``, ``email``, ``audience``, ``ttl``) answering ``{"id_token": JWT}``.
The email issuer also serves dev-only interactive logins, so the browser and device
flows of keyless clients can be exercised: ``GET /auth`` (authorization code + PKCE
S256, loopback ``redirect_uri`` only) approves at once and redirects with the code,
for ``login_hint`` or the default identity; ``POST /device/code`` starts a device
login that ``GET /device?user_code=...`` approves; ``POST /token`` redeems both
(``grant_type`` ``authorization_code`` or the device grant). Nobody is authenticated.
GitHub's token-request protocol is served at ``/github/actions-token``: ``GET`` with
``Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`` and an ``audience`` query
parameter, answering ``{"value": JWT}``. Clients append the audience differently
(``&audience=`` to a URL that already has a query, as GitHub's does, or ``?audience=``),
so both arrive as a query parameter, and a ``&audience=`` glued to a query-less path is
read from the path too.
"""

from __future__ import annotations

import hmac
import urllib.parse
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sigstack._internal import safejson
from sigstack.errors import OIDCError
from sigstack.oidc.issuer import DevIssuer

#: the largest token or device-code request read (form or JSON: a few hundred bytes)
MAX_BODY = 64 * 1024


async def _body(request: Request) -> bytes | Response:
    """The request body, or the error answer when it is over :data:`MAX_BODY`."""
    from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

    try:
        return await read_body(request, MAX_BODY)
    except BodyTooLarge:
        return _error(413, f"request body larger than {MAX_BODY} bytes")
    except ClientGone:
        return _error(400, "the client closed the connection before sending the whole body")


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": message}, status_code=status)


def _redeem(issuer: DevIssuer, params: dict[str, str]) -> Response:
    """The token endpoint's interactive grants (dev-only; see the module docstring)."""
    from sigstack.oidc.interactive import DEVICE_GRANT

    grant = params.get("grant_type")
    try:
        if grant == "authorization_code":
            login = issuer.logins.redeem_code(params)
        elif grant == DEVICE_GRANT:
            pending = issuer.logins.redeem_device(params.get("device_code", ""))
            if pending is None:
                return JSONResponse({"error": "authorization_pending"}, status_code=400)
            login = pending
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    except OIDCError as exc:
        error, _, description = str(exc).partition(": ")
        return JSONResponse({"error": error, "error_description": description}, status_code=400)
    extra = {"nonce": login.nonce} if login.nonce else None
    token = issuer.mint(None, login.email, login.client_id or "sigstore", False, 600, extra)
    return JSONResponse({"id_token": token, "access_token": token, "token_type": "Bearer", "expires_in": 600})


def create_app(issuer: DevIssuer) -> Starlette:
    def routes_for(github: bool) -> list[Route]:
        prefix = "/github" if github else ""

        async def discovery(request: Request) -> Response:
            return JSONResponse(issuer.discovery(github))

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [issuer.public_jwk()]})

        async def token(request: Request) -> Response:
            raw = await _body(request)
            if isinstance(raw, Response):
                return raw
            params: dict[str, Any]
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    params = safejson.loads(raw or b"{}")  # json.loads: RecursionError, a 500
                except ValueError:
                    return _error(400, "the request body is not valid JSON")
                if not isinstance(params, dict):
                    return _error(400, "the request body must be a JSON object")
            else:  # application/x-www-form-urlencoded (parsed here: no multipart dependency)
                try:
                    params = dict(urllib.parse.parse_qsl(raw.decode()))
                except UnicodeDecodeError:
                    return _error(400, "the request body is not UTF-8")
            grant = params.get("grant_type")
            if grant is not None and not github:
                return _redeem(issuer, {k: str(v) for k, v in params.items()})
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

    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            code = issuer.logins.authorize(params)
        except OIDCError as exc:
            return _error(400, str(exc))
        query = urllib.parse.urlencode({"code": code, **({"state": params["state"]} if "state" in params else {})})
        return RedirectResponse(params["redirect_uri"] + ("&" if "?" in params["redirect_uri"] else "?") + query,
                                status_code=302)

    async def device_code(request: Request) -> Response:
        raw = await _body(request)
        if isinstance(raw, Response):
            return raw
        params = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
        device, user = issuer.logins.start_device(params.get("client_id", ""))
        verify = issuer.issuer_url(False) + "/device"
        return JSONResponse({"device_code": device, "user_code": user, "verification_uri": verify,
                             "verification_uri_complete": f"{verify}?user_code={user}",
                             "expires_in": 600, "interval": 1})

    async def device_page(request: Request) -> Response:
        user = request.query_params.get("user_code", "")
        if not issuer.logins.approve_device(user, request.query_params.get("login_hint")):
            return _error(400, "unknown user_code")
        return HTMLResponse("<html><body>Device login approved (development issuer).</body></html>")

    async def actions_token(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode("utf-8", "replace"), issuer.request_token.encode()):  # str needs ASCII
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        audience = request.query_params.get("audience")
        rest = request.path_params.get("rest", "")
        if audience is None and "audience=" in rest:  # "&audience=x" glued to a query-less URL
            audience = rest.split("audience=", 1)[1].split("&", 1)[0]
        return JSONResponse({"count": 1, "value": issuer.mint(audience=audience or "sigstore", github=True)})

    return Starlette(routes=[
        *routes_for(False), *routes_for(True),
        Route("/auth", authorize, methods=["GET"]),
        Route("/device/code", device_code, methods=["POST"]),
        Route("/device", device_page, methods=["GET"]),
        Route("/github/actions-token", actions_token, methods=["GET"]),
        Route("/github/actions-token{rest:path}", actions_token, methods=["GET"]),
    ])
