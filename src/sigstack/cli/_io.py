"""Terminal interaction for commands: passwords, confirmations, output.

Password rules follow cosign exactly: ``COSIGN_PASSWORD`` when set (even empty),
else a prompt on a terminal (twice when creating a key), else all of stdin, read
once with any trailing newline kept.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from sigstack.errors import ArtifactError, PasswordError, UserDeclined


class Password:
    """A :data:`sigstack.keys.PasswordProvider` for the CLI."""

    def __init__(self) -> None:
        self._stdin: bytes | None = None

    def __call__(self, confirm: bool) -> bytes:
        env = os.environ.get("COSIGN_PASSWORD")
        if env is not None:
            return env.encode()
        if sys.stdin.isatty():
            first = getpass.getpass("Enter password for private key: ", stream=sys.stderr)
            if confirm:
                again = getpass.getpass("Enter password for private key again: ", stream=sys.stderr)
                if first != again:
                    raise PasswordError("passwords do not match")
            return first.encode()
        if self._stdin is None:
            self._stdin = sys.stdin.buffer.read()
        return self._stdin


def confirm(question: str, *, assume_yes: bool = False) -> None:
    """Ask ``question`` on stderr; raise :class:`UserDeclined` unless answered y."""
    if assume_yes:
        return
    sys.stderr.write(f"{question}\nAre you sure you would like to continue? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if not sys.stdin.isatty():  # no echoed newline: end the prompt line ourselves
        sys.stderr.write("\n")
    if answer not in ("y", "Y", "yes", "Yes", "YES"):
        raise UserDeclined()


def confirm_overwrite(paths: list[Path], *, assume_yes: bool = False) -> None:
    for path in paths:
        if path.exists():
            confirm(f"WARNING: File {path} already exists. Overwrite?", assume_yes=assume_yes)


def info(message: str) -> None:
    """A status line for people, on stderr (stdout carries data)."""
    print(message, file=sys.stderr)


def write_output(data: bytes, output_file: str | None) -> None:
    """Command output to stdout, or to ``--output-file``."""
    if output_file:
        try:
            Path(output_file).write_bytes(data)
        except OSError as exc:
            raise ArtifactError(f"writing {output_file}: {exc.strerror or exc}") from None
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
