"""Run a composite action's ``run:`` steps on this machine, as the GitHub runner would:
the runner's files (GITHUB_OUTPUT per step, GITHUB_PATH, GITHUB_ENV) are temporary
files, ``${{ ... }}`` in a step's ``env:`` is evaluated for the contexts our action
uses (inputs, steps.<id>.outputs, github.action_path/action_repository), and ``uses:``
steps (actions/cache) are skipped, i.e. every run is a cache miss of GitHub's cache."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def load_action() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return doc


def run_scripts(action: dict[str, Any]) -> list[tuple[str, str]]:
    """(step id, script) of each ``run:`` step."""
    return [(s.get("id", f"step{i}"), s["run"]) for i, s in enumerate(action["runs"]["steps"]) if "run" in s]


@dataclass
class Runner:
    workdir: Path
    inputs: dict[str, str]
    github: dict[str, str]
    base_env: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def _eval(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1)
            parts = expr.split(".")
            if parts[0] == "inputs":
                return self.inputs[parts[1]]
            if parts[0] == "steps" and parts[2] == "outputs":
                return self.outputs.get(parts[1], {}).get(parts[3], "")
            if parts[0] == "github":
                return self.github[parts[1]]
            raise AssertionError(f"expression not supported by the local runner: {expr}")

        return _EXPR.sub(one, text)

    def run(self, action: dict[str, Any], only: tuple[str, ...] = ()) -> None:
        defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
        self.inputs = {**defaults, **self.inputs}
        path_file, env_file = self.workdir / "github_path", self.workdir / "github_env"
        path_file.touch()
        env_file.touch()
        for i, step in enumerate(action["runs"]["steps"]):
            sid = step.get("id", f"step{i}")
            if only and sid not in only:
                continue
            if "uses" in step:
                self.skipped.append(step["uses"])
                continue
            out = self.workdir / f"output-{sid}"
            out.write_text("")
            env = {**self.base_env, "GITHUB_OUTPUT": str(out), "GITHUB_PATH": str(path_file),
                   "GITHUB_ENV": str(env_file), "RUNNER_TEMP": str(self.workdir), "RUNNER_OS": "Linux",
                   "RUNNER_ARCH": "X64", "GITHUB_ACTION_PATH": self.github["action_path"]}
            env.update({k: self._eval(str(v)) for k, v in step.get("env", {}).items()})
            proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True,
                                  timeout=600, cwd=self.workdir)
            self.logs.append(proc.stdout + proc.stderr)
            assert proc.returncode == 0, f"step {sid} failed:\n{proc.stdout}\n{proc.stderr}"
            self.outputs[sid] = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)

    def path_entries(self) -> list[str]:
        return [p for p in (self.workdir / "github_path").read_text().splitlines() if p]


def clean_env() -> dict[str, str]:
    """The environment without this checkout's virtualenv, so only what the action
    installed can answer to ``sigstack`` and ``cosign``."""
    venv = str(ROOT / ".venv")
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("COSIGN_", "SIGSTORE_", "VIRTUAL_ENV", "PYTHONPATH", "PYTEST_"))}
    keep["PATH"] = ":".join(p for p in os.environ.get("PATH", "").split(":")
                            if p and not p.startswith(venv) and "go/bin" not in p)
    return keep


def base_python() -> str:
    """A Python outside any virtualenv, as on a runner (the base of this one)."""
    base = getattr(sys, "_base_executable", sys.executable)
    return base if Path(base).exists() else sys.executable


#: the ``github`` context of a run of this checkout as ``uses: sigstack/sigstack@<ref>``
ACTION_CONTEXT = {"action_path": str(ROOT), "action_repository": "sigstack/sigstack", "action_ref": "main"}


def install(tmp_path: Path, **inputs: str) -> tuple[Runner, Path]:
    """Run all of the action's steps from this checkout into ``tmp_path/tools`` (a runner
    work directory ``tmp_path/runner``); returns the runner and the ``bin`` directory the
    action put on PATH."""
    work = tmp_path / "runner"
    work.mkdir(exist_ok=True)
    runner = Runner(work, {"install-dir": str(tmp_path / "tools"), "python": base_python(), **inputs},
                    dict(ACTION_CONTEXT), clean_env())
    runner.run(load_action())
    return runner, tmp_path / "tools" / "bin"


def tool_env(bindir: Path) -> dict[str, str]:
    """A job's environment after the action ran: its ``bin`` first on PATH, nothing else of ours."""
    env = clean_env()
    env["PATH"] = f"{bindir}:{env['PATH']}"
    return env
