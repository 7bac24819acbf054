"""The fast tier (``pytest --fast``, ``scripts/test --fast``) keeps exactly the tests that
need no peer and no server: checked by collecting, in a fresh pytest, a file of each kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collected(*args: str) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc.returncode, [line for line in proc.stdout.splitlines() if "::" in line]


def test_fast_keeps_local_tests_and_drops_registry_and_peer_tests() -> None:
    files = ["tests/cli/test_main.py", "tests/oci/test_sign_verify.py", "tests/interop/test_cosign_keys_blobs.py",
             "tests/tlog/test_store.py"]
    code, everything = collected(*files)
    assert code == 0
    code, fast = collected("--fast", *files)
    assert code == 0
    assert fast and set(fast) < set(everything)
    assert all(item.startswith("tests/cli/") or item.endswith("[sqlite]") for item in fast), fast
    assert {i for i in everything if i.startswith("tests/cli/")} <= set(fast)
    assert not any("[postgres]" in item or "test_sign_verify" in item or "interop" in item for item in fast)
