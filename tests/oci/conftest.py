"""Real registries for the image tests: Debian's ``docker-registry`` (distribution
2.8), started per session on a free loopback port, once over plain HTTP and once
with TLS (a throw-away CA) and htpasswd basic auth behind a temporary docker config.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ocihelpers import Registry, start_registry, start_tls_registry
from tests.helpers import sigstack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-HTTP registry without auth."""
    reg = start_registry(tmp_path_factory.mktemp("registry"), "")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A TLS registry (custom CA) with htpasswd basic auth; ``docker_config`` is a
    temporary docker config dir holding no credentials until a test logs in."""
    tmp = tmp_path_factory.mktemp("tls-registry")
    reg = start_tls_registry(tmp)
    reg.docker_config = tmp / "docker"
    reg.docker_config.mkdir()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cosign-format key pair made by sigstack (password ``pw``)."""
    d = tmp_path_factory.mktemp("keys")
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=d)
    assert r.code == 0, r.err
    return d / "cosign.key", d / "cosign.pub"


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys2")
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=d)
    assert r.code == 0, r.err
    return d / "cosign.key", d / "cosign.pub"
