"""What the whole-process benchmarks share: where the tools are, and the floor (how long
this Python takes to start and import httpx and cryptography without doing anything:
what any command of a CPython tool built on these libraries pays before its first byte
of work, printed beside the ratios to show how far start-up alone can go)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COSIGN = str(Path.home() / "go" / "bin" / "cosign")
SIGSTACK = str(ROOT / ".venv" / "bin" / "sigstack")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
FLOOR = ("import sys; sys.modules['httpx._main'] = None; import httpx, httpcore, h11; "
         "from cryptography.hazmat.primitives import serialization; "
         "from cryptography.hazmat.primitives.asymmetric import ec")
