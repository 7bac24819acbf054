"""Fixtures shared by every test folder: paths to the shared vectors and the real peers,
and the two test tiers.

Peers are never skipped: when a reference tool is missing, the fixture builds it
with scripts/install-peers (idempotent, cached in ~/go/bin) and fails loudly if
that is impossible.

Tiers: every test is classified at collection from the fixtures it uses (directly or
through other fixtures), so a new test needs no marker of its own. One that uses a
reference tool is marked ``needs_peer`` (so is anything marked ``interop``); one that
uses a real server (registry, transparency log, PostgreSQL, moto, tinyproxy) is marked
``needs_server``. ``pytest --fast`` (``scripts/test --fast``) deselects both. A test
that reaches a peer or server another way (``request.getfixturevalue``, starting one
itself) is caught where the peer or server starts, through :func:`slow_resource`,
and skipped in the fast tier with the reason shown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tiers import PEER_FIXTURES, SERVER_FIXTURES, slow_resource

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"
GOBIN = Path(os.environ.get("GOBIN", Path.home() / "go" / "bin"))


@pytest.fixture(scope="session")
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.fail(f"shared test vectors not found at {VECTORS}")
    return VECTORS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="only tests that need no reference peer and no server (see tests/conftest.py)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_peer: uses a reference tool (set from the fixtures it uses)")
    config.addinivalue_line("markers", "needs_server: uses a real server (set from the fixtures it uses)")
    if config.getoption("--fast"):
        os.environ["SIGSTACK_TEST_FAST"] = "1"  # read by tests.tiers.slow_resource


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fast: list[pytest.Item] = []
    slow: list[pytest.Item] = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        marked = False
        if names & PEER_FIXTURES or item.get_closest_marker("interop"):
            item.add_marker(pytest.mark.needs_peer)
            marked = True
        if names & SERVER_FIXTURES:
            item.add_marker(pytest.mark.needs_server)
            marked = True
        marked = marked or bool(item.get_closest_marker("needs_peer") or item.get_closest_marker("needs_server"))
        (slow if marked else fast).append(item)
    if config.getoption("--fast") and slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = fast


def peer(name: str) -> str:
    """Path to a reference tool, building it on first use."""
    slow_resource(f"the reference tool {name}")
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


SIGSTORE_JS = Path(os.environ.get("PEERS_NPM", Path.home() / ".cache" / "sigstack-peers")) / "sigstore-js"


@pytest.fixture(scope="session")
def sigstore_js() -> str:
    """The npm ``@sigstore/cli`` (sigstore-js), its ``sigstore`` binary; installed by
    scripts/install-peers into a cache outside the repository on first use."""
    slow_resource("the reference tool @sigstore/cli")
    binary = SIGSTORE_JS / "node_modules" / ".bin" / "sigstore"
    subprocess.run([str(ROOT / "scripts" / "install-peers"), "sigstore-js"], check=True,
                   stdout=subprocess.DEVNULL)
    if not binary.exists():
        pytest.fail(f"peer @sigstore/cli could not be installed into {SIGSTORE_JS}")
    return str(binary)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs for disk-full tests (the log's and the CA's); mounting needs root
    (mount(2)), which CI and the developers' machines have. Tests remount it larger to
    clear the fault."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("disk-full test: mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
