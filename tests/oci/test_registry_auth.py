"""TLS + htpasswd registry (real docker-registry), docker config, credential
helpers, ``sigstack login``, and the bearer-token flow (against the double)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import HostileRegistry
from ocihelpers import Registry, push_image, stderr_without_tlog_warning
from tests.helpers import run_peer, sigstack

from sigstack.errors import AuthError
from sigstack.oci.client import OCI_MANIFEST, RegistryClient, RegistryOptions
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def logged_in(tls_registry: Registry) -> Registry:
    r = sigstack("login", tls_registry.host, "-u", tls_registry.user, "--password-stdin",
                 env={"DOCKER_CONFIG": str(tls_registry.docker_config)}, input=tls_registry.password.encode())
    assert r.code == 0, r.err
    assert f"logged in via {tls_registry.docker_config}/config.json" in r.err
    return tls_registry


@pytest.fixture
def tls_image(logged_in: Registry) -> str:
    ref = logged_in.repo() + ":v1"
    opts = RegistryOptions(ca_file=str(logged_in.ca), docker_config=str(logged_in.docker_config))
    with RegistryClient(opts) as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


def env_for(reg: Registry, **extra: str) -> dict[str, str]:
    return {"DOCKER_CONFIG": str(reg.docker_config), **PW, **extra}


def test_login_sign_verify_over_tls(logged_in, tls_image, keypair) -> None:
    config = json.loads((logged_in.docker_config / "config.json").read_text())
    assert list(config["auths"]) == [logged_in.host]
    assert stat.S_IMODE((logged_in.docker_config / "config.json").stat().st_mode) == 0o600
    ca = ["--registry-cacert", str(logged_in.ca)]
    r = sigstack("sign", "--key", str(keypair[0]), *ca, tls_image, env=env_for(logged_in))
    assert r.code == 0, r.err
    v = sigstack("verify", "--key", str(keypair[1]), *ca, tls_image, env=env_for(logged_in))
    assert v.code == 0, v.err
    # SSL_CERT_FILE is honoured too (as Go programs do), and --allow-insecure-registry skips TLS checks
    assert sigstack("verify", "--key", str(keypair[1]), tls_image,
                    env=env_for(logged_in, SSL_CERT_FILE=str(logged_in.ca))).code == 0
    assert sigstack("verify", "--key", str(keypair[1]), "--allow-insecure-registry", tls_image,
                    env=env_for(logged_in)).code == 0


@pytest.mark.interop
def test_cosign_reads_what_we_signed_over_tls_with_auth(cosign, logged_in, tls_image, keypair) -> None:
    env = env_for(logged_in, SSL_CERT_FILE=str(logged_in.ca))
    assert sigstack("sign", "--key", str(keypair[0]), tls_image, env=env).code == 0
    r = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", tls_image, env=env)
    assert r.code == 0, r.err


def test_untrusted_certificate_says_what_to_do(logged_in, tls_image, keypair) -> None:
    r = sigstack("verify", "--key", str(keypair[1]), tls_image, env=env_for(logged_in))
    assert r.code == 1
    assert stderr_without_tlog_warning(r.err) == (
        f"Error: cannot reach registry {logged_in.host}: its TLS certificate is not trusted; pass "
        "--registry-cacert FILE with its CA (or --allow-insecure-registry to skip the check)")


def test_missing_credentials_401_says_how_to_log_in(tls_registry, logged_in, tls_image, keypair,
                                                    tmp_path) -> None:
    r = sigstack("verify", "--key", str(keypair[1]), "--registry-cacert", str(tls_registry.ca), tls_image,
                 env={"DOCKER_CONFIG": str(tmp_path)})
    assert r.code == 1
    line = stderr_without_tlog_warning(r.err)
    assert line.startswith(f"Error: authentication required by {tls_registry.host} (HTTP 401): run "
                           f"`sigstack login {tls_registry.host} -u USER`"), line
    assert len(line.splitlines()) == 1


def test_wrong_password_401(tls_registry, logged_in, tls_image, keypair, tmp_path) -> None:
    assert sigstack("login", tls_registry.host, "-u", tls_registry.user, "-p", "wrong",
                    env={"DOCKER_CONFIG": str(tmp_path)}).code == 0
    r = sigstack("verify", "--key", str(keypair[1]), "--registry-cacert", str(tls_registry.ca), tls_image,
                 env={"DOCKER_CONFIG": str(tmp_path)})
    assert r.code == 1
    assert "rejected the stored credentials (HTTP 401)" in r.err


def test_credential_helper(tls_registry, logged_in, tls_image, keypair, tmp_path) -> None:
    helper = tmp_path / "bin" / "docker-credential-sigtest"
    helper.parent.mkdir()
    answer = json.dumps({"Username": tls_registry.user, "Secret": tls_registry.password})
    helper.write_text(f'#!/bin/sh\nread host\n[ "$host" = "{tls_registry.host}" ] || exit 1\n'
                      f"echo '{answer}'\n")
    helper.chmod(0o755)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps({"credHelpers": {tls_registry.host: "sigtest"}}))
    env = {"DOCKER_CONFIG": str(conf), "PATH": f"{helper.parent}:{os.environ['PATH']}"}
    r = sigstack("verify", "--key", str(keypair[1]), "--registry-cacert", str(tls_registry.ca), tls_image,
                 env=env)
    assert r.code == 10, r.err  # authenticated: the image is there, unsigned
    (conf / "config.json").write_text(json.dumps({"credsStore": "missing-helper"}))
    r = sigstack("verify", "--key", str(keypair[1]), "--registry-cacert", str(tls_registry.ca), tls_image,
                 env=env)
    assert r.code == 1
    assert "credential helper docker-credential-missing-helper not found on PATH" in r.err


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    h = HostileRegistry()
    yield h
    h.close()


def test_bearer_token_flow(hostile, tmp_path: Path) -> None:
    """The double implements the token-auth spec: challenge, realm, scope, token."""
    token = hostile.bearer("bob", "s3cret", "team/app")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()

    def manifest(req):
        if req.headers.get("Authorization") != f"Bearer {token}":
            challenge = f'Bearer realm="http://{hostile.host}/token",service="hostile"'
            return 401, {"WWW-Authenticate": challenge}, b""
        return 200, {"Content-Type": OCI_MANIFEST}, body

    hostile.route("GET", "/v2/team/app/manifests/v1", manifest)
    ref = parse_reference(f"{hostile.host}/team/app:v1")
    with RegistryClient(RegistryOptions(docker_config=str(tmp_path))) as client, \
            pytest.raises(AuthError, match="authentication required"):
        client.get_manifest(ref)
    (tmp_path / "config.json").write_text(json.dumps({"auths": {hostile.host: {"username": "bob",
                                                                               "password": "s3cret"}}}))
    with RegistryClient(RegistryOptions(docker_config=str(tmp_path))) as client:
        assert client.get_manifest(ref).data == body
        assert client.get_manifest(ref).data == body  # token cached
    assert hostile.hits["/token"] == 2  # one refused (anonymous), one granted


@pytest.mark.parametrize("text,name", [
    ("ubuntu", "index.docker.io/library/ubuntu:latest"),
    ("docker.io/ubuntu:22.04", "index.docker.io/library/ubuntu:22.04"),
    ("user/app", "index.docker.io/user/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
    ("ghcr.io/o/r@sha256:" + "a" * 64, "ghcr.io/o/r@sha256:" + "a" * 64),
    ("127.0.0.1:5000/x:tag@sha256:" + "b" * 64, "127.0.0.1:5000/x@sha256:" + "b" * 64),
    ("[::1]:5000/x", "[::1]:5000/x:latest"),
])
def test_reference_parsing(text: str, name: str) -> None:
    assert parse_reference(text).name == name


@pytest.mark.parametrize("text", ["UPPER/x", "x@sha256:abc", "x:bad tag", "x:" + "t" * 129, "a//b", ""])
def test_reference_parsing_rejects(text: str) -> None:
    from sigstack.oci.reference import ReferenceError

    with pytest.raises(ReferenceError):
        parse_reference(text)


def test_bearer_identity_token_refresh_grant(hostile, tmp_path: Path) -> None:
    """docker's ``identitytoken`` (OAuth2 refresh token) is exchanged with a POST grant."""
    import urllib.parse

    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    challenge = f'Bearer realm="http://{hostile.host}/token",service="hostile"'
    hostile.route("GET", "/v2/", lambda _r: (401, {"WWW-Authenticate": challenge}, b"{}"))

    def token(req):
        form = urllib.parse.parse_qs(req.rfile.read(int(req.headers["Content-Length"])).decode())
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["refresh-me"] \
                or form.get("scope") != ["repository:team/app:pull"]:
            return 401, {}, b""
        return 200, {"Content-Type": "application/json"}, b'{"access_token":"granted"}'

    hostile.route("POST", "/token", token)
    hostile.route("GET", "/v2/team/app/manifests/v1",
                  lambda req: (200, {"Content-Type": OCI_MANIFEST}, body)
                  if req.headers.get("Authorization") == "Bearer granted"
                  else (401, {"WWW-Authenticate": challenge}, b""))
    (tmp_path / "config.json").write_text(json.dumps({"auths": {hostile.host: {
        "auth": "", "identitytoken": "refresh-me"}}}))
    with RegistryClient(RegistryOptions(docker_config=str(tmp_path))) as client:
        assert client.get_manifest(parse_reference(f"{hostile.host}/team/app:v1")).data == body
