"""Build hooks (setuptools ``cmdclass``): bake the git commit, tree state and build date
into ``sigstack/_build_info.py`` so ``sigstack version`` reports them from an installed
wheel, where there is no git checkout to ask.

The sdist gets the file too (``python -m build`` makes the wheel from the sdist, whose
unpacked tree has no ``.git``); building from such a tree keeps the baked file.
``SOURCE_DATE_EPOCH`` sets the build date, for reproducible builds.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parents[1]  # src/_sigstack_build.py -> the project
BAKED = ROOT / "src" / "sigstack" / "_build_info.py"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def build_info_source() -> str | None:
    """The module text from git, or the file an sdist carries, or from
    ``SIGSTACK_GIT_COMMIT``/``SIGSTACK_GIT_TREE_STATE``, or None."""
    commit = _git("rev-parse", "HEAD") if (ROOT / ".git").exists() else None
    if commit is not None:
        state = "dirty" if _git("status", "--porcelain", "--untracked-files=no") else "clean"
    elif BAKED.is_file():
        return BAKED.read_text()
    elif os.environ.get("SIGSTACK_GIT_COMMIT"):
        # a source archive (no .git), e.g. an action fetched by the GitHub runner: the
        # installer knows the commit it asked for
        commit = os.environ["SIGSTACK_GIT_COMMIT"]
        state = os.environ.get("SIGSTACK_GIT_TREE_STATE", "unknown")
    else:
        return None
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    return (
        '"""Written by src/_sigstack_build.py when this package was built; do not edit."""\n\n'
        f"GIT_COMMIT = {commit!r}\nGIT_TREE_STATE = {state!r}\nBUILD_DATE = {date!r}\n"
    )


def _write(path: Path, text: str) -> None:
    if path.exists():
        path.unlink()  # sdist trees may hard-link the source files
    path.write_text(text)


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install is a source checkout: sigstack.version asks git at run time
        text = build_info_source()
        if text is not None and not self.dry_run:
            _write(Path(self.build_lib) / "sigstack" / "_build_info.py", text)


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        text = build_info_source()
        if text is not None and not self.dry_run:
            _write(Path(base_dir) / "src" / "sigstack" / "_build_info.py", text)
