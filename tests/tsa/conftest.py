"""One `sigstack tsa serve` per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tsa._support import TSA, start_tsa


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    served = start_tsa(tmp_path_factory.mktemp("tsa"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="session")
def timestamp_server() -> str:
    """sigstore/timestamp-authority's server (built by scripts/install-peers)."""
    from tests.conftest import peer

    return peer("timestamp-server")


@pytest.fixture(scope="session")
def timestamp_cli() -> str:
    """sigstore/timestamp-authority's client, ``timestamp-cli``."""
    from tests.conftest import peer

    return peer("timestamp-cli")
