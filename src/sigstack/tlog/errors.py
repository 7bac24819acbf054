"""Errors of the transparency log, server and client side.

They subclass the foundation's :class:`~sigstack.errors.SigstackError`, so the CLI
prints their one-line message and the HTTP app maps them to a status code.
"""

from __future__ import annotations

from sigstack.errors import SigstackError, VerificationError


class LogError(SigstackError):
    """The log could not do what was asked (storage failure, bad request...)."""


class BadEntryError(LogError):
    """A proposed entry is malformed or its signature does not verify (HTTP 400)."""


class ProofError(VerificationError):
    """An inclusion or consistency proof, a checkpoint or a SET does not verify."""


class LogClientError(LogError):
    """Talking to a log over HTTP failed (network, unexpected status, bad response)."""
