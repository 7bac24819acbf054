"""Errors of the CA and its CT log; each carries the HTTP status it answers with.

Fulcio reports every request failure as a gRPC status through grpc-gateway: HTTP 400
with gRPC code 3 (InvalidArgument) for a bad token, key, CSR or proof, 500 with code
13 (Internal) for CA or CT failures. Its client-facing message is a fixed sentence
(``There was an error processing the identity token``); we keep that sentence as the
prefix and add the reason, so a person learns what was wrong and scripts that match
Fulcio's words still match.
"""

from __future__ import annotations

from sigstack.errors import SigstackError

INVALID_IDENTITY_TOKEN = "There was an error processing the identity token"
INVALID_SIGNATURE = "The signature supplied in the request could not be verified"
INVALID_PUBLIC_KEY = "The public key supplied in the request could not be parsed"
INVALID_CSR = "The certificate signing request could not be parsed"
INSECURE_PUBLIC_KEY = "The public key supplied in the request is insecure"
FAILED_CT = "Error entering certificate in CTL"


class CAError(SigstackError):
    """A request the CA refuses or cannot serve; ``status`` is the HTTP status and
    ``grpc_code`` the gRPC code Fulcio's JSON gateway would put in the body."""

    status = 500
    grpc_code = 13

    def __init__(self, message: str, *, status: int | None = None, grpc_code: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if grpc_code is not None:
            self.grpc_code = grpc_code


class BadRequestError(CAError):
    """The request itself is wrong (HTTP 400, gRPC InvalidArgument)."""

    status = 400
    grpc_code = 3


class TokenError(BadRequestError):
    """The OIDC identity token was rejected; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{INVALID_IDENTITY_TOKEN}: {reason}")
        self.reason = reason


class UnauthenticatedError(CAError):
    """No identity token at all (HTTP 401, gRPC Unauthenticated)."""

    status = 401
    grpc_code = 16


class ConfigError(SigstackError):
    """The CA's issuer configuration file is malformed."""


class CTError(CAError):
    """The CT log refused a submission (``status`` 400) or failed (500)."""
