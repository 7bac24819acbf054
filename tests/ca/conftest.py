"""Fixtures: one development OIDC issuer and one CA (with its in-process CT log) per
test module, real `sigstack` processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ca._support import Stack, ca_server, oidc_server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("ca")
    oidc_state, ca_state = work / "oidc", work / "ca"
    oidc = oidc_server(work, oidc_state)
    try:
        ca = ca_server(work, ca_state, oidc.url)
    except BaseException:
        oidc.stop()
        raise
    try:
        yield Stack(oidc, ca, oidc_state, ca_state)
    finally:
        ca.stop()
        oidc.stop()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path
