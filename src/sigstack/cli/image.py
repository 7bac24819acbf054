"""Image commands: ``sign``, ``verify``, ``login``, ``triangulate``, ``tree``.

Registry flags follow cosign's names: ``--allow-insecure-registry`` (skip TLS
verification), ``--allow-http-registry`` (plain HTTP to any host; loopback hosts
fall back to HTTP on their own, as in cosign), ``--registry-cacert``,
``--attachment-tag-prefix`` (passed to the library as ``tag_prefix``).
"""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._args import add_bool
from sigstack.cli._common import (
    KEYLESS,
    TAG_WARNING,
    TLOG,
    annotation_flag,
    client_from,
    keyless_verify_flags,
    load_signer_for,
    log_client,
    log_policy,
    print_header,
    registry_flags,
    tag_prefix,
    tlog_upload_flags,
    tlog_verify_flags,
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sign", parents=[common], help="sign container images in a registry",
                       description=("Sign IMAGE with --key and store the signature beside it in the "
                                    f"registry (the .sig tag by default). {TLOG}"))
    from sigstack.cli._keyless import keyless_flags

    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--key", metavar="REF", help="private key reference (none: keyless, see --identity-token)")
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
    keyless_flags(p)
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.image:run_sign")

    p = sub.add_parser("verify", parents=[common], help="verify image signatures (a key, or keyless: who signed)",
                       description=("Verify the signatures of IMAGE with --key, or keyless; exit codes 10 (no "
                                    "signatures), 11 (image not found), 12 (no matching signature). "
                                    f"{TLOG} {KEYLESS}"))
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--key", metavar="REF", help="public key reference (omit for keyless verification)")
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
    keyless_verify_flags(p)
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
    from sigstack.cli._keyless import apply_signing_config, before_upload, keyless_signer, timestamper_for

    apply_signing_config(args)
    stamp = timestamper_for(args)
    if args.key:
        # First: the key loads while everything below runs (the prefix is checked before any prompt).
        signer = load_signer_for(args, before_prompt=lambda: tag_prefix(args))
        prefix = tag_prefix(args)
        if args.tlog_upload:
            signer.public_key()  # as cosign: the key loads before the log statement and question
        before_upload(args, args.tlog_upload)
    else:  # keyless: ask before the identity is certified, then certify
        prefix = tag_prefix(args)
        before_upload(args, args.tlog_upload)
        signer = keyless_signer(args)

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
    import contextlib

    target = target_repository()
    with client_from(args) as client, log_client(args) if args.tlog_upload else contextlib.nullcontext() as log:
        opts = ImageSignOptions(annotations=annotations, recursive=args.recursive,
                                tag_prefix=prefix, target_repository=target, docker_types=docker_types(),
                                referrers_mode=args.registry_referrers_mode,
                                new_bundle_format=args.new_bundle_format, upload=args.upload, log=log,
                                timestamper=stamp)
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


def run_verify(args: argparse.Namespace) -> int:
    """``verify``: each IMAGE is a registry reference, or with ``--local-image`` a directory
    written by ``save`` (verified by the same code over a read-only view of it)."""
    import contextlib
    import dataclasses

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
    from sigstack.cli._common import key_material, keyless_log_policy, keyless_material

    verifier: Any = (key_material(args, keys.load_verifier_on_first_use(args.key)) if args.key
                     else keyless_material(args))
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the signature.")
    # the trusted keys first: their absence is reported before any request
    log = log_policy(args) if args.key else keyless_log_policy(args)
    target = target_repository()
    out = b""
    with contextlib.nullcontext() if args.local_image else client_from(args) as client, \
            log_client(args) if log.checked and args.key else contextlib.nullcontext() as lookups:
        opts = ImageVerifyOptions(log=dataclasses.replace(log, client=lookups),
                                  annotations=annotations, check_claims=args.check_claims,
                                  max_workers=max(1, args.max_workers),
                                  experimental_oci11=args.experimental_oci11,
                                  bundles=args.new_bundle_format,
                                  check_reference=args.check_reference,
                                  tag_prefix=prefix, target_repository=target)
        for i, image in enumerate(args.images):
            try:
                if args.local_image:
                    from sigstack.verify.local import verify_local_image

                    result: ImageVerification = verify_local_image(image, verifier, opts)
                else:
                    assert client is not None  # opened above for registry references
                    result = verify_image(client, verifier, refs[i], opts)
            except SigstackError:
                if args.key:
                    verifier.public_key()  # a key that cannot be loaded is the error cosign reports
                raise
            print_header(image if args.local_image else refs[i].name, bool(annotations), args.check_claims,
                         key=bool(args.key), tlog=log.checked)
            if args.output == "text":
                for s in result.signatures:
                    if s.certificate is not None and s.layout != "bundle":  # cosign's lines about who signed
                        from sigstack.verify.image import certificate_output

                        claims = certificate_output(s.certificate)
                        info(f"Certificate subject: {claims['Subject']}")
                        for key, label in (("Issuer", "Certificate issuer URL"),
                                           ("githubWorkflowTrigger", "GitHub Workflow Trigger"),
                                           ("githubWorkflowSha", "GitHub Workflow SHA"),
                                           ("githubWorkflowName", "GitHub Workflow Name"),
                                           ("githubWorkflowRepository", "GitHub Workflow Repository"),
                                           ("githubWorkflowRef", "GitHub Workflow Ref")):
                            if key in claims:
                                info(f"{label}: {claims[key]}")
                # a bundle's statement is printed as cosign prints it: turned into the
                # simple-signing shape (transformOutput), as in the JSON output
                out += b"".join((gojson.dumps(s.output) if s.layout == "bundle" else s.payload) + b"\n"
                                for s in result.signatures)
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
