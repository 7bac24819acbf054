"""Where a keyless signer's identity token comes from, in cosign's order.

1. an explicit token (cosign's ``--identity-token``): the JWT itself, or a file holding it;
2. the ambient providers, the first one that is *enabled* in this environment (or the
   one named, cosign's ``--oidc-provider``):

   * ``envvar``: a token handed over in an environment variable; GitLab CI documents
     exactly this (``id_tokens: SIGSTORE_ID_TOKEN: aud: sigstore``), so the provider is
     reported as ``gitlab`` when ``GITLAB_CI`` is set too;
   * ``github-actions``: GitHub's token-request protocol (``GET`` the request URL with
     ``&audience=sigstore`` and ``Authorization: bearer <request token>``; the answer is
     ``{"value": JWT}``);
   * ``filesystem``: a token file that a platform mounts (cosign reads
     ``/var/run/sigstore/cosign/oidc-token``);
   * ``buildkite-agent``: ``buildkite-agent oidc request-token --audience sigstore``;
   * ``circleci``: ``circleci run oidc get --claims '{"aud":"sigstore"}'``;

3. an interactive login at the OIDC issuer (:mod:`sigstack.oidc.interactive`).

The library never reads the environment: the CLI gathers :class:`Ambient` from it and
hands it over (so a program embedding sigstack decides what its environment means).
Each provider is a tiny object with ``enabled()`` and ``provide(audience)``, as cosign's
``providers.Interface``; the failures are :class:`~sigstack.errors.IdentityTokenError`
with one line saying which source failed and why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sigstack.errors import IdentityTokenError

#: cosign's filesystem provider path
FILESYSTEM_TOKEN_PATH = "/var/run/sigstore/cosign/oidc-token"
MAX_TOKEN_BYTES = 64 * 1024


def read_token(value: str, where: str = "the identity token") -> str:
    """A token given as itself or as the path of a file holding it (cosign's rule:
    an existing file is read, anything else is the token)."""
    path = Path(value)
    try:
        is_file = len(value) < 4096 and path.is_file()
    except OSError:  # a long token is not a valid path name
        is_file = False
    if is_file:
        try:
            with path.open("rb") as f:
                value = f.read(MAX_TOKEN_BYTES + 1).decode("utf-8", "replace")
        except OSError as exc:
            raise IdentityTokenError(f"reading {where} from {path}: {exc.strerror or exc}") from None
    token = value.strip()
    check_jwt_shape(token, where)
    return token


def check_jwt_shape(token: str, where: str) -> None:
    """Three non-empty base64url parts: anything else is refused before it reaches the CA."""
    import re

    if not token:
        raise IdentityTokenError(f"{where} is empty")
    if len(token) > MAX_TOKEN_BYTES or not re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", token):
        raise IdentityTokenError(f"{where} is not a JWT (three base64url parts separated by dots)")


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    def enabled(self) -> bool: ...

    def provide(self, audience: str) -> str: ...


@dataclass(frozen=True)
class EnvToken:
    """A token placed in the environment by the platform (GitLab CI's ``id_tokens``)."""

    value: str | None
    name: str = "envvar"

    def enabled(self) -> bool:
        return bool(self.value)

    def provide(self, audience: str) -> str:
        return read_token(self.value or "", f"the {self.name} identity token")


@dataclass(frozen=True)
class GitHubActions:
    """GitHub Actions' token-request protocol (``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN``)."""

    request_url: str | None
    request_token: str | None
    timeout: float = 30.0
    name: str = "github-actions"

    def enabled(self) -> bool:
        return bool(self.request_url and self.request_token)

    def provide(self, audience: str) -> str:
        import httpx

        from sigstack.oidc.interactive import json_body

        url = f"{self.request_url}&audience={audience}"  # GitHub's URL already has a query
        headers = {"Authorization": f"bearer {self.request_token}", "Accept": "application/json"}
        try:
            resp = httpx.get(url, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise IdentityTokenError(f"GitHub Actions token request to {self.request_url} failed: {exc}") from None
        doc = json_body(resp) if resp.status_code == 200 else None
        if resp.status_code != 200:
            raise IdentityTokenError(f"GitHub Actions token request failed: HTTP {resp.status_code}")
        if not isinstance(doc, dict) or not isinstance(doc.get("value"), str):
            raise IdentityTokenError("GitHub Actions token request: the answer has no \"value\" token")
        token: str = doc["value"].strip()
        check_jwt_shape(token, "the GitHub Actions identity token")
        return token


@dataclass(frozen=True)
class FilesystemToken:
    """A token file mounted by the platform (cosign's filesystem provider)."""

    path: str = FILESYSTEM_TOKEN_PATH
    name: str = "filesystem"

    def enabled(self) -> bool:
        return Path(self.path).is_file()

    def provide(self, audience: str) -> str:
        try:
            data = Path(self.path).read_bytes()[:MAX_TOKEN_BYTES + 1]
        except OSError as exc:
            raise IdentityTokenError(f"reading the identity token file {self.path}: {exc.strerror or exc}") from None
        token = data.decode("utf-8", "replace").strip()
        check_jwt_shape(token, f"the identity token in {self.path}")
        return token


@dataclass(frozen=True)
class CommandToken:
    """A CI agent's own command that prints a token (Buildkite, CircleCI): enabled when
    the platform says it is running (``active``) and the command is on PATH."""

    name: str
    argv: tuple[str, ...]
    active: bool
    timeout: float = 60.0

    def enabled(self) -> bool:
        import shutil

        return self.active and shutil.which(self.argv[0]) is not None

    def provide(self, audience: str) -> str:
        import subprocess

        argv = [a.replace("{audience}", audience) for a in self.argv]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise IdentityTokenError(f"{self.name}: running {argv[0]} failed: {exc}") from None
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise IdentityTokenError(f"{self.name}: {' '.join(argv[:3])} exited with {proc.returncode}"
                                     + (f": {detail[-1]}" if detail else ""))
        token = proc.stdout.decode("utf-8", "replace").strip()
        check_jwt_shape(token, f"the {self.name} identity token")
        return token


def buildkite(active: bool) -> CommandToken:
    return CommandToken("buildkite-agent", ("buildkite-agent", "oidc", "request-token", "--audience", "{audience}"),
                        active)


def circleci(active: bool) -> CommandToken:
    return CommandToken("circleci", ("circleci", "run", "oidc", "get", "--claims",
                                     json.dumps({"aud": "{audience}"}, separators=(",", ":"))), active)


@dataclass(frozen=True)
class Ambient:
    """What the environment says about ambient credentials (gathered by the caller)."""

    env_token: str | None = None
    gitlab: bool = False
    github_request_url: str | None = None
    github_request_token: str | None = None
    filesystem_path: str = FILESYSTEM_TOKEN_PATH
    buildkite: bool = False
    circleci: bool = False

    def providers(self) -> list[Provider]:
        """Cosign's order: environment token, GitHub Actions, filesystem, Buildkite, CircleCI."""
        return [EnvToken(self.env_token, "gitlab" if self.gitlab else "envvar"),
                GitHubActions(self.github_request_url, self.github_request_token),
                FilesystemToken(self.filesystem_path), buildkite(self.buildkite), circleci(self.circleci)]


PROVIDER_NAMES = ("envvar", "gitlab", "github-actions", "filesystem", "buildkite-agent", "circleci")


def ambient_token(providers: Sequence[Provider], audience: str = "sigstore",
                  only: str | None = None) -> tuple[str, str] | None:
    """(provider name, token) from the first enabled provider, or from ``only``
    (which must then be enabled); None when no provider is enabled."""
    if only is not None:
        aliases = {"gitlab": "envvar", "github": "github-actions", "buildkite": "buildkite-agent"}
        wanted = aliases.get(only, only)
        if only not in PROVIDER_NAMES and wanted not in PROVIDER_NAMES:
            raise IdentityTokenError(f"unknown OIDC provider {only!r}; known: {', '.join(PROVIDER_NAMES)}")
        for p in providers:
            if aliases.get(p.name, p.name) == wanted:
                if not p.enabled():
                    raise IdentityTokenError(f"the OIDC provider {only!r} is not available in this environment")
                return p.name, p.provide(audience)
        raise IdentityTokenError(f"the OIDC provider {only!r} is not available in this environment")
    for p in providers:
        if p.enabled():
            return p.name, p.provide(audience)
    return None
