"""The package as users get it: ``python -m build`` (sdist, then the wheel from the
sdist, the way PyPI uploads are made) installed with pip into a fresh virtualenv, with
no editable install and no source tree on the path: ``sigstack version`` reports the
commit baked in at build time, ``python -m sigstack`` runs, and ``sigstack tlog serve``
finds its templates and static files in the installed package."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.ci._action import ROOT, clean_env
from tests.tlog._support import free_port, write_key


@pytest.mark.slow
def test_built_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True, timeout=600)
    (wheel,) = dist.glob("sigstack-*.whl")
    assert len(list(dist.glob("sigstack-*.tar.gz"))) == 1
    names = set(zipfile.ZipFile(wheel).namelist())
    for want in ("sigstack/py.typed", "sigstack/_build_info.py", "sigstack/tlog/explorer/templates/entry.html",
                 "sigstack/tlog/explorer/static/merkle.js", "sigstack/tlog/explorer/static/explorer.css"):
        assert want in names, want

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    env = clean_env()
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", f"{wheel}[tlog]"], check=True, env=env, timeout=600)

    def run(*args: str) -> str:
        proc = subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    head = run("git", "-C", str(ROOT), "rev-parse", "HEAD").strip()
    info = json.loads(run(str(venv / "bin" / "sigstack"), "version", "--json"))
    assert list(info) == ["gitVersion", "gitCommit", "gitTreeState", "buildDate", "pythonVersion", "compiler",
                          "platform"]
    assert info["gitCommit"] == head and info["gitTreeState"] in ("clean", "dirty")
    assert info["buildDate"].endswith("Z") and info["buildDate"] != "unknown"
    text = run(str(venv / "bin" / "sigstack"), "version")
    assert f"GitCommit:      {head}\n" in text and "BuildDate:      " in text
    assert run(str(venv / "bin" / "python"), "-m", "sigstack", "--version") == f"sigstack {info['gitVersion'][1:]}\n"
    # the module really is the installed one, not this checkout
    where = run(str(venv / "bin" / "python"), "-c", "import sigstack; print(sigstack.__file__)")
    assert where.startswith(str(venv))

    key = write_key(tmp_path / "log.key")
    port = free_port()
    server = subprocess.Popen([str(venv / "bin" / "sigstack"), "tlog", "serve", "--db", str(tmp_path / "log.db"),
                               "--key", str(key), "--port", str(port), "--hostname", "wheel.test"],
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/log", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, "tlog serve did not start"
                time.sleep(0.1)
        assert page.status_code == 200 and "wheel.test" in page.text
        script = httpx.get(f"http://127.0.0.1:{port}/static/merkle.js", timeout=5)
        assert script.status_code == 200 and "rootFromInclusion" in script.text
    finally:
        server.terminate()
        server.wait(10)
