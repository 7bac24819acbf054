"""Image commands: ``sign``, ``verify``, ``login``, ``triangulate``, ``tree``.

Registry flags follow cosign's names: ``--allow-insecure-registry`` (skip TLS
verification), ``--allow-http-registry`` (plain HTTP to any host; loopback hosts
fall back to HTTP on their own, as in cosign), ``--registry-cacert``,
``--attachment-tag-prefix`` (passed to the library as ``tag_prefix``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sigstack.cli._args import add_bool, add_deprecated

if TYPE_CHECKING:
    from collections.abc import Callable

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


def log_keys(args: argparse.Namespace) -> tuple[Any, ...]:
    """The trusted log keys (none needed with --insecure-ignore-tlog, which warns)."""
    if args.insecure_ignore_tlog:
        return ()
    import os

    from sigstack.tlog.evidence import trusted_log_keys

    return tuple(trusted_log_keys(args.trusted_root, os.environ.get("SIGSTORE_REKOR_PUBLIC_KEY")))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sign", parents=[common], help="sign container images in a registry",
                       description=("Sign IMAGE with --key and store the signature beside it in the "
                                    f"registry (the .sig tag by default). {TLOG}"))
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--key", required=True, metavar="REF", help="private key reference")
    annotation_flag(p, "extra key=value pairs to sign (repeatable, comma-separated)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="if IMAGE is a multi-platform index, also sign each platform image")
    tlog_upload_flags(p)
    add_bool(p, "--upload", default=True,
             help="push the signature to the registry; with false, use --output-signature/--output-payload")
    p.add_argument("--output-signature", metavar="FILE", help="also write the base64 signature to FILE")
    p.add_argument("--output-payload", metavar="FILE", help="also write the signed payload to FILE")
    add_bool(p, "--new-bundle-format", default=False,
             help="store a Sigstore bundle v0.3 as an OCI 1.1 referrer instead of the .sig tag")
    add_bool(p, "--use-signing-config", default=False,
             help="accepted for cosign compatibility; the log is the one at --rekor-url")
    p.add_argument("--registry-referrers-mode", default="legacy", choices=["legacy", "oci-1-1"],
                   help="oci-1-1 stores the .sig-style image as an OCI 1.1 referrer "
                        "(needs COSIGN_EXPERIMENTAL=1)")
    p.add_argument("-y", "--yes", action="store_true", help="skip confirmation prompts")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.image:run_sign")

    p = sub.add_parser("verify", parents=[common], help="verify image signatures with a public key",
                       description=("Verify the signatures of IMAGE with --key; exit codes 10 (no "
                                    "signatures), 11 (image not found), 12 (no matching signature). "
                                    f"{TLOG}"))
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--key", required=True, metavar="REF", help="public key reference")
    annotation_flag(p, "annotations that must be present in the signed payload")
    tlog_verify_flags(p)
    add_bool(p, "--check-claims", default=True, help="check the claims in the signed payload")
    add_bool(p, "--check-reference", default=True,
             help="require the signed payload to name IMAGE's repository (cosign does not check this; "
                  "pass false for signatures copied from another repository, e.g. to a mirror)")
    p.add_argument("-o", "--output", default="json", choices=["json", "text"], help="output format")
    add_bool(p, "--experimental-oci11", default=False,
             help="also read signatures stored as OCI 1.1 referrers (registry-referrers-mode=oci-1-1)")
    add_bool(p, "--new-bundle-format", default=True,
             help="look for Sigstore bundles among the referrers first; false reads only the legacy layouts")
    p.add_argument("--max-workers", type=int, default=10, help="signatures checked concurrently")
    add_bool(p, "--local-image", default=False,
             help="IMAGE is a directory written by save (or cosign save), verified without a registry")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.image:run_verify")

    p = sub.add_parser("login", parents=[common], help="store registry credentials in the docker config",
                       description="Store credentials for REGISTRY in $DOCKER_CONFIG/config.json "
                                   "(default ~/.docker/config.json), as docker login does.")
    p.add_argument("registry", metavar="REGISTRY")
    p.add_argument("-u", "--username", required=True)
    p.add_argument("-p", "--password", help="the password (prefer --password-stdin)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--docker-config", metavar="DIR", help=argparse.SUPPRESS)
    p.set_defaults(handler="sigstack.cli.image:run_login")

    p = sub.add_parser("triangulate", parents=[common], help="print where an attachment of IMAGE lives")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--type", default="signature", choices=["signature", "attestation", "sbom", "digest"])
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.image:run_triangulate")

    p = sub.add_parser("tree", parents=[common], help="show what is attached to IMAGE")
    p.add_argument("image", metavar="IMAGE")
    add_bool(p, "--experimental-oci11", default=False,
             help="accepted for cosign compatibility; OCI 1.1 referrers are always listed")
    p.add_argument("--registry-referrers-mode", default="legacy", choices=["legacy", "oci-1-1"],
                   help="accepted for cosign compatibility")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.image:run_tree")


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


def run_sign(args: argparse.Namespace) -> int:
    import base64
    import os
    from pathlib import Path

    from sigstack.cli._args import TRUE
    from sigstack.errors import SigstackError

    if not args.upload and not (args.output_signature or args.output_payload):
        raise SigstackError("--upload=false needs --output-signature or --output-payload "
                            "(otherwise the signature would be thrown away)")
    if args.registry_referrers_mode == "oci-1-1" and os.environ.get("COSIGN_EXPERIMENTAL", "") not in TRUE:
        raise SigstackError('in order to use  mode "oci-1-1", you must set COSIGN_EXPERIMENTAL=1')
    # First: the key loads while everything below runs (the prefix is checked before any prompt).
    signer = load_signer_for(args, before_prompt=lambda: tag_prefix(args))
    prefix = tag_prefix(args)

    from sigstack._internal.fs import atomic_write
    from sigstack.cli._common import docker_types, target_repository
    from sigstack.cli._io import info
    from sigstack.oci import layout
    from sigstack.oci.layouts import target_repository as resolve_target
    from sigstack.oci.reference import parse_reference
    from sigstack.payload.simplesigning import parse_annotations
    from sigstack.sign.image import ImageSignOptions, sign_image

    annotations = parse_annotations(args.annotations)
    refs = [parse_reference(i) for i in args.images]
    target = target_repository()
    opts = ImageSignOptions(annotations=annotations, recursive=args.recursive,
                            tag_prefix=prefix, target_repository=target, docker_types=docker_types(),
                            referrers_mode=args.registry_referrers_mode,
                            new_bundle_format=args.new_bundle_format, upload=args.upload,
                            rekor_url=args.rekor_url if args.tlog_upload else None,
                            rekor_timeout=go_duration(args.timeout))
    with client_from(args) as client:
        for ref in refs:
            if not ref.digest:
                info(TAG_WARNING.format(ref=args.images[refs.index(ref)], verb="sign"))
            repo = resolve_target(ref.repository, target)
            if args.upload:
                info(f"Pushing signature to: {repo.name}")
            for done in sign_image(client, signer, ref, opts):
                if done.tlog_entry is not None:
                    info(f"tlog entry created with index: {done.tlog_entry.log_index}")
                if args.output_signature:
                    atomic_write(Path(args.output_signature), base64.b64encode(done.signature), 0o644)
                if args.output_payload:
                    atomic_write(Path(args.output_payload), done.payload, 0o644)
                if args.registry_referrers_mode == "oci-1-1" and not args.new_bundle_format \
                        and done.stored_at is not None:
                    info(f"Uploading signature for [{ref.repository.name}@{done.digest}] to "
                         f"[{done.stored_at.name}] with config.mediaType [{layout.SIG_ARTIFACT}] "
                         f"layers[0].mediaType [{layout.SIMPLESIGNING_MEDIA}].")
    return 0


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


def run_verify(args: argparse.Namespace) -> int:
    """``verify``: each IMAGE is a registry reference, or with ``--local-image`` a directory
    written by ``save`` (verified by the same code over a read-only view of it)."""
    import contextlib

    from sigstack import keys
    from sigstack.cli._common import target_repository
    from sigstack.cli._io import info, write_output
    from sigstack.errors import SigstackError
    from sigstack.payload import gojson
    from sigstack.payload.simplesigning import parse_annotations
    from sigstack.verify.image import ImageVerification, ImageVerifyOptions, verify_image

    annotations = parse_annotations(args.annotations)
    if args.local_image:
        refs = []
    else:
        from sigstack.oci.reference import parse_reference

        refs = [parse_reference(i) for i in args.images]
    prefix = tag_prefix(args)
    verifier = keys.load_verifier_on_first_use(args.key)
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the signature.")
    tlog_keys = log_keys(args)
    opts = ImageVerifyOptions(tlog_keys=tlog_keys, insecure_ignore_tlog=args.insecure_ignore_tlog,
                              rekor_url=args.rekor_url, rekor_timeout=go_duration(args.timeout),
                              annotations=annotations, check_claims=args.check_claims,
                              max_workers=max(1, args.max_workers),
                              experimental_oci11=args.experimental_oci11,
                              bundles=args.new_bundle_format,
                              check_reference=args.check_reference,
                              tag_prefix=prefix, target_repository=target_repository())
    out = b""
    with contextlib.nullcontext() if args.local_image else client_from(args) as client:
        for i, image in enumerate(args.images):
            try:
                if args.local_image:
                    from sigstack.verify.local import verify_local_image

                    result: ImageVerification = verify_local_image(image, verifier, opts)
                else:
                    assert client is not None  # opened above for registry references
                    result = verify_image(client, verifier, refs[i], opts)
            except SigstackError:
                verifier.public_key()  # a key that cannot be loaded is the error cosign reports
                raise
            print_header(image if args.local_image else refs[i].name, bool(annotations), args.check_claims,
                         tlog=not args.insecure_ignore_tlog)
            if args.output == "text":
                out += b"".join(s.payload + b"\n" for s in result.signatures)
            else:
                out += b"\n" + gojson.dumps([s.output for s in result.signatures]) + b"\n"
    write_output(out, args.output_file)
    return 0


def run_login(args: argparse.Namespace) -> int:
    import sys

    from sigstack.cli._io import info
    from sigstack.errors import SigstackError
    from sigstack.oci import auth

    if args.password_stdin:
        password = sys.stdin.read().rstrip("\n")
    elif args.password is not None:
        password = args.password
    else:
        raise SigstackError("a password is needed: pass --password-stdin (or -p)")
    path = auth.login(args.registry, args.username, password, args.docker_config)
    info(f"logged in via {path}")
    return 0


def run_triangulate(args: argparse.Namespace) -> int:
    from sigstack.cli._common import target_repository
    from sigstack.cli._io import write_output
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.tools import triangulate

    ref = parse_reference(args.image)
    with client_from(args) as client:
        line = triangulate(client, ref, args.type, tag_prefix=tag_prefix(args),
                           target_repository=target_repository())
    write_output(line.encode() + b"\n", args.output_file)
    return 0


def run_tree(args: argparse.Namespace) -> int:
    from sigstack.cli._common import target_repository
    from sigstack.cli._io import write_output
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.tools import render_tree, tree

    ref = parse_reference(args.image)
    with client_from(args) as client:
        text = render_tree(ref, tree(client, ref, tag_prefix=tag_prefix(args),
                                     target_repository=target_repository()))
    write_output(text.encode(), args.output_file)
    return 0
