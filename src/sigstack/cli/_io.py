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


#: cosign's privacy statement and confirmation (``cmd/cosign/cli/sign/privacy``), shown
#: before anything naming the signer is published to a transparency log
PRIVACY_STATEMENT = "\n".join([
    "",
    "\tThe sigstore service, hosted by sigstore a Series of LF Projects, LLC, is provided pursuant to the "
    "Hosted Project Tools Terms of Use, available at https://lfprojects.org/policies/hosted-project-tools-"
    "terms-of-use/.",
    "\tNote that if your submission includes personal data associated with this signed artifact, it will be "
    "part of an immutable record.",
    "\tThis may include the email address associated with the account with which you authenticate your "
    "contractual Agreement.",
    "\tThis information will be used for signing this artifact and will be stored in public transparency logs "
    "and cannot be removed later, and is subject to the Immutable Record notice at "
    "https://lfprojects.org/policies/hosted-project-tools-immutable-records/.",
    "",
])
PRIVACY_CONFIRMATION = ("By typing 'y', you attest that (1) you are not submitting the personal data of any "
                        "other person; and (2) you understand and agree to the statement and the Agreement "
                        "terms at the URLs listed above.")


def confirm_log_upload(*, assume_yes: bool) -> None:
    """cosign's ``ShouldUploadToTlog``: print the privacy statement, then ask
    ``Are you sure you would like to continue? [y/N]`` unless ``--yes``. Without a
    terminal on stdin there is nobody to ask, so the upload is refused (cosign reads
    end-of-file as "no"); ``y``/``Y`` accepts, empty or ``n`` declines, anything
    else is invalid input, as in cosign's ``ui.ConfirmContinue``."""
    info(PRIVACY_STATEMENT)
    info(PRIVACY_CONFIRMATION)
    if assume_yes:
        return
    sys.stderr.write("Are you sure you would like to continue? [y/N] ")
    sys.stderr.flush()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")
        raise UserDeclined("no terminal to confirm the upload to the transparency log on "
                           "(pass --yes to upload without asking)")
    answer = sys.stdin.readline().strip()
    if answer.lower() == "y":
        return
    if answer.lower() in ("", "n"):
        raise UserDeclined()
    from sigstack.errors import SigstackError

    raise SigstackError(f'invalid input "{answer}" (allowed values y, n)')
