"""The one error hierarchy: every failure a user can cause carries a one-line message.

The library raises these; only the edges turn them into something else: the CLI
into ``Error: <message>`` and an exit code (``sigstack.cli.main.exit_code_for``,
decided from the error's type), the HTTP servers into statuses. Keeping the
user-facing text on the exception means library callers get the same clear words
the CLI prints. Messages speak of the library (what failed and why), never of
command-line flags: the CLI adds its own flag hints. They follow cosign's wording
where cosign has one, so scripts that grep for them keep working.

All classes live here, in one module, so that a caller can catch a family
(``RegistryError``, ``VerificationError``) without importing the subsystem that
raises it, and so that no subsystem imports another one for its errors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

#: The options a ``hint`` may name: the request ``timeout``; ``insecure_ignore_tlog``
#: (accept a signature without log evidence) in its two phrasings (``skip``: skip the
#: log check; ``accept``: accept it without); ``insecure_ignore_tlog_alone`` (check
#: the signature alone); ``trusted_logs`` (give trusted log keys); ``no_tlog_upload``
#: (sign without logging; ``_or_bundle``: nor write a bundle); ``registry_ca`` (trust a
#: registry's CA, or skip TLS checks); ``registry_http`` (allow plain HTTP);
#: ``check_reference`` (accept another repository's payload).
HINTS = ("timeout", "insecure_ignore_tlog_skip", "insecure_ignore_tlog_accept", "insecure_ignore_tlog_alone",
         "trusted_logs", "no_tlog_upload", "no_tlog_upload_or_bundle", "registry_ca", "registry_http",
         "check_reference")


class SigstackError(Exception):
    """Base class for every error a user can cause or meet; ``message`` is one line.

    ``hint`` names, in the library's terms, the option that would change the outcome
    (one of :data:`HINTS`); an edge may render it in its own terms (the CLI appends
    the flag), a library caller can read it or ignore it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# ---- keys --------------------------------------------------------------------------------

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


# ---- inputs ------------------------------------------------------------------------------

class ArtifactError(SigstackError):
    """An input artifact or file could not be read."""


class TLSConfigError(SigstackError):
    """A server's TLS certificate, key or client CA cannot be used."""


class UsageError(SigstackError):
    """A library call was given options that cannot be used together or at all."""


class UserDeclined(SigstackError):
    """The user answered no to a confirmation prompt."""

    def __init__(self, message: str = "user declined the prompt") -> None:
        super().__init__(message)


class ProxyConfigError(SigstackError):
    """A proxy variable holds a value that cannot be used as a proxy URL."""


class Cancelled(SigstackError):
    """Work was stopped through its ``cancel`` event."""


# ---- documents ---------------------------------------------------------------------------

class BundleError(SigstackError):
    """A bundle document is malformed or not of a supported kind."""


class TrustRootError(SigstackError):
    """A trusted root document is malformed, or lists nothing usable."""


class PolicyError(SigstackError):
    """A policy file is unusable (format, syntax), as opposed to a policy failure."""


# ---- registries --------------------------------------------------------------------------

class ReferenceError(SigstackError):
    """An image or repository reference does not parse."""


class RegistryError(SigstackError):
    """A registry answered with an error, could not be reached, or sent bad content."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NotFoundError(RegistryError):
    """The registry said 404 (unknown manifest, blob, repository or tag)."""


class AuthError(RegistryError):
    """401/403: the message says how to log in."""


class DigestMismatchError(RegistryError):
    """Content fetched by digest does not hash to that digest: never trusted."""


class TooLargeError(RegistryError):
    """Content is larger than the configured bound."""


class ConcurrentUpdateError(RegistryError):
    """A shared tag (``.sig``, ``.att``, the referrers index) kept being overwritten by
    concurrent writers, so what this run added is not in the final manifest."""


class CredentialError(SigstackError):
    """The docker config or a credential helper could not give credentials."""


class LayoutError(SigstackError):
    """An OCI layout directory is missing, malformed, or its content does not match."""


# ---- transparency log --------------------------------------------------------------------

class LogError(SigstackError):
    """The log could not do what was asked (storage failure, bad request...)."""


class BadEntryError(LogError):
    """A proposed entry is malformed or its signature does not verify (HTTP 400)."""


class QueryError(LogError):
    """A log explorer search that cannot run; the message says how to write it."""


class LogClientError(LogError):
    """Talking to a log over HTTP failed (network, unexpected status, bad response)."""


class TUFError(SigstackError):
    """The TUF repository could not be reached or its metadata did not verify."""


# ---- verification ------------------------------------------------------------------------

class SignatureError(SigstackError):
    """A signature is malformed or does not verify."""


class VerificationError(SignatureError):
    """Verification failed; ``message`` says why."""


class InvalidSignatureError(VerificationError):
    """The signature itself does not verify with the key (the pipeline's signature step)."""


class ProofError(VerificationError):
    """An inclusion or consistency proof, a checkpoint or a SET does not verify, or a log
    entry is not evidence for what is verified."""


class LogEntryError(ProofError):
    """A Rekor v2 entry body does not parse or does not match the bundle."""


class NoTrustedLogError(VerificationError):
    """Log evidence must be checked, but no trusted transparency log key was given."""

    def __init__(self) -> None:
        super().__init__("no trusted transparency log key", hint="trusted_logs")


class MissingEvidenceError(VerificationError):
    """A signature carries no transparency log evidence, and none can be looked up."""


class NotInLogError(VerificationError):
    """The log was asked and holds no entry for the signature."""


# keyless checks: one class per check of the pipeline; ``reason`` is a short tag, and each
# message names the failed check in the words sigstore-conformance's READMEs use

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
    the one the policy asks for. ``subjects`` and ``issuer`` are what the certificate
    names (when the failing certificate is known), so an edge can word the refusal in
    its own terms (policy-controller prints cosign's) without parsing it again."""

    reason = "identity"

    def __init__(self, message: str, *, subjects: Sequence[str] = (), issuer: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.subjects = tuple(subjects)
        self.issuer = issuer


class NoSignaturesError(VerificationError):
    """Nothing signed the image (cosign's exit code 10)."""

    def __init__(self, message: str = "no signatures found") -> None:
        super().__init__(message)


class NoSavedSignaturesError(NoSignaturesError):
    """Nothing of the kind asked for was saved with the image (cosign's wording)."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        super().__init__(f"no {what} associated with the image saved in {os.fspath(path)}")


class TagNotFoundError(VerificationError):
    """The image to verify does not exist (cosign's exit code 11)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"image tag not found: {detail}")


class NoMatchingSignaturesError(VerificationError):
    """Signatures exist but none verified (cosign's exit code 12); ``causes`` says why
    each one failed, in the order they were found."""

    def __init__(self, causes: Sequence[SigstackError]) -> None:
        super().__init__("no matching signatures: " + "\n ".join(c.message for c in causes))
        self.causes = list(causes)


class NoMatchingAttestationsError(VerificationError):
    """Sigstore bundles exist but none verified (cosign's words for bundle referrers,
    signatures included); ``causes`` says why each one failed, in the order found."""

    def __init__(self, causes: Sequence[SigstackError]) -> None:
        super().__init__("no matching attestations: " + "\n ".join(c.message for c in causes))
        self.causes = list(causes)


class PolicyViolation(VerificationError):
    """Attestations verified but the policies did not allow them; ``errors`` lists each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__(f"{len(errors)} validation errors occurred")
        self.errors = list(errors)

class CAClientError(SigstackError):
    """The CA refused the request or could not be reached; the message says why."""

class TrustDocError(SigstackError):
    """Trust material given to a writer is unusable."""

class OIDCError(SigstackError):
    """A bad request to the development issuer, or its state is unusable."""

class IdentityTokenError(SigstackError):
    """No identity token could be obtained for keyless signing (an explicit token,
    an ambient provider, or the interactive login failed); the message says which."""


# ---- the CA, its CT log, the OIDC issuer -------------------------------------------------

#: Fulcio's client-facing sentence for every token failure (scripts match on it)
INVALID_IDENTITY_TOKEN = "There was an error processing the identity token"


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


# ---- the timestamp authority (RFC 3161) --------------------------------------------------

#: timestamp-authority's client-facing sentences (``pkg/api/error.go``); scripts match on them
TSA_FAILED = "Error generating timestamp response"
TSA_WEAK_HASH = "Weak hash algorithm in timestamp request"
TSA_DIGEST_LENGTH = "Message digest has incorrect length for specified algorithm"
TSA_UNACCEPTED_POLICY = "unaccepted policy: requested TSA policy is not supported by the TSA"
TSA_UNACCEPTED_EXTENSION = "unaccepted extension: requested extensions are not supported by the TSA"


class TimestampRequestError(SigstackError):
    """A timestamp request the TSA refuses at the HTTP level; ``status`` is the HTTP status
    (timestamp-authority answers 400 with ``{"code": 400, "message": ...}``)."""

    status = 400


class TSAClientError(SigstackError):
    """The timestamp authority refused the request, could not be reached, or answered
    with something other than the timestamp asked for; the message says which."""
