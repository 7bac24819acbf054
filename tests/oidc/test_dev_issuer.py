"""The development OIDC issuer: discovery, keys, minted tokens, GitHub's token-request
protocol in both URL forms, and the ``oidc token`` command (asking the server, or
signing with the key in the state directory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.ca._support import Server, oidc_server
from tests.helpers import assert_clean_error, sigstack


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("oidc")
    server = oidc_server(work, work / "state")
    yield server
    server.stop()


def _state(server: Server) -> Path:
    return Path(server.workdir) / "state"


def _verify(server: Server, token: str, github: bool = False, audience: str = "sigstore") -> dict[str, object]:
    iss = server.url + ("/github" if github else "")
    disc = httpx.get(iss + "/.well-known/openid-configuration").json()
    assert disc["issuer"] == iss
    jwks = jwt.PyJWKClient(disc["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=iss)
    return claims


def test_email_token_from_the_endpoint(issuer: Server) -> None:
    resp = httpx.post(issuer.url + "/token", json={"email": "alice@example.com"})
    assert resp.status_code == 200
    claims = _verify(issuer, resp.json()["id_token"])
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    assert claims["sub"] == "alice@example.com"
    assert claims["exp"] - claims["iat"] == 600  # type: ignore[operator]


def test_github_token_has_githubs_claims_and_no_email(issuer: Server) -> None:
    resp = httpx.post(issuer.url + "/github/token", data={"audience": "sigstore"})
    claims = _verify(issuer, resp.json()["id_token"], github=True)
    assert "email" not in claims
    assert claims["sub"] == "repo:octo-org@123456/octo-repo@456789:ref:refs/heads/main"
    assert claims["job_workflow_ref"] == "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
    for name in ("repository_id", "repository_owner_id", "run_id", "run_attempt", "sha", "event_name",
                 "workflow_ref", "workflow_sha", "job_workflow_sha", "runner_environment", "repository_visibility"):
        assert claims[name], name


@pytest.mark.parametrize("suffix", ["/github/actions-token?api-version=2.0&audience=sigstore",
                                    "/github/actions-token?audience=sigstore",
                                    "/github/actions-token&audience=sigstore"])
def test_actions_token_request(issuer: Server, suffix: str) -> None:
    bearer = (_state(issuer) / "actions-request-token").read_text().strip()
    resp = httpx.get(issuer.url + suffix, headers={"Authorization": f"bearer {bearer}"})
    assert resp.status_code == 200, resp.text
    claims = _verify(issuer, resp.json()["value"], github=True)
    assert claims["aud"] == "sigstore"


def test_actions_token_audience_and_refusal(issuer: Server) -> None:
    bearer = (_state(issuer) / "actions-request-token").read_text().strip()
    resp = httpx.get(issuer.url + "/github/actions-token?audience=other", headers={"Authorization": f"Bearer {bearer}"})
    _verify(issuer, resp.json()["value"], github=True, audience="other")
    resp = httpx.get(issuer.url + "/github/actions-token", headers={"Authorization": "Bearer wrong"})
    assert (resp.status_code, resp.json()) == (401, {"message": "Bad credentials"})
    resp = httpx.post(issuer.url + "/token", json={})
    assert (resp.status_code, resp.json()["error_description"]) == (400, "give a subject or an email for the token")


def test_oidc_token_command_asks_the_server(issuer: Server) -> None:
    out = sigstack("oidc", "token", "--issuer", issuer.url, "--email", "bob@example.com")
    assert out.code == 0, out.err
    claims = _verify(issuer, out.stdout.strip())
    assert claims["email"] == "bob@example.com"
    out = sigstack("oidc", "token", "--issuer", issuer.url + "/github")
    assert out.code == 0, out.err
    assert _verify(issuer, out.stdout.strip(), github=True)["repository"] == "octo-org/octo-repo"


def test_oidc_token_command_signs_with_the_state_key(issuer: Server) -> None:
    out = sigstack("oidc", "token", "--state", _state(issuer), "--subject", "svc-1", "--audience", "x", "--ttl", "60")
    assert out.code == 0, out.err
    claims = _verify(issuer, out.stdout.strip(), audience="x")
    assert claims["sub"] == "svc-1" and "email" not in claims
    assert int(claims["exp"]) - time.time() <= 61  # type: ignore[call-overload]


def test_oidc_token_errors(issuer: Server, tmp_path: Path) -> None:
    from tests.tlog._support import free_port

    assert_clean_error(sigstack("oidc", "token", "--email", "a@example.com"), "give --issuer URL (or --state DIR)")
    url = f"http://127.0.0.1:{free_port()}"
    assert_clean_error(sigstack("oidc", "token", "--issuer", url, "--email", "a@example.com"),
                       f"cannot reach the OIDC issuer at {url}/token")
    assert_clean_error(sigstack("oidc", "token", "--issuer", issuer.url),
                       f"the OIDC issuer at {issuer.url}/token answered HTTP 400: give a subject or an email")
    assert_clean_error(sigstack("oidc", "token", "--state", tmp_path, "--email", "a@example.com"),
                       f"no development issuer key in {tmp_path}")


def test_serve_refuses_a_public_address(tmp_path: Path) -> None:
    assert_clean_error(sigstack("oidc", "serve", "--state", tmp_path, "--host", "0.0.0.0"),
                       "refusing to serve development tokens on 0.0.0.0: it is not a loopback address "
                       "(--insecure-allow-remote overrides)")
