"""The token sources one by one, each against its real token format: GitHub Actions'
token-request protocol against an HTTP double on 127.0.0.1 (a double, because GitHub's
service cannot run here; it answers as GitHub documents: ``{"count", "value"}``, 401
``{"message": "Bad credentials"}``), and the dev issuer's implementation of the same
protocol; the CLI-based providers (``buildkite-agent``, ``circleci``) against stub
executables on PATH (doubles that check the arguments the real agents take and print a
token, or fail as they do); the filesystem provider and GitLab's environment token."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest

from sigstack.errors import IdentityTokenError
from sigstack.oidc.sources import (
    Ambient,
    EnvToken,
    FilesystemToken,
    GitHubActions,
    ambient_token,
    buildkite,
    circleci,
    read_token,
)

TOKEN = jwt.encode({"sub": "ci", "aud": "sigstore"}, "k" * 32, algorithm="HS256")


class _GitHubDouble(BaseHTTPRequestHandler):
    """GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL`` endpoint, as documented."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != "bearer request-token":
            self._send(401, {"message": "Bad credentials"})
        elif "audience=sigstore" not in self.path:
            self._send(400, {"message": "no audience"})
        elif "broken" in self.path:
            self._send(200, {"count": 1})
        else:
            self._send(200, {"count": 1, "value": TOKEN})

    def _send(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def github() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _GitHubDouble)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/_apis/token?api-version=2.0"
    server.shutdown()
    server.server_close()


def test_github_actions_request(github: str) -> None:
    _GitHubDouble.seen.clear()
    assert GitHubActions(github, "request-token").provide("sigstore") == TOKEN
    path, auth = _GitHubDouble.seen[0]
    assert path.endswith("?api-version=2.0&audience=sigstore")  # GitHub's URL already has a query
    assert auth == "bearer request-token"


@pytest.mark.parametrize(("url_suffix", "request_token", "message"), [
    ("", "wrong", "GitHub Actions token request failed: HTTP 401"),
    ("&broken=1", "request-token", 'the answer has no "value" token'),
])
def test_github_actions_failures(github: str, url_suffix: str, request_token: str, message: str) -> None:
    with pytest.raises(IdentityTokenError, match=message):
        GitHubActions(github + url_suffix, request_token).provide("sigstore")


def test_github_actions_unreachable() -> None:
    with pytest.raises(IdentityTokenError, match=r"token request to http://127.0.0.1:9/x\?a=1 failed"):
        GitHubActions("http://127.0.0.1:9/x?a=1", "t", timeout=5).provide("sigstore")


def test_github_enabled_needs_both_variables() -> None:
    assert not GitHubActions("http://x", None).enabled()
    assert not GitHubActions(None, "t").enabled()
    assert GitHubActions("http://x", "t").enabled()


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def stub_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_buildkite_agent(stub_path: Path) -> None:
    # the double insists on the real agent's sub-command and flags
    _stub(stub_path, "buildkite-agent",
          f'[ "$*" = "oidc request-token --audience sigstore" ] || exit 3\necho "{TOKEN}"\n')
    provider = buildkite(True)
    assert provider.enabled()
    assert provider.provide("sigstore") == TOKEN
    assert not buildkite(False).enabled()  # not on Buildkite: the agent on PATH is not used


def test_circleci(stub_path: Path) -> None:
    _stub(stub_path, "circleci",
          f'[ "$*" = \'run oidc get --claims {{"aud":"sigstore"}}\' ] || exit 3\nprintf "{TOKEN}"\n')
    assert circleci(True).provide("sigstore") == TOKEN


def test_cli_provider_failure_is_one_line(stub_path: Path) -> None:
    _stub(stub_path, "circleci", 'echo "Error: not running in a CircleCI job" >&2\nexit 1\n')
    with pytest.raises(IdentityTokenError, match="circleci: circleci run oidc exited with 1: Error: not running"):
        circleci(True).provide("sigstore")


def test_cli_provider_prints_garbage(stub_path: Path) -> None:
    _stub(stub_path, "buildkite-agent", 'echo "not a token"\n')
    with pytest.raises(IdentityTokenError, match="is not a JWT"):
        buildkite(True).provide("sigstore")


def test_cli_provider_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not circleci(True).enabled()
    assert not buildkite(True).enabled()


def test_filesystem(tmp_path: Path) -> None:
    path = tmp_path / "oidc-token"
    assert not FilesystemToken(str(path)).enabled()
    path.write_text(TOKEN + "\n")
    assert FilesystemToken(str(path)).provide("sigstore") == TOKEN


def test_envvar_and_gitlab_name() -> None:
    assert EnvToken(TOKEN).provide("sigstore") == TOKEN
    assert Ambient(env_token=TOKEN, gitlab=True).providers()[0].name == "gitlab"
    with pytest.raises(IdentityTokenError, match="the gitlab identity token is not a JWT"):
        EnvToken("nope", "gitlab").provide("sigstore")


def test_order_and_selection(tmp_path: Path, github: str) -> None:
    path = tmp_path / "oidc-token"
    other = jwt.encode({"sub": "fs"}, "k" * 32, algorithm="HS256")
    path.write_text(other)
    ambient = Ambient(github_request_url=github, github_request_token="request-token", filesystem_path=str(path))
    assert ambient_token(ambient.providers()) == ("github-actions", TOKEN)  # GitHub before the filesystem
    assert ambient_token(ambient.providers(), only="filesystem") == ("filesystem", other)
    with pytest.raises(IdentityTokenError, match="'buildkite-agent' is not available"):
        ambient_token(ambient.providers(), only="buildkite-agent")
    with pytest.raises(IdentityTokenError, match="unknown OIDC provider 'travis'"):
        ambient_token(ambient.providers(), only="travis")
    assert ambient_token(Ambient(filesystem_path=str(tmp_path / "none")).providers()) is None


def test_read_token_value_or_file(tmp_path: Path) -> None:
    assert read_token(TOKEN) == TOKEN
    path = tmp_path / "tok"
    path.write_text(TOKEN + "\n")
    assert read_token(str(path)) == TOKEN
    for bad, message in [("", "is empty"), ("a.b", "not a JWT"), ("x" * 70000, "not a JWT")]:
        with pytest.raises(IdentityTokenError, match=message):
            read_token(bad)
