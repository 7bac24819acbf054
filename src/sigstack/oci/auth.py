"""Registry credentials as users already have them: Docker's config file and helpers.

Lookup order matches docker/cli and go-containerregistry's default keychain:
``credHelpers[host]`` then ``credsStore`` (both run ``docker-credential-<name> get``
with the host on stdin), then ``auths[host]`` (``auth`` base64 of ``user:pass`` or
``username``/``password``). Docker Hub's entry is ``https://index.docker.io/v1/``.
The config lives in ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``.

docker's own Python SDK drags in much more than a config reader, so this small
reader is hand-written.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sigstack.errors import CredentialError
from sigstack.oci.reference import DOCKER_HUB

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")




@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)


ANONYMOUS = Credentials()


def config_dir(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env)
    return Path.home() / ".docker"


def _load_config(directory: Path) -> dict[str, object]:
    path = directory / "config.json"
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialError(f"reading docker config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CredentialError(f"reading docker config {path}: not a JSON object")
    return data


def _keys_for(host: str) -> tuple[str, ...]:
    if host == DOCKER_HUB:
        return _HUB_KEYS
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")


def _helper(name: str, host: str) -> Credentials:
    program = f"docker-credential-{name}"
    server = "https://index.docker.io/v1/" if host == DOCKER_HUB else host
    try:
        proc = subprocess.run([program, "get"], input=server.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CredentialError(f"credential helper {program} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(f"credential helper {program} timed out") from None
    if proc.returncode != 0:
        text = proc.stdout.decode(errors="replace").strip()
        if "credentials not found" in text.lower():
            return ANONYMOUS
        raise CredentialError(f"credential helper {program} failed: {text or proc.returncode}")
    try:
        data = json.loads(proc.stdout)
        user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
    except (ValueError, AttributeError):
        raise CredentialError(f"credential helper {program} printed invalid JSON") from None
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret)


def resolve(host: str, directory: str | None = None) -> Credentials:
    """Credentials for ``host`` (``registry[:port]``), or anonymous."""
    config = _load_config(config_dir(directory))
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key in _keys_for(host):
            if isinstance(helpers.get(key), str):
                return _helper(helpers[key], host)
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        found = _helper(store, host)
        if not found.anonymous:
            return found
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key in _keys_for(host):
            entry = auths.get(key)
            if isinstance(entry, dict):
                return _from_entry(entry, host)
    return ANONYMOUS


def lookup(credentials: Mapping[str, Credentials], host: str) -> Credentials | None:
    """The entry of ``credentials`` for ``host`` under any of the names docker uses for it."""
    for key in _keys_for(host):
        if key in credentials:
            return credentials[key]
    return None


def from_docker_config_json(data: bytes) -> dict[str, Credentials]:
    """Credentials by host from a ``kubernetes.io/dockerconfigjson`` Secret's
    ``.dockerconfigjson`` (``{"auths": {...}}``) or a legacy ``.dockercfg`` (the map
    itself), as k8schain reads image pull secrets."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise CredentialError("the pull secret is not a docker config JSON document") from None
    if not isinstance(doc, dict):
        raise CredentialError("the pull secret is not a docker config JSON object")
    auths = doc.get("auths", doc)
    if not isinstance(auths, dict):
        raise CredentialError("the pull secret's auths is not an object")
    out: dict[str, Credentials] = {}
    for host, entry in auths.items():
        if isinstance(entry, dict):
            name = str(host).removeprefix("https://").removeprefix("http://").split("/")[0]
            out[name] = _from_entry(entry, name)
    return out


def _from_entry(entry: dict[str, object], host: str) -> Credentials:
    token = str(entry.get("identitytoken") or "")
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialError(f"docker config entry for {host} has an invalid auth value") from None
        if not sep:
            raise CredentialError(f"docker config entry for {host} has an invalid auth value")
        return Credentials(user, password, token)
    return Credentials(str(entry.get("username") or ""), str(entry.get("password") or ""), token)


def login(host: str, username: str, password: str, directory: str | None = None) -> Path:
    """Store credentials in the docker config (``auths``), as ``docker login`` does
    without a credential store; returns the config file written."""
    from sigstack._internal.fs import atomic_write

    folder = config_dir(directory)
    config = _load_config(folder)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    key = "https://index.docker.io/v1/" if host in (DOCKER_HUB, "docker.io") else host
    auths[key] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    config["auths"] = auths
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "config.json"
    atomic_write(path, json.dumps(config, indent="\t").encode() + b"\n", 0o600)
    return path
