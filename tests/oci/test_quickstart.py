"""The README's image quick start runs end to end (real registry, real CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.needs_server  # the script starts its own registry and log


def test_quickstart_images_script() -> None:
    r = subprocess.run([str(ROOT / "scripts" / "quickstart-images")], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = r.stdout.decode()
    assert '"type":"cosign container image signature"' in out
    assert ".sig\n" in out and "🔐 Signatures for an image tag" in out
    assert "The signatures were verified against the specified public key" in r.stderr.decode()
    # signed through the quick start's own log, and the evidence checked offline
    assert "tlog entry created with index: 0" in r.stderr.decode()
    assert "Existence of the claims in the transparency log was verified offline" in r.stderr.decode()
    assert "Verified inclusion of entry 0 in tree size 1" in r.stderr.decode()
