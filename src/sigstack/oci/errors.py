"""Errors of the registry layer, each a one-line message a user can act on."""

from __future__ import annotations

from sigstack.errors import SigstackError


class RegistryError(SigstackError):
    """A registry answered with an error, could not be reached, or sent bad content."""

    def __init__(self, message: str, *, status: int | None = None, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.status = status


class NotFoundError(RegistryError):
    """The registry said 404 (unknown manifest, blob, repository or tag)."""


class AuthError(RegistryError):
    """401/403: the message says how to log in."""


class DigestMismatchError(RegistryError):
    """Content fetched by digest does not hash to that digest: never trusted."""


class TooLargeError(RegistryError):
    """Content is larger than the configured bound."""
