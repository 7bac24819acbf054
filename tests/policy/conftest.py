"""Fixtures for the policy tests: Debian's docker-registry on a free loopback port (the
same helper as tests/oci) and key pairs made by sigstack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import sigstack
from tests.oci.ocihelpers import Registry, start_registry

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"), "")
    yield reg
    reg.stop()


def make_pair(d: Path) -> tuple[Path, Path]:
    r = sigstack("generate-key-pair", env=PW, cwd=d)
    assert r.code == 0, r.err
    return d / "cosign.key", d / "cosign.pub"


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_pair(tmp_path_factory.mktemp("keys"))
