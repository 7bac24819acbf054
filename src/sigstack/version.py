"""What build of sigstack this is, in the fields and layout of ``cosign version``
(sigs.k8s.io/release-utils/version): a banner, a one-line description, then
``GitVersion``, ``GitCommit``, ``GitTreeState``, ``BuildDate``, the language version
(``PythonVersion`` where cosign says ``GoVersion``), ``Compiler`` and ``Platform``,
aligned as Go's tabwriter aligns them; ``--json`` gives the same fields camel-cased.

A built wheel carries ``sigstack/_build_info.py``, written by the build hook
(src/_sigstack_build.py, a setuptools cmdclass) from git at build time. In a source checkout
(editable install) there is none, so the commit and tree state are read from git
when asked, and the build date is ``unknown``.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from sigstack._version import __version__

NAME = "sigstack"
DESCRIPTION = "sigstack: Sign and verify software artifacts; a cosign-compatible Sigstore stack in Python."
BANNER = r"""
  ____ ___ ____ ____ _____  _    ____ _  __
 / ___|_ _/ ___/ ___|_   _|/ \  / ___| |/ /
 \___ \| | |  _\___ \ | | / _ \| |   | ' /
  ___) | | |_| |___) || |/ ___ \ |___| . \
 |____/___\____|____/ |_/_/   \_\____|_|\_\
"""
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386",
         "i386": "386", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]  # src/sigstack/version.py -> the checkout
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def build_info() -> dict[str, str]:
    """The baked-in build facts, else what git says about this checkout."""
    try:
        from sigstack import _build_info  # type: ignore[attr-defined, unused-ignore]

        return {"gitCommit": str(_build_info.GIT_COMMIT), "gitTreeState": str(_build_info.GIT_TREE_STATE),
                "buildDate": str(_build_info.BUILD_DATE)}
    except ImportError:
        pass
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"gitCommit": commit or "unknown",
            "gitTreeState": "unknown" if status is None else ("dirty" if status else "clean"),
            "buildDate": "unknown"}


def version_info() -> dict[str, str]:
    machine = platform.machine().lower()
    built = build_info()
    return {
        "gitVersion": "v" + __version__,
        "gitCommit": built["gitCommit"],
        "gitTreeState": built["gitTreeState"],
        "buildDate": built["buildDate"],
        "pythonVersion": platform.python_version(),
        "compiler": sys.implementation.name,
        "platform": f"{sys.platform}/{_ARCH.get(machine, machine)}",
    }


def render(info: dict[str, str]) -> str:
    labels = [(k[0].upper() + k[1:] + ":", v) for k, v in info.items()]
    width = max(len(k) for k, _ in labels) + 2
    fields = "".join(f"{k.ljust(width)}{v}\n" for k, v in labels)
    return f"{BANNER.lstrip(chr(10))}{DESCRIPTION}\n\n{fields}"


def render_json(info: dict[str, str]) -> str:
    return json.dumps(info, indent=2) + "\n"
