"""scripts/quickstart-keyless runs end to end: sigstack serve, keyless blob and image
signatures, cosign verifying them by identity and rejecting a wrong identity and a
tampered file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.needs_server, pytest.mark.needs_peer]  # its own services, registry, cosign


def test_quickstart_keyless_script() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    r = subprocess.run([str(ROOT / "scripts" / "quickstart-keyless")], capture_output=True, timeout=300, env=env)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, out[-3000:]
    assert "Verified OK" in out
    assert out.count("rejected, as it should be") == 2
    # sigstack verify prints it for each image layout, and the real cosign again
    assert out.count("The code-signing certificate was verified using trusted certificate authority") == 4
    assert "quickstart-keyless: OK" in out
