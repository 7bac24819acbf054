"""Interactive logins against the development issuer of `sigstack serve`: the browser
flow (authorization code + PKCE S256, loopback redirect) and the device flow (RFC 8628).
The "browser" is a test function (or, for the CLI, a ``$BROWSER`` stub script) that
follows the issuer's redirect the way a browser would; the dev issuer approves at once
(dev-only), so what is tested is the client's side of each protocol and the token."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import httpx
import jwt
import pytest

from sigstack.errors import IdentityTokenError
from sigstack.oidc.interactive import browser_flow, device_flow
from tests.helpers import run_peer, sigstack
from tests.keyless._support import Served
from tests.tlog._support import SIGSTACK


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def follow(url: str, code: str | None = None) -> None:
    """What the browser does: load the authorization URL and follow the redirect home."""
    assert httpx.get(url, follow_redirects=True, timeout=10).status_code == 200


def test_browser_flow(sigstore_stack: Served) -> None:
    shown: list[str] = []

    def show(url: str, code: str | None) -> None:
        shown.append(url)
        follow(url)

    token = browser_flow(sigstore_stack.oidc, "sigstore", show)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(shown[0]).query))
    assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
    assert query["redirect_uri"].startswith("http://localhost:")
    got = claims(token)
    assert got["email"] == "developer@example.com" and got["aud"] == "sigstore"
    assert got["nonce"] == query["nonce"] and got["iss"] == sigstore_stack.oidc


def test_browser_flow_refuses_a_forged_redirect(sigstore_stack: Served) -> None:
    def attacker(url: str, code: str | None) -> None:
        redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["redirect_uri"]
        httpx.get(redirect + "?code=stolen&state=not-the-one", timeout=10)

    with pytest.raises(IdentityTokenError, match="wrong state"):
        browser_flow(sigstore_stack.oidc, "sigstore", attacker)


def test_browser_flow_needs_an_authorization_endpoint(sigstore_stack: Served) -> None:
    with pytest.raises(IdentityTokenError, match="offers no authorization endpoint"):
        browser_flow(sigstore_stack.oidc + "/github", "sigstore", follow)


def test_device_flow_polls_until_approved(sigstore_stack: Served) -> None:
    shown: list[tuple[str, str | None]] = []
    sleeps: list[float] = []

    def show(url: str, code: str | None) -> None:
        shown.append((url, code))  # the user has not approved yet: the first poll is pending

    def sleep(seconds: float) -> None:  # the user approves while the client waits
        sleeps.append(seconds)
        follow(shown[0][0])

    token = device_flow(sigstore_stack.oidc, "sigstore", show, sleep=sleep)
    assert sleeps == [1.0]  # one authorization_pending answer, at the issuer's interval
    assert shown[0][1] and f"user_code={shown[0][1]}" in shown[0][0]
    assert claims(token)["email"] == "developer@example.com"


def test_dev_issuer_rejects_bad_pkce_and_redirects(sigstore_stack: Served) -> None:
    base = sigstore_stack.oidc
    q = {"response_type": "code", "client_id": "sigstore", "code_challenge": "x" * 43,
         "code_challenge_method": "S256", "redirect_uri": "https://evil.example/cb"}
    r = httpx.get(base + "/auth", params=q, timeout=10)
    assert r.status_code == 400 and "loopback" in r.json()["error_description"]
    q["redirect_uri"] = "http://127.0.0.1:1/cb"
    r = httpx.get(base + "/auth", params=q, timeout=10)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["location"]).query))["code"]
    r = httpx.post(base + "/token", data={"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": q["redirect_uri"], "code_verifier": "wrong"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


BROWSER_STUB = """#!{python}
import sys, httpx
assert httpx.get(sys.argv[1], follow_redirects=True, timeout=10).status_code == 200
"""


def test_cli_browser_login_signs(cosign: str, sigstore_stack: Served, tmp_path: Path) -> None:
    """``--fulcio-auth-flow normal``: the CLI opens $BROWSER (a stub that follows the
    redirect), receives the code on its loopback port, and signs as the logged-in user."""
    stub = tmp_path / "browser"
    stub.write_text(BROWSER_STUB.format(python=sys.executable))
    stub.chmod(0o755)
    s = sigstore_stack
    art, bundle = tmp_path / "a.txt", tmp_path / "a.sigstore.json"
    art.write_text("logged in through the browser\n")
    r = sigstack("sign-blob", "--fulcio-auth-flow", "normal", "--oidc-disable-ambient-providers",
                 "--signing-config", s.signing_config, "--bundle", bundle, art,
                 env={"BROWSER": f"{stub} %s"}, offline=None, timeout=60)
    assert r.code == 0, r.err
    assert "Your browser will now be opened to:" in r.err
    ok = run_peer(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root,
                  "--certificate-identity", "developer@example.com", "--certificate-oidc-issuer", s.oidc, art)
    assert ok.code == 0, ok.err


def test_cli_device_login_without_a_terminal(sigstore_stack: Served, tmp_path: Path) -> None:
    """No terminal and no token: cosign's device flow; the user approves at the URL shown."""
    import os

    s = sigstore_stack
    art, bundle = tmp_path / "a.txt", tmp_path / "a.sigstore.json"
    art.write_text("logged in on another device\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    proc = subprocess.Popen([SIGSTACK, "sign-blob", "--yes", "--oidc-disable-ambient-providers",
                             "--signing-config", str(s.signing_config), "--bundle", str(bundle), str(art)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    lines = []
    for raw in proc.stderr:
        line = raw.decode()
        lines.append(line)
        if "Enter the verification code" in line:
            follow(line.rsplit(" ", 1)[1].strip())
            break
    rest = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "Non-interactive mode detected, using device flow." in "".join(lines)
    assert bundle.exists()
