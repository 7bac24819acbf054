"""Typed errors: every failure a user can cause carries a one-line message and an exit code.

The library raises these; only the CLI (and the HTTP servers) turn them into exit
codes, stderr lines and HTTP statuses. Keeping the user-facing text on the
exception means the library's callers get the same clear words the CLI prints.
Messages follow cosign's wording where cosign has one, so scripts that grep for
them keep working.
"""

from __future__ import annotations


class SigstackError(Exception):
    """Base class for every error a user can cause or meet.

    ``message`` is one line meant for a person; ``exit_code`` is what the CLI
    exits with (cosign uses 1 for almost everything, 10-13 for image verification).
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class KeyLoadError(SigstackError):
    """A key could not be loaded, parsed, decrypted or is of an unsupported kind."""


class KeyRefError(KeyLoadError):
    """A key reference (path, ``env://``, ``k8s://``, KMS URI ...) is malformed or unknown."""


class PasswordError(KeyLoadError):
    """Decryption with the given password failed, or no password could be obtained."""


class UnsupportedKeyError(KeyLoadError):
    """The key is valid but of a type or size cosign does not accept."""


class MissingExtraError(SigstackError):
    """A feature needs an optional dependency group (``pip install 'sigstack[x]'``)."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependencies of sigstack[{extra}]: "
            f"pip install 'sigstack[{extra}]'"
        )
        self.extra = extra


class ArtifactError(SigstackError):
    """An input artifact or file could not be read."""


class SignatureError(SigstackError):
    """A signature is malformed or does not verify."""


class VerificationError(SignatureError):
    """Verification failed; ``message`` says why."""


class UserDeclined(SigstackError):
    """The user answered no to a confirmation prompt."""

    def __init__(self) -> None:
        super().__init__("user declined the prompt")
