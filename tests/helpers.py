"""Run the real ``sigstack`` command in a subprocess, as users and CI scripts do."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def stdout(self) -> str:
        return self.out.decode()


def sigstack(*args: str | Path, env: dict[str, str] | None = None, input: bytes | None = b"",
             cwd: Path | None = None, unset: tuple[str, ...] = ()) -> Result:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    if args and str(args[0]) in ("sign-blob", "verify-blob"):
        # The blob tests here exercise keys and signatures offline, so they opt out of the
        # transparency log as a cosign user would (tests/tlog covers the log); env may override.
        full_env.update({"COSIGN_TLOG_UPLOAD": "false", "COSIGN_INSECURE_IGNORE_TLOG": "true"})
    full_env.update(env or {})
    for name in unset:
        full_env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "sigstack.cli.main", *map(str, args)],
        input=input, capture_output=True, env=full_env, cwd=cwd, timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode())


def assert_clean_error(result: Result, fragment: str, code: int = 1) -> None:
    """One clear line on stderr, the expected exit code, and never a traceback."""
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err, result.err
    # One "Error:" line; like cosign it may follow an unanswered prompt on the same line.
    lines = [line[line.index("Error:"):] for line in result.err.splitlines() if "Error:" in line]
    assert len(lines) == 1, result.err
    assert fragment in lines[0], lines[0]
