"""Typed failures of the keyless checks, one class per check of the pipeline.

Each is a :class:`~sigstack.errors.VerificationError` (so callers that catch
"verification failed" keep working) whose message names the failed check in the
words sigstore-conformance's READMEs use ("certificate chain", "SCT", "timestamp",
"identity"...); log-evidence failures live with the log, in
:mod:`sigstack.tlog.errors`. ``reason`` is a short machine-readable tag for results.
"""

from __future__ import annotations

from sigstack.errors import VerificationError


class KeylessError(VerificationError):
    """Base of the keyless checks' failures."""

    reason = "verification"


class CertificateChainError(KeylessError):
    """The signing certificate does not chain to a CA of the trusted root at the
    verified time, or it is not a code-signing leaf valid at that time."""

    reason = "certificate chain"


class SCTError(KeylessError):
    """The certificate's signed certificate timestamp is missing, from an unknown CT
    log, or does not verify."""

    reason = "SCT"


class TimestampError(KeylessError):
    """An RFC 3161 timestamp does not verify against the trusted root's TSAs, or no
    verified time could be established."""

    reason = "timestamp"


class IdentityError(KeylessError):
    """The certificate's identity (SAN, OIDC issuer, GitHub workflow claims) is not
    the one the policy asks for."""

    reason = "identity"

