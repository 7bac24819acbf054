"""Fixtures shared by every test folder: paths to the shared vectors and the real peers.

Peers are never skipped: when a reference tool is missing, the fixture builds it
with scripts/install-peers (idempotent, cached in ~/go/bin) and fails loudly if
that is impossible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"
GOBIN = Path(os.environ.get("GOBIN", Path.home() / "go" / "bin"))


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"shared test vectors not found at {VECTORS}")
    return VECTORS


def peer(name: str) -> str:
    """Path to a reference tool, building it on first use."""
    path = GOBIN / name
    if not path.exists():
        subprocess.run([str(ROOT / "scripts" / "install-peers"), name], check=True)
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"peer {name} could not be installed")
        return found
    return str(path)


@pytest.fixture(scope="session")
def cosign() -> str:
    """The real cosign (v3 line)."""
    return peer("cosign")


@pytest.fixture(scope="session")
def cosign_v2() -> str:
    """The real cosign (v2 line)."""
    return peer("cosign-v2")


@pytest.fixture(scope="session")
def rekor_cli() -> str:
    return peer("rekor-cli")
