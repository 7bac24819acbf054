"""The README's image quick start runs end to end (real registry, real CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_images_script() -> None:
    r = subprocess.run([str(ROOT / "scripts" / "quickstart-images")], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = r.stdout.decode()
    assert '"type":"cosign container image signature"' in out
    assert ".sig\n" in out and "🔐 Signatures for an image tag" in out
    assert "The signatures were verified against the specified public key" in r.stderr.decode()
