"""One `sigstack serve` per test module (see _support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.keyless._support import Served, start_served


@pytest.fixture(scope="module")
def sigstore_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    served = start_served(work / "state", work)
    try:
        yield served
    finally:
        served.stop()
