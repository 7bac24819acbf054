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

    if args.insecure_ignore_tlog:
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
