"""cosign's upload prompt on a real terminal (a pseudo-terminal as stdin): ``y`` signs and
uploads, ``n`` or an empty answer declines, anything else is invalid input; each refusal
is one ``Error:`` line and nothing is published."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Result, assert_clean_error, sigstack
from tests.keyless._support import Served


def on_terminal(args: list[str], answer: bytes) -> Result:
    """Run ``sigstack ARGS`` with a pseudo-terminal as stdin, typing ``answer``."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        os.write(master, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return Result(proc.returncode, out, err.decode())


@pytest.fixture
def signing(sigstore_stack: Served, tmp_path: Path) -> list[str]:
    art = tmp_path / "a.txt"
    art.write_text("asked first\n")
    return ["sign-blob", "--identity-token", sigstore_stack.token(), "--signing-config",
            str(sigstore_stack.signing_config), "--bundle", str(tmp_path / "a.json"), str(art)]


def test_yes_on_the_terminal_uploads(signing: list[str], tmp_path: Path) -> None:
    r = on_terminal(signing, b"y\n")
    assert r.code == 0, r.err
    assert "Are you sure you would like to continue? [y/N]" in r.err
    assert "tlog entry created with index:" in r.err and (tmp_path / "a.json").exists()


@pytest.mark.parametrize(("answer", "message"), [
    (b"n\n", "Error: user declined the prompt"),
    (b"\n", "Error: user declined the prompt"),
    (b"maybe\n", 'Error: invalid input "maybe" (allowed values y, n)'),
])
def test_other_answers_refuse(signing: list[str], tmp_path: Path, answer: bytes, message: str) -> None:
    r = on_terminal(signing, answer)
    assert_clean_error(r, message)
    assert not (tmp_path / "a.json").exists()


def test_image_sign_with_a_key_asks_too(sigstore_stack: Served, tmp_path: Path) -> None:
    """Key-based uploads are asked about as well (before the registry is touched)."""
    assert sigstack("generate-key-pair", cwd=tmp_path, env={"COSIGN_PASSWORD": ""}).code == 0
    r = sigstack("sign", "--key", tmp_path / "cosign.key", "--rekor-url", sigstore_stack.tlog,
                 "127.0.0.1:9/nothing/here@sha256:" + "0" * 64, env={"COSIGN_PASSWORD": ""}, offline=None, yes=False)
    assert_clean_error(r, "Error: no terminal to confirm the upload")
