"""Errors of the CA and its CT log; each carries the HTTP status it answers with.

Fulcio reports every request failure as a gRPC status through grpc-gateway: HTTP 400
with gRPC code 3 (InvalidArgument) for a bad token, key, CSR or proof, 500 with code
13 (Internal) for CA or CT failures. Its client-facing message is a fixed sentence
(``There was an error processing the identity token``); we keep that sentence as the
prefix and add the reason, so a person learns what was wrong and scripts that match
Fulcio's words still match.
"""

from __future__ import annotations

from sigstack.errors import (  # the classes live in the one hierarchy; re-exported here
    INVALID_IDENTITY_TOKEN,
    BadRequestError,
    CAError,
    ConfigError,
    CTError,
    TokenError,
    UnauthenticatedError,
)

INVALID_SIGNATURE = "The signature supplied in the request could not be verified"
INVALID_PUBLIC_KEY = "The public key supplied in the request could not be parsed"
INVALID_CSR = "The certificate signing request could not be parsed"
INSECURE_PUBLIC_KEY = "The public key supplied in the request is insecure"
FAILED_CT = "Error entering certificate in CTL"



__all__ = ["FAILED_CT", "INSECURE_PUBLIC_KEY", "INVALID_CSR", "INVALID_IDENTITY_TOKEN", "INVALID_PUBLIC_KEY",
           "INVALID_SIGNATURE", "BadRequestError", "CAError", "CTError", "ConfigError", "TokenError",
           "UnauthenticatedError"]
