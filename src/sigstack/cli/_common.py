"""Helpers every command module shares: registry and log flags, the clients built from
them, the signer, durations, and the environment the CLI (alone) reads.

This is the CLI's edge: cosign's ``COSIGN_*``/``SIGSTORE_*`` environment variables are
read here and handed to the library as plain values.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sigstack.cli._args import add_bool, add_deprecated

if TYPE_CHECKING:
    from collections.abc import Callable

    from sigstack.tlog.client import RekorClient
    from sigstack.verify.evidence import LogPolicy

DEFAULT_REKOR_URL = "https://rekor.sigstore.dev"
TLOG = (
    "As cosign does, each signature is uploaded to the transparency log at --rekor-url "
    "unless --tlog-upload=false, and the log's evidence is stored with it (the "
    "dev.sigstore.cosign/bundle layer annotation, or the bundle's tlog entry). Verification "
    "checks that evidence offline against the log key from --trusted-root or "
    "$SIGSTORE_REKOR_PUBLIC_KEY; --insecure-ignore-tlog skips it."
)
TAG_WARNING = (
    "WARNING: Image reference {ref} uses a tag, not a digest, to identify the image to {verb}.\n"
    "    This can lead you to {verb} a different image than the intended one. Please use a\n"
    "    digest (example.com/ubuntu@sha256:abc123...) rather than tag\n"
    "    (example.com/ubuntu:latest) for the input to cosign. The ability to refer to\n"
    "    images by tag will be removed in a future release.\n"
)


def registry_flags(p: argparse.ArgumentParser) -> None:
    add_bool(p, "--allow-insecure-registry", default=False,
             help="skip TLS certificate verification when talking to registries (insecure)")
    add_bool(p, "--allow-http-registry", default=False,
             help="allow plain-HTTP registries (loopback hosts always may)")
    p.add_argument("--registry-cacert", metavar="FILE",
                   help="PEM file of CA certificates to trust for registries, besides the system roots")
    p.add_argument("--docker-config", metavar="DIR", help=argparse.SUPPRESS)
    add_deprecated(p, "--attachment-tag-prefix", "please use OCI referrers", default="", metavar="PREFIX",
                   help="optional custom prefix to use for attached image tags. Attachment images are "
                        "tagged as: [AttachmentTagPrefix]sha256-[TargetImageDigest].[AttachmentName] "
                        "(OCI 1.1 referrers and their sha256-<hex> fallback tag are never prefixed; "
                        "deprecated by cosign)")


def server_flags(p: argparse.ArgumentParser, tls: bool = False) -> None:
    """What every ``serve`` command shares (sigstack._internal.serving.ServerOptions):
    per-client rate limit, the slow-client read timeout, the log level, and, with
    ``tls``, optional --tls-cert/--tls-key (servers whose TLS is required define their own)."""
    if tls:
        p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate chain (PEM, leaf first)")
        p.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    p.add_argument("--rate-limit", type=float, default=0.0, metavar="N",
                   help="requests per second allowed to each client address, beyond which it gets 429 with "
                        "Retry-After (default 0: no limit)")
    p.add_argument("--rate-burst", type=int, default=0, metavar="N",
                   help="requests a client may send at once before --rate-limit applies (default 2 x the rate)")
    p.add_argument("--read-timeout", default="30s", metavar="DURATION",
                   help="time a client has to send a whole request, headers and body, before the server "
                        "answers 408 and closes the connection (slow clients; default 30s)")
    p.add_argument("--log-level", default="warning", choices=("warning", "info", "debug"),
                   help="server log verbosity; info adds an access log line per request (secrets redacted)")


def server_options(args: argparse.Namespace) -> Any:
    """The ServerOptions from :func:`server_flags`' flags."""
    from sigstack._internal.serving import ServerOptions
    from sigstack.errors import UsageError

    try:
        read_timeout = go_duration(args.read_timeout)
    except Exception:
        raise UsageError(f'invalid argument "{args.read_timeout}" for "--read-timeout" flag: '
                         f'time: invalid duration "{args.read_timeout}"') from None
    if args.rate_limit < 0 or args.rate_burst < 0:
        raise UsageError("--rate-limit and --rate-burst must not be negative")
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if bool(cert) != bool(key):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    return ServerOptions(tls_cert=cert, tls_key=key, rate_limit=args.rate_limit, rate_burst=args.rate_burst,
                         read_timeout=read_timeout, log_level=args.log_level)


def tag_prefix(args: argparse.Namespace) -> str:
    """``--attachment-tag-prefix``, checked before any prompt (password, confirmation)
    or registry round trip; the library checks it again for its own callers."""
    from sigstack.oci.reference import check_tag_prefix

    return check_tag_prefix(args.attachment_tag_prefix)


def annotation_flag(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("-a", "--annotations", action="append", default=[], metavar="KEY=VALUE", help=help)


def tlog_upload_flags(p: argparse.ArgumentParser) -> None:
    add_bool(p, "--tlog-upload", default=True,
             help="upload the signature to the transparency log (false: key-only, see above)")
    p.add_argument("--rekor-url", default=DEFAULT_REKOR_URL,
                   help=f"transparency log base URL (default {DEFAULT_REKOR_URL})")


def tlog_verify_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trusted-root", metavar="FILE",
                   help="Sigstore trusted root JSON naming the trusted transparency logs")
    p.add_argument("--rekor-url", default=DEFAULT_REKOR_URL,
                   help="where to look up a signature or attestation that carries no log evidence "
                        "(the entry found is then verified offline)")
    add_bool(p, "--insecure-ignore-tlog", default=False,
             help="do not check transparency log evidence (insecure)")


def go_duration(text: str) -> float:
    """Seconds in a Go duration such as ``3m``, ``30s``, ``1h30m``, ``500ms`` (the -t flag)."""
    import re

    from sigstack.errors import SigstackError

    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise SigstackError(f'invalid argument "{text}" for "-t, --timeout" flag: '
                            f'time: invalid duration "{text}"')
    seconds = sum(float(a) * units[b] for a, b in parts)
    if seconds <= 0:
        raise SigstackError(f'invalid argument "{text}" for "-t, --timeout" flag: must be positive')
    return seconds


def client_from(args: argparse.Namespace) -> Any:
    from sigstack.oci.client import RegistryClient, RegistryOptions

    debug = None
    if args.verbose:
        import sys

        def debug(line: str) -> None:
            print(line, file=sys.stderr)

    return RegistryClient(RegistryOptions(
        timeout=go_duration(args.timeout),
        debug=debug,
        allow_insecure=args.allow_insecure_registry,
        allow_http=args.allow_http_registry,
        ca_file=args.registry_cacert,
        docker_config=args.docker_config,
        max_blob_bytes=max_attachment_size(),
    ))


def load_signer_for(args: argparse.Namespace, before_prompt: Callable[[], object] | None = None) -> Any:
    """``--key``'s signer. When no terminal prompt can be needed, it loads on a
    background thread (scrypt, or a KMS round trip) while imports and registry round
    trips proceed; its first use waits (see :mod:`sigstack.keys.background`).
    Otherwise ``before_prompt()`` runs first, so input checks fail before the user is
    asked for a password."""
    import os
    import sys

    from sigstack.cli._io import Password

    if os.environ.get("COSIGN_PASSWORD") is not None or not sys.stdin.isatty():
        from sigstack.keys.background import load_signer_in_background

        return load_signer_in_background(args.key, Password())
    if before_prompt is not None:
        before_prompt()
    from sigstack.keys import load_signer

    return load_signer(args.key, Password())


def print_header(name: str, annotations: bool, check_claims: bool, key: bool = True,
                 tlog: bool = False) -> None:
    from sigstack.cli._io import info

    lines = [f"\nVerification for {name} --",
             "The following checks were performed on each of these signatures:"]
    if check_claims:
        if annotations:
            lines.append("  - The specified annotations were verified.")
        lines.append("  - The cosign claims were validated")
    if tlog:
        lines.append("  - Existence of the claims in the transparency log was verified offline")
    if key:
        lines.append("  - The signatures were verified against the specified public key")
    else:  # keyless, in cosign's words
        lines.append("  - The code-signing certificate was verified using trusted certificate authority certificates")
    info("\n".join(lines))




def rekor_public_key() -> str | None:
    """cosign's ``$SIGSTORE_REKOR_PUBLIC_KEY``: a PEM file with the trusted log key."""
    import os

    return os.environ.get("SIGSTORE_REKOR_PUBLIC_KEY") or None


def max_attachment_size() -> int:
    """cosign's ``$COSIGN_MAX_ATTACHMENT_SIZE`` (a size such as ``100MiB``), else the default."""
    import os

    from sigstack.oci.client import parse_size

    return parse_size(os.environ.get("COSIGN_MAX_ATTACHMENT_SIZE", ""), "COSIGN_MAX_ATTACHMENT_SIZE")


def log_client(args: argparse.Namespace) -> RekorClient:
    """The log at ``--rekor-url`` for one command, each request bounded by ``-t/--timeout``
    (close it: it is a context manager)."""
    from sigstack.tlog.client import RekorClient

    return RekorClient(args.rekor_url, go_duration(args.timeout))


def log_policy(args: argparse.Namespace, client: RekorClient | None = None) -> LogPolicy:
    """The log policy of a verify command: ``--insecure-ignore-tlog``, else the keys of
    ``--trusted-root`` or ``$SIGSTORE_REKOR_PUBLIC_KEY``, looking up with ``client``."""
    from sigstack.verify.evidence import LogPolicy, trusted_log_keys

    if args.insecure_ignore_tlog or getattr(args, "private_infrastructure", False):
        return LogPolicy(insecure_ignore_tlog=True)
    return LogPolicy(trusted_logs=tuple(trusted_log_keys(args.trusted_root, rekor_public_key())), client=client)


def target_repository() -> str | None:
    """``COSIGN_REPOSITORY``, checked now (so a bad value fails before any prompt or
    request, naming the variable); None when unset or empty."""
    import os

    value = os.environ.get("COSIGN_REPOSITORY", "")
    if not value:
        return None
    from sigstack.errors import ReferenceError, RegistryError
    from sigstack.oci.reference import parse_repository

    try:
        parse_repository(value)
    except ReferenceError as exc:
        raise RegistryError(f"parsing COSIGN_REPOSITORY: {exc}") from None
    return value


def docker_types() -> bool:
    """``COSIGN_DOCKER_MEDIA_TYPES`` as cosign reads it (any Go ``strconv`` true value)."""
    import os

    from sigstack.cli._args import TRUE

    return os.environ.get("COSIGN_DOCKER_MEDIA_TYPES", "").strip() in TRUE


# ---- keyless verification: identity flags and trust material ---------------------------------

KEYLESS = (
    "Without --key, verification is keyless, as cosign's: the signing certificate (from the bundle, "
    "or --certificate) must chain to a CA of the trusted root at a verified time (the log's signed "
    "entry timestamp or an RFC 3161 timestamp), carry a valid SCT, and name the signer given by "
    "--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp] (both required). The "
    "trusted root is --trusted-root, else the TUF-cached one (sigstack initialize; $TUF_ROOT), "
    "with $SIGSTORE_ROOT_FILE / --ca-roots, $SIGSTORE_REKOR_PUBLIC_KEY, $SIGSTORE_CT_LOG_PUBLIC_KEY_FILE "
    "and $SIGSTORE_TSA_CERTIFICATE_FILE / --timestamp-certificate-chain replacing its parts."
)


def keyless_verify_flags(p: argparse.ArgumentParser) -> None:
    """cosign's certificate/identity/trust flags of its verify commands (``--trusted-root``
    is each command's own)."""
    p.add_argument("--certificate-identity", metavar="ID", help="the signer's identity (a certificate SAN)")
    p.add_argument("--certificate-identity-regexp", metavar="RE",
                   help="a regexp the signer's identity must match (searched, as cosign's)")
    p.add_argument("--certificate-oidc-issuer", metavar="URL", help="the OIDC issuer of the signer's identity")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="a regexp the OIDC issuer must match")
    for claim in ("trigger", "sha", "name", "repository", "ref"):
        p.add_argument(f"--certificate-github-workflow-{claim}", metavar="VALUE",
                       help=f"the GitHub workflow {claim} the certificate must carry")
    for flag, what in (
        ("--certificate", "the signing certificate (PEM or DER), if not in a bundle"),
        ("--certificate-chain", "PEM intermediates of --certificate (never trusted: only the trusted root's CAs are)"),
        ("--ca-roots", "PEM CA root certificates to trust instead of the root's CAs"),
        ("--ca-intermediates", "PEM CA intermediates, with --ca-roots"),
        ("--sct", "a detached SCT (CT AddChainResponse JSON) for the certificate"),
        ("--rfc3161-timestamp", "a detached RFC 3161 timestamp of the signature (cosign's JSON, or DER)"),
        ("--timestamp-certificate-chain", "PEM chain of the timestamp authority to trust instead of the root's TSAs"),
    ):
        p.add_argument(flag, metavar="FILE", help=what)
    add_bool(p, "--insecure-ignore-sct", default=False,
             help="do not check the certificate's SCT (insecure)")
    add_bool(p, "--use-signed-timestamps", default=False,
             help="require an RFC 3161 timestamp as the verified time")
    add_bool(p, "--offline", default=False, help="use only the cached trust material (no TUF refresh)")
    add_bool(p, "--private-infrastructure", default=False,
             help="a private deployment without a transparency log: skip the log check")


def _read_flag_file(flag: str, path: str) -> bytes:
    from pathlib import Path

    from sigstack.errors import SigstackError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigstackError(f"{flag}: reading {path}: {exc.strerror or exc}") from None


def _pem_chain(flag: str, path: str) -> tuple[bytes, ...]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.errors import SigstackError

    data = _read_flag_file(flag, path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SigstackError(f"{flag}: {path} is not a PEM certificate file") from None
    return tuple(c.public_bytes(Encoding.DER) for c in certs)


def _certificate(path: str) -> bytes:
    """``--certificate``: one PEM or DER certificate, or base64 of the PEM (what cosign's
    ``sign-blob --output-certificate`` writes), as DER."""
    import base64
    import binascii

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.errors import SigstackError

    data = _read_flag_file("--certificate", path)
    if b"-----BEGIN" not in data and data[:1] != b"\x30":  # not PEM, not DER: base64 of the PEM?
        import contextlib

        with contextlib.suppress(binascii.Error, ValueError):
            data = base64.b64decode(b"".join(data.split()), validate=True)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)
    except ValueError:
        raise SigstackError(f"--certificate: {path} is not a PEM or DER certificate") from None


def _timestamp(path: str) -> bytes:
    """``--rfc3161-timestamp``: cosign's ``{"SignedRFC3161Timestamp": "<b64 DER>"}``, or DER."""
    import base64
    import binascii
    import json

    from sigstack.errors import SigstackError

    data = _read_flag_file("--rfc3161-timestamp", path)
    if data.lstrip()[:1] != b"{":
        return data
    try:
        return base64.b64decode(json.loads(data)["SignedRFC3161Timestamp"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SigstackError(f"--rfc3161-timestamp: {path} is not cosign's timestamp JSON") from None


def _log_instance(env: str, path: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    from sigstack.bundle.trustroot import TransparencyLogInstance
    from sigstack.errors import SigstackError
    from sigstack.tlog.checkpoint import log_id

    try:
        key = serialization.load_pem_public_key(_read_flag_file(f"${env}", path))
    except ValueError:
        raise SigstackError(f"${env}: {path} is not a PEM public key") from None
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return TransparencyLogInstance(base_url="", hash_algorithm="SHA2_256", public_key_raw=der, key_details="",
                                   valid_for=None, log_id=log_id(key))


def _authority(certs: tuple[bytes, ...]) -> Any:
    from datetime import UTC, datetime

    from sigstack.bundle.trustroot import CertificateAuthority, TimeRange

    return CertificateAuthority(certificates=certs, valid_for=TimeRange(datetime(1970, 1, 1, tzinfo=UTC)))


def trusted_root_for(args: argparse.Namespace) -> Any:
    """The trusted root of a keyless verify command (see :data:`KEYLESS`): ``--trusted-root``,
    else the TUF-cached root (read offline when cached; refreshed online unless --offline),
    with the parts the environment and flags name replaced. A private CA
    (``$SIGSTORE_ROOT_FILE`` or ``--ca-roots``) starts from an empty root instead of TUF's."""
    import dataclasses
    import os

    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.errors import SigstackError

    ca_file = args.ca_roots or os.environ.get("SIGSTORE_ROOT_FILE")
    if args.trusted_root:
        root = TrustedRoot.from_json(_read_flag_file("--trusted-root", args.trusted_root))
    elif ca_file:
        root = TrustedRoot("application/vnd.dev.sigstore.trustedroot+json;version=0.1")
    else:
        root = _tuf_root(args.offline)
    changes: dict[str, Any] = {}
    if ca_file:
        flag = "--ca-roots" if args.ca_roots else "$SIGSTORE_ROOT_FILE"
        inter = _pem_chain("--ca-intermediates", args.ca_intermediates) if args.ca_intermediates else ()
        changes["certificate_authorities"] = (_authority(inter + _pem_chain(flag, ca_file)),)
    elif args.ca_intermediates:
        raise SigstackError("--ca-intermediates needs --ca-roots")
    if path := os.environ.get("SIGSTORE_REKOR_PUBLIC_KEY"):
        changes["tlogs"] = (_log_instance("SIGSTORE_REKOR_PUBLIC_KEY", path),)
    if path := os.environ.get("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE"):
        changes["ctlogs"] = (_log_instance("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", path),)
    tsa = args.timestamp_certificate_chain or os.environ.get("SIGSTORE_TSA_CERTIFICATE_FILE")
    if tsa:
        flag = "--timestamp-certificate-chain" if args.timestamp_certificate_chain else "$SIGSTORE_TSA_CERTIFICATE_FILE"
        changes["timestamp_authorities"] = (_authority(_pem_chain(flag, tsa)),)
    return dataclasses.replace(root, **changes) if changes else root


def _tuf_root(offline: bool) -> Any:
    from sigstack.cli.trust import tuf_cache_dir
    from sigstack.errors import TUFError
    from sigstack.trust.tuf import TrustUpdater, default_mirror

    cache = tuf_cache_dir()
    mirror = default_mirror(cache)
    try:
        return TrustUpdater(mirror, cache, offline=True).trusted_root()
    except TUFError:
        if offline:
            raise
    return TrustUpdater(mirror, cache).trusted_root()


def identity_policy(args: argparse.Namespace) -> Any:
    """The identity policy cosign builds from the ``--certificate-*`` flags (an identity
    and an issuer are both required, with cosign's own errors)."""
    from sigstack.errors import UsageError
    from sigstack.verify import identity as idp

    if not (args.certificate_identity or args.certificate_identity_regexp):
        raise UsageError("--certificate-identity or --certificate-identity-regexp is required for "
                         "verification in keyless mode")
    if not (args.certificate_oidc_issuer or args.certificate_oidc_issuer_regexp):
        raise UsageError("--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for "
                         "verification in keyless mode")
    policies: list[idp.Policy] = [idp.IdentityRegexp(
        identity_regexp=args.certificate_identity_regexp,
        identity=None if args.certificate_identity_regexp else args.certificate_identity,
        issuer=None if args.certificate_oidc_issuer_regexp else args.certificate_oidc_issuer,
        issuer_regexp=args.certificate_oidc_issuer_regexp)]
    for claim, cls in (("trigger", idp.GitHubWorkflowTrigger), ("sha", idp.GitHubWorkflowSHA),
                       ("name", idp.GitHubWorkflowName), ("repository", idp.GitHubWorkflowRepository),
                       ("ref", idp.GitHubWorkflowRef)):
        value = getattr(args, f"certificate_github_workflow_{claim}")
        if value:
            policies.append(cls(value))
    return policies[0] if len(policies) == 1 else idp.AllOf(policies)


def keyless_material(args: argparse.Namespace) -> Any:
    """The :class:`~sigstack.verify.keyless.Keyless` material of a verify command without --key."""
    from sigstack.verify.keyless import Keyless

    policy = identity_policy(args)  # usage errors before any file or TUF work
    return Keyless(
        trusted_root=trusted_root_for(args),
        policy=policy,
        certificate=_certificate(args.certificate) if args.certificate else None,
        chain=_pem_chain("--certificate-chain", args.certificate_chain) if args.certificate_chain else (),
        sct=_read_flag_file("--sct", args.sct) if args.sct else None,
        timestamps=(_timestamp(args.rfc3161_timestamp),) if args.rfc3161_timestamp else (),
        insecure_ignore_sct=args.insecure_ignore_sct,
        require_timestamp=args.use_signed_timestamps,
    )


def key_material(args: argparse.Namespace, key: Any) -> Any:
    """A verify command's key: as loaded, or, with ``--use-signed-timestamps`` (cosign's
    rule for a key too), a :class:`~sigstack.verify.timestamp.TimestampedKey` whose
    signatures must carry RFC 3161 timestamps from the trusted root's TSAs (or
    ``--timestamp-certificate-chain``'s), with ``--rfc3161-timestamp`` as a detached one."""
    if not getattr(args, "use_signed_timestamps", False):
        return key
    from sigstack.verify.timestamp import TimestampedKey

    return TimestampedKey(key, trusted_root_for(args),
                          timestamps=(_timestamp(args.rfc3161_timestamp),) if args.rfc3161_timestamp else ())


def keyless_log_policy(args: argparse.Namespace, client: RekorClient | None = None) -> LogPolicy:
    """Keyless log policy: the trusted root's logs decide (a signature without stored
    evidence is looked up with ``client``); --insecure-ignore-tlog or
    --private-infrastructure skip the log."""
    from sigstack.verify.evidence import LogPolicy

    return LogPolicy(client=client,
                     insecure_ignore_tlog=bool(args.insecure_ignore_tlog or args.private_infrastructure))


# ---- keyless signing: the environment's identity tokens ---------------------------------


def ambient_environment() -> Any:
    """What the environment offers keyless signing (:class:`sigstack.oidc.sources.Ambient`):
    ``SIGSTORE_ID_TOKEN`` (GitLab CI's documented ``id_tokens`` name; ``GITLAB_CI``),
    GitHub Actions' ``ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN``, Buildkite's
    ``BUILDKITE_AGENT_ACCESS_TOKEN`` and CircleCI's ``CIRCLECI``. The filesystem
    provider's path is cosign's fixed one unless ``SIGSTACK_OIDC_TOKEN_FILE`` moves it."""
    import os

    from sigstack.cli._args import TRUE
    from sigstack.oidc.sources import FILESYSTEM_TOKEN_PATH, Ambient

    env = os.environ
    return Ambient(
        env_token=env.get("SIGSTORE_ID_TOKEN") or None,
        gitlab=env.get("GITLAB_CI", "") in TRUE,
        github_request_url=env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or None,
        github_request_token=env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN") or None,
        filesystem_path=env.get("SIGSTACK_OIDC_TOKEN_FILE") or FILESYSTEM_TOKEN_PATH,
        buildkite=bool(env.get("BUILDKITE_AGENT_ACCESS_TOKEN")),
        circleci=env.get("CIRCLECI", "") in TRUE,
    )
