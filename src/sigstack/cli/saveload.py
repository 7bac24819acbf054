"""Air-gap commands: ``save`` (image + signatures to an OCI layout directory) and
``load`` (that directory back into a registry), with cosign's names and flags."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli.image import go_duration, registry_flags


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("save", parents=[common],
                       help="save an image and its signatures to an OCI layout directory",
                       description=("Save IMAGE (or a multi-platform index with its platform images), its "
                                    ".sig and .att images and its OCI 1.1 referrers (Sigstore bundles) to "
                                    "DIR, a new OCI image layout in cosign's format. DIR must not exist "
                                    "or be empty; it appears only once complete."))
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--dir", required=True, metavar="DIR", help="directory to write the image layout to")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.saveload:run_save")

    p = sub.add_parser("load", parents=[common],
                       help="push an image saved with save (or cosign save) to a registry",
                       description=("Push the image saved in DIR to IMAGE, its signatures and attestations "
                                    "to the sha256-<hex>.sig/.att tags beside it, and its referrers. Every "
                                    "blob is checked against its digest before anything is pushed."))
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--dir", required=True, metavar="DIR", help="directory holding the saved image layout")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.saveload:run_load")


def run_save(args: argparse.Namespace) -> int:
    from sigstack.cli._io import info
    from sigstack.cli.image import client_from, tag_prefix
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.saveload import save

    ref = parse_reference(args.image)
    with client_from(args) as client:
        result = save(client, ref, args.dir, tag_prefix=tag_prefix(args))
    info(f"Saved {ref.repository.name}@{result.digest} to {args.dir}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from sigstack.cli._io import info
    from sigstack.cli.image import client_from, tag_prefix
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.saveload import load

    ref = parse_reference(args.image)
    with client_from(args) as client:
        result = load(client, args.dir, ref, tag_prefix=tag_prefix(args))
    info(f"Loaded {result.image.repository.name}@{result.digest}")
    for where in result.attachments:
        info(f"Loaded {where.name}")
    return 0


def run_verify_local(args: argparse.Namespace) -> int:
    """``verify --local-image``: each IMAGE is a saved directory; output as ``verify``."""
    from sigstack import keys
    from sigstack.cli._io import info, write_output
    from sigstack.cli.image import log_keys, print_header
    from sigstack.errors import SigstackError
    from sigstack.payload import gojson
    from sigstack.payload.simplesigning import parse_annotations
    from sigstack.verify.image import ImageVerifyOptions
    from sigstack.verify.local import verify_local_image

    annotations = parse_annotations(args.annotations)
    verifier = keys.load_verifier_on_first_use(args.key)
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the signature.")
    opts = ImageVerifyOptions(tlog_keys=log_keys(args), insecure_ignore_tlog=args.insecure_ignore_tlog,
                              rekor_url=args.rekor_url, rekor_timeout=go_duration(args.timeout),
                              annotations=annotations,
                              check_claims=args.check_claims, max_workers=max(1, args.max_workers),
                              experimental_oci11=args.experimental_oci11, bundles=args.new_bundle_format)
    out = b""
    for path in args.images:
        try:
            result = verify_local_image(path, verifier, opts)
        except SigstackError:
            verifier.public_key()  # a key that cannot be loaded is the error cosign reports
            raise
        print_header(path, bool(annotations), args.check_claims, tlog=not args.insecure_ignore_tlog)
        if args.output == "text":
            out += b"".join(s.payload + b"\n" for s in result.signatures)
        else:
            out += b"\n" + gojson.dumps([s.output for s in result.signatures]) + b"\n"
    write_output(out, args.output_file)
    return 0


def run_verify_attestation_local(args: argparse.Namespace) -> int:
    """``verify-attestation --local-image``: each IMAGE is a saved directory."""
    import sys

    from sigstack import keys
    from sigstack.cli._io import info, write_output
    from sigstack.cli.image import log_keys, print_header
    from sigstack.verify.attestation import PolicyViolation
    from sigstack.verify.local import verify_local_attestations
    from sigstack.verify.policy import load_policy

    for policy in args.policy:
        load_policy(policy)
    verifier = keys.load_verifier(args.key)
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the attestation.")
    tlog_keys = log_keys(args)
    out = b""
    for path in args.images:
        try:
            found = verify_local_attestations(path, verifier, args.type, args.policy,
                                              check_claims=args.check_claims,
                                              max_workers=max(1, args.max_workers), tlog_keys=tlog_keys,
                                              insecure_ignore_tlog=args.insecure_ignore_tlog,
                                              rekor_url=args.rekor_url,
                                              rekor_timeout=go_duration(args.timeout))
        except PolicyViolation as exc:
            lines = [f"There are {len(exc.errors)} number of errors occurred during the validation:"]
            lines += [f"- {e}" for e in exc.errors]
            print("\n".join(lines), file=sys.stderr)
            raise
        print_header(path, False, args.check_claims, tlog=not args.insecure_ignore_tlog)
        out += b"".join(a.envelope_json + b"\n" for a in found)
    write_output(out, args.output_file)
    return 0
