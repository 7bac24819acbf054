"""Interactive logins at an OIDC issuer: the browser flow and the device flow.

* **Browser** (RFC 6749 authorization code + RFC 7636 PKCE S256, RFC 8252 loopback
  redirect): a one-shot HTTP listener on ``127.0.0.1`` with a random port receives the
  redirect; ``state`` and ``nonce`` are random per login and checked on the way back.
  This is what cosign (sigstore/sigstore ``oauthflow``) and sigstore-python do.
* **Device** (RFC 8628): for a machine without a browser the user is shown a code and
  a URL to open elsewhere, and the token endpoint is polled at the issuer's interval.

The issuer's endpoints come from its discovery document. The library does not print
or open anything itself: ``show(url, user_code)`` is the caller's (the CLI prints and
opens a browser). The loopback listener is ``http.server``: a single request on a
private port needs nothing more, and it keeps the flow free of an ASGI server.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx

from sigstack.errors import IdentityTokenError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Show = Callable[[str, "str | None"], None]


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str | None
    token: str
    device: str | None


def json_body(resp: httpx.Response) -> Any:
    """The response's JSON, or None when it has none (an error page, a proxy's HTML)."""
    try:
        return resp.json()
    except ValueError:
        return None


def discover(issuer: str, timeout: float = 30.0) -> Endpoints:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        resp = httpx.get(url, timeout=timeout)
        doc = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise IdentityTokenError(f"OIDC discovery at {url} failed: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("token_endpoint"), str):
        raise IdentityTokenError(f"OIDC discovery at {url} gave no token endpoint")
    auth, device = doc.get("authorization_endpoint"), doc.get("device_authorization_endpoint")
    return Endpoints(issuer, auth if isinstance(auth, str) else None, doc["token_endpoint"],
                     device if isinstance(device, str) else None)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _id_token(resp: httpx.Response, where: str) -> str:
    doc = json_body(resp)
    if resp.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("id_token"), str):
        reason = doc.get("error_description") or doc.get("error") if isinstance(doc, dict) else None
        raise IdentityTokenError(f"{where}: the token endpoint answered HTTP {resp.status_code}"
                                 + (f": {reason}" if reason else ""))
    token: str = doc["id_token"]
    return token


def _check_nonce(token: str, nonce: str) -> None:
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise IdentityTokenError("the issuer's identity token is not a JWT") from None
    if claims.get("nonce") != nonce:
        raise IdentityTokenError("the issuer's identity token does not carry this login's nonce")


class _Callback(BaseHTTPRequestHandler):
    result: dict[str, str]
    done: threading.Event

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        if urllib.parse.urlsplit(self.path).path != "/auth/callback":
            self.send_error(404)
            return
        self.server.result = query  # type: ignore[attr-defined]
        body = b"<html><body>Login complete: you may close this window.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done.set()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


def browser_flow(issuer: str, client_id: str, show: Show, *, client_secret: str | None = None,
                 redirect_url: str | None = None, timeout: float = 300.0) -> str:
    """Authorization code + PKCE with a loopback redirect; returns the ID token."""
    ep = discover(issuer)
    if ep.authorization is None:
        raise IdentityTokenError(f"the OIDC issuer {issuer} offers no authorization endpoint")
    server = HTTPServer(("127.0.0.1", 0), _Callback)
    server.done = threading.Event()  # type: ignore[attr-defined]
    server.result = {}  # type: ignore[attr-defined]
    redirect = redirect_url or f"http://localhost:{server.server_address[1]}/auth/callback"
    verifier = _b64url(secrets.token_bytes(32))
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect,
             "scope": "openid email", "state": state, "nonce": nonce,
             "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
             "code_challenge_method": "S256"}
    sep = "&" if "?" in ep.authorization else "?"
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    worker.start()
    try:
        show(ep.authorization + sep + urllib.parse.urlencode(query), None)
        if not server.done.wait(timeout):  # type: ignore[attr-defined]
            raise IdentityTokenError(f"no login came back from the browser within {int(timeout)} s")
    finally:
        server.shutdown()
        server.server_close()
    result: dict[str, str] = server.result  # type: ignore[attr-defined]
    if "error" in result:
        reason = result.get("error_description") or result["error"]
        raise IdentityTokenError(f"the OIDC issuer refused the login: {reason}")
    if result.get("state") != state:
        raise IdentityTokenError("the login's redirect carries the wrong state (possible CSRF)")
    if not result.get("code"):
        raise IdentityTokenError("the login's redirect carries no authorization code")
    form = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": redirect,
            "code_verifier": verifier, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    try:
        resp = httpx.post(ep.token, data=form, timeout=30)
    except httpx.HTTPError as exc:
        raise IdentityTokenError(f"exchanging the authorization code at {ep.token} failed: {exc}") from None
    token = _id_token(resp, "exchanging the authorization code")
    _check_nonce(token, nonce)
    return token


def device_flow(issuer: str, client_id: str, show: Show, *, client_secret: str | None = None,
                timeout: float = 300.0, sleep: Callable[[float], None] = time.sleep) -> str:
    """RFC 8628 device authorization; returns the ID token."""
    ep = discover(issuer)
    if ep.device is None:
        raise IdentityTokenError(f"the OIDC issuer {issuer} offers no device authorization endpoint")
    form = {"client_id": client_id, "scope": "openid email"}
    if client_secret:
        form["client_secret"] = client_secret
    try:
        resp = httpx.post(ep.device, data=form, timeout=30)
        doc = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IdentityTokenError(f"device authorization at {ep.device} failed: {exc}") from None
    if resp.status_code != 200 or not isinstance(doc, dict) or not isinstance(doc.get("device_code"), str):
        raise IdentityTokenError(f"device authorization at {ep.device} answered HTTP {resp.status_code}")
    show(str(doc.get("verification_uri_complete") or doc.get("verification_uri") or ""), str(doc.get("user_code", "")))
    interval = float(doc.get("interval") or 5)
    deadline = time.monotonic() + min(timeout, float(doc.get("expires_in") or timeout))
    poll = {"grant_type": DEVICE_GRANT, "device_code": doc["device_code"], "client_id": client_id}
    if client_secret:
        poll["client_secret"] = client_secret
    while True:
        try:
            answer = httpx.post(ep.token, data=poll, timeout=30)
        except httpx.HTTPError as exc:
            raise IdentityTokenError(f"polling {ep.token} failed: {exc}") from None
        body = json_body(answer) if answer.status_code == 400 else None
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending" or error == "slow_down":
            if error == "slow_down":
                interval += 5
            if time.monotonic() + interval > deadline:
                raise IdentityTokenError("the device login was not completed in time")
            sleep(interval)
            continue
        return _id_token(answer, "the device login")
