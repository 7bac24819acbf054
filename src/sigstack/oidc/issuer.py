"""The development issuer's keys and tokens. NOT FOR PRODUCTION: it signs any identity.

Two issuers share one key and one server: the base URL issues *email* tokens
(``email`` + ``email_verified: true``, as Google or Dex do), and ``<base>/github``
issues GitHub Actions tokens with GitHub's claims and no ``email``. Real deployments
have them as separate issuers too, and the CA types each one (email vs ci-provider).

The GitHub ``sub`` uses GitHub's immutable format, the default for repositories
created since July 15, 2026: ``repo:<owner>@<owner id>/<repo>@<repo id>:ref:<ref>``
(``--github-legacy-sub`` gives the older ``repo:<owner>/<repo>:ref:<ref>``).

The key (RSA 2048, RS256 as GitHub and Google sign) is kept in the state directory
as ``oidc.key`` (0600) so tokens stay verifiable across restarts, and so
``sigstack oidc token --state DIR`` can sign without the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sigstack._internal.fs import atomic_write_files
from sigstack.errors import OIDCError

GITHUB_PATH = "/github"
DEFAULT_TTL = 600




def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class GitHubWorkflow:
    """The workflow run GitHub Actions tokens describe."""

    repository: str = "octo-org/octo-repo"
    repository_id: str = "456789"
    repository_owner_id: str = "123456"
    ref: str = "refs/heads/main"
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    workflow_path: str = ".github/workflows/release.yml"
    event_name: str = "push"
    run_id: str = "1000001"
    run_attempt: str = "1"
    actor: str = "octocat"
    actor_id: str = "583231"
    visibility: str = "public"
    runner_environment: str = "github-hosted"
    environment: str = ""
    immutable_sub: bool = True

    def claims(self) -> dict[str, Any]:
        owner, _, name = self.repository.partition("/")
        if self.immutable_sub:
            sub = f"repo:{owner}@{self.repository_owner_id}/{name}@{self.repository_id}"
        else:
            sub = f"repo:{self.repository}"
        sub += f":environment:{self.environment}" if self.environment else f":ref:{self.ref}"
        workflow_ref = f"{self.repository}/{self.workflow_path}@{self.ref}"
        claims: dict[str, Any] = {
            "sub": sub, "ref": self.ref, "sha": self.sha, "repository": self.repository,
            "repository_owner": owner, "repository_owner_id": self.repository_owner_id,
            "repository_id": self.repository_id, "repository_visibility": self.visibility,
            "run_id": self.run_id, "run_number": "1", "run_attempt": self.run_attempt,
            "runner_environment": self.runner_environment, "actor": self.actor, "actor_id": self.actor_id,
            "workflow": "Release", "workflow_ref": workflow_ref, "workflow_sha": self.sha,
            "job_workflow_ref": workflow_ref, "job_workflow_sha": self.sha, "event_name": self.event_name,
            "ref_type": "tag" if self.ref.startswith("refs/tags/") else "branch",
            "ref_protected": "false", "head_ref": "", "base_ref": "",
        }
        if self.environment:
            claims["environment"] = self.environment
        return claims


#: the identity an interactive (browser or device) login gets unless ``login_hint`` names one
DEFAULT_LOGIN_EMAIL = "developer@example.com"


@dataclass
class PendingLogin:
    """An authorization code or device code waiting to be exchanged (in memory, 10 minutes)."""

    email: str | None
    client_id: str
    expires: float
    redirect_uri: str = ""
    challenge: str = ""
    nonce: str | None = None
    user_code: str = ""


@dataclass
class Logins:
    """Interactive logins of the development issuer. NOT FOR PRODUCTION: nobody is
    authenticated; a browser login is approved at once for ``login_hint`` (or the
    issuer's default identity), a device login when its verification URL is visited."""

    default_email: str = DEFAULT_LOGIN_EMAIL
    codes: dict[str, PendingLogin] = field(default_factory=dict)
    devices: dict[str, PendingLogin] = field(default_factory=dict)

    def _sweep(self) -> None:
        now = time.time()
        for table in (self.codes, self.devices):
            for k in [k for k, v in table.items() if v.expires < now]:
                del table[k]

    def authorize(self, params: dict[str, str]) -> str:
        """The authorization code for an authorization request (PKCE S256 required)."""
        self._sweep()
        if params.get("response_type") != "code":
            raise OIDCError("response_type must be code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise OIDCError("PKCE with code_challenge_method S256 is required")
        redirect = params.get("redirect_uri", "")
        host = redirect.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if not redirect.startswith("http://") or host not in ("localhost", "127.0.0.1", "[::1]"):
            raise OIDCError("redirect_uri must be a loopback http:// URL")
        code = secrets.token_urlsafe(24)
        self.codes[code] = PendingLogin(params.get("login_hint") or self.default_email, params.get("client_id", ""),
                                        time.time() + 600, redirect, params["code_challenge"], params.get("nonce"))
        return code

    def redeem_code(self, params: dict[str, str]) -> PendingLogin:
        login = self.codes.pop(params.get("code", ""), None)
        if login is None or login.expires < time.time():
            raise OIDCError("invalid_grant: unknown or expired authorization code")
        verifier = params.get("code_verifier", "")
        if not hmac.compare_digest(_b64url(hashlib.sha256(verifier.encode()).digest()).encode(),
                                   login.challenge.encode("utf-8", "replace")):
            raise OIDCError("invalid_grant: the code_verifier does not match the code_challenge")
        if params.get("redirect_uri") != login.redirect_uri:
            raise OIDCError("invalid_grant: redirect_uri differs from the authorization request's")
        return login

    def start_device(self, client_id: str) -> tuple[str, str]:
        """(device code, user code) for a device authorization request."""
        self._sweep()
        device = secrets.token_urlsafe(24)
        user = "-".join(secrets.token_hex(2).upper() for _ in range(2))
        self.devices[device] = PendingLogin(None, client_id, time.time() + 600, user_code=user)
        return device, user

    def approve_device(self, user_code: str, email: str | None) -> bool:
        for login in self.devices.values():
            if hmac.compare_digest(login.user_code.encode(), user_code.encode("utf-8", "replace")):
                login.email = email or self.default_email
                return True
        return False

    def redeem_device(self, device_code: str) -> PendingLogin | None:
        """The approved login, None while it is pending; OIDCError when unknown."""
        login = self.devices.get(device_code)
        if login is None or login.expires < time.time():
            raise OIDCError("expired_token: unknown or expired device code")
        if login.email is None:
            return None
        del self.devices[device_code]
        return login


@dataclass
class DevIssuer:
    base_url: str
    key: rsa.RSAPrivateKey
    github: GitHubWorkflow = field(default_factory=GitHubWorkflow)
    request_token: str = ""
    logins: Logins = field(default_factory=Logins)

    @property
    def kid(self) -> str:
        """RFC 7638 JWK thumbprint of the public key."""
        jwk = self.public_jwk(with_kid=False)
        canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
        return _b64url(hashlib.sha256(canonical.encode()).digest())

    def public_jwk(self, with_kid: bool = True) -> dict[str, str]:
        nums = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64url(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
               "e": _b64url(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")),
               "alg": "RS256", "use": "sig"}
        if with_kid:
            jwk["kid"] = self.kid
        return jwk

    def issuer_url(self, github: bool) -> str:
        return self.base_url.rstrip("/") + (GITHUB_PATH if github else "")

    def discovery(self, github: bool) -> dict[str, Any]:
        iss = self.issuer_url(github)
        return {
            "issuer": iss, "jwks_uri": iss + "/jwks", "token_endpoint": iss + "/token",
            "response_types_supported": ["code", "id_token"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "email", "email_verified"],
            **({} if github else {
                "authorization_endpoint": iss + "/auth", "device_authorization_endpoint": iss + "/device/code",
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
            }),
        }

    def mint(self, subject: str | None = None, email: str | None = None, audience: str = "sigstore",
             github: bool = False, ttl: int = DEFAULT_TTL, extra: dict[str, Any] | None = None,
             now: int | None = None) -> str:
        """A signed ID token. Email tokens carry ``email_verified: true``; GitHub
        tokens carry the workflow's claims and never an ``email``."""
        import jwt

        issued = int(time.time()) if now is None else now
        claims: dict[str, Any] = {"iss": self.issuer_url(github), "aud": audience, "iat": issued,
                                  "nbf": issued, "exp": issued + ttl, "jti": str(uuid.uuid4())}
        if github:
            claims.update(self.github.claims())
            if subject:
                claims["sub"] = subject
        else:
            if not subject and not email:
                raise OIDCError("give a subject or an email for the token")
            claims["sub"] = subject or email
            if email:
                claims["email"] = email
                claims["email_verified"] = True
        claims.update(extra or {})
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def load_or_create_key(state: Path) -> rsa.RSAPrivateKey:
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state / "oidc.key"
    if not path.exists():
        key = rsa.generate_private_key(65537, 2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        atomic_write_files([(path, pem, 0o600)])
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise OIDCError(f"reading {path}: {exc}") from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise OIDCError(f"{path} is not an RSA private key")
    return loaded


def load_or_create_request_token(state: Path) -> str:
    """The bearer token the GitHub token-request endpoint wants (``ACTIONS_ID_TOKEN_REQUEST_TOKEN``)."""
    path = state / "actions-request-token"
    if not path.exists():
        atomic_write_files([(path, secrets.token_urlsafe(24).encode(), 0o600)])
    return path.read_text().strip()


def saved_issuer_url(state: Path) -> str | None:
    path = state / "issuer-url"
    return path.read_text().strip() if path.exists() else None
