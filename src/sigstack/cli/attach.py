"""Attachment commands: ``attach``, ``download``, ``clean``, ``copy``."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._args import add_bool
from sigstack.cli._common import docker_types, registry_flags, target_repository


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    attach = sub.add_parser("attach", parents=[common], help="attach SBOMs or signatures to an image")
    asub = attach.add_subparsers(dest="attach_command", metavar="KIND", required=True)
    p = asub.add_parser("sbom", parents=[common], help="attach an SBOM (deprecated by cosign)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--sbom", required=True, metavar="FILE", help="the SBOM file")
    p.add_argument("--type", default="spdx", choices=["spdx", "cyclonedx", "syft"])
    p.add_argument("--input-format", choices=["json", "xml", "text"], help="default: from the file name")
    p.add_argument("--registry-referrers-mode", default="legacy", choices=["legacy", "oci-1-1"])
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attach:run_attach_sbom")
    p = asub.add_parser("signature", parents=[common], help="attach an existing signature")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--signature", required=True, metavar="FILE", help="base64 signature file, or - for stdin")
    p.add_argument("--payload", metavar="FILE", help="the signed payload (default: the implied one)")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attach:run_attach_signature")

    p = asub.add_parser("attestation", parents=[common], help="attach signed DSSE attestations")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--attestation", action="append", required=True, metavar="FILE",
                   help="a DSSE envelope file (repeatable); one envelope per line is also accepted")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attach:run_attach_attestation")

    download = sub.add_parser("download", parents=[common], help="download what is attached to an image")
    dsub = download.add_subparsers(dest="download_command", metavar="KIND", required=True)
    for kind in ("signature", "attestation", "sbom"):
        p = dsub.add_parser(kind, parents=[common], help=f"print the {kind}s of IMAGE")
        p.add_argument("image", metavar="IMAGE")
        if kind == "attestation":
            p.add_argument("--predicate-type", help="only this predicate type (URI or --type name)")
        registry_flags(p)
        p.set_defaults(handler=f"sigstack.cli.attach:run_download_{kind}")

    p = sub.add_parser("clean", parents=[common], help="remove signatures, attestations, SBOMs from IMAGE")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--type", default="all", choices=["signature", "attestation", "sbom", "referrer", "all"])
    p.add_argument("-f", "--force", action="store_true", help="do not prompt")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attach:run_clean")

    p = sub.add_parser("copy", parents=[common], help="copy an image with its signatures to another place")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DST")
    p.add_argument("--only", default="sig,att,sbom", help="attachments to copy: sig,att,sbom")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the destination")
    add_bool(p, "--referrers", default=True,
             help="also copy OCI 1.1 referrers (bundles); cosign's copy does not")
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attach:run_copy")


def run_attach_sbom(args: argparse.Namespace) -> int:
    import os

    from sigstack.cli._args import TRUE
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info
    from sigstack.errors import SigstackError
    from sigstack.oci.attach import SBOM_DEPRECATION, attach_sbom, read_payload, sbom_media_type
    from sigstack.oci.reference import parse_reference

    info(SBOM_DEPRECATION)
    if args.registry_referrers_mode == "oci-1-1" and os.environ.get("COSIGN_EXPERIMENTAL", "") not in TRUE:
        raise SigstackError('in order to use  mode "oci-1-1", you must set COSIGN_EXPERIMENTAL=1')
    ref = parse_reference(args.image)
    media = sbom_media_type(args.type, args.sbom, args.input_format)
    data = read_payload(args.sbom)
    with client_from(args) as client:
        where = attach_sbom(client, ref, data, media, args.registry_referrers_mode,
                            tag_prefix=tag_prefix(args), target_repository=target_repository(),
                            docker_types=docker_types())
    info(f"Uploading SBOM file for [{ref.name}] to [{where.name}] with mediaType [{media}].")
    return 0


def run_attach_signature(args: argparse.Namespace) -> int:
    import sys

    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info
    from sigstack.oci.attach import attach_signature, read_payload
    from sigstack.oci.reference import parse_reference

    ref = parse_reference(args.image)
    sig = sys.stdin.read() if args.signature == "-" else read_payload(args.signature).decode(errors="replace")
    payload = read_payload(args.payload) if args.payload else None
    with client_from(args) as client:
        _where, implied = attach_signature(client, ref, sig, payload, tag_prefix=tag_prefix(args),
                                           target_repository=target_repository(), docker_types=docker_types())
    if implied:
        info("WARNING: using obsolete implied signature payload data")
    return 0


def run_attach_attestation(args: argparse.Namespace) -> int:
    import json

    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.oci.attach import attach_attestations, read_payload
    from sigstack.oci.reference import parse_reference

    ref = parse_reference(args.image)
    documents = []
    for path in args.attestation:
        data = read_payload(path)
        try:  # one (possibly pretty-printed) envelope, else one envelope per line
            json.loads(data)
            documents.append(data.strip())
        except ValueError:
            documents += [line.strip() for line in data.splitlines() if line.strip()]
    with client_from(args) as client:
        attach_attestations(client, ref, documents, tag_prefix=tag_prefix(args),
                            target_repository=target_repository(), docker_types=docker_types())
    return 0


def _download(args: argparse.Namespace, fetch: Any) -> int:
    """``fetch(client, ref, where)`` with ``where`` the tag prefix and target repository."""
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import write_output
    from sigstack.oci.reference import parse_reference

    ref = parse_reference(args.image)
    with client_from(args) as client:
        lines = fetch(client, ref, {"tag_prefix": tag_prefix(args), "target_repository": target_repository()})
    write_output(b"".join(line + b"\n" for line in lines), args.output_file)
    return 0


def run_download_signature(args: argparse.Namespace) -> int:
    from sigstack.oci.attach import download_signatures

    return _download(args, lambda c, r, where: download_signatures(c, r, **where))


def run_download_attestation(args: argparse.Namespace) -> int:
    from sigstack.oci.attach import download_attestations
    from sigstack.payload.intoto import predicate_uri

    uri = predicate_uri(args.predicate_type) if args.predicate_type else None
    return _download(args, lambda c, r, where: download_attestations(c, r, uri, **where))


def run_download_sbom(args: argparse.Namespace) -> int:
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info, write_output
    from sigstack.oci.attach import SBOM_DEPRECATION, download_sbom
    from sigstack.oci.reference import parse_reference

    info(SBOM_DEPRECATION)
    info("WARNING: Downloading SBOMs this way does not ensure its authenticity. If you want to ensure a "
         "tamper-proof SBOM, download it using 'cosign download attestation <image uri>'.")
    ref = parse_reference(args.image)
    with client_from(args) as client:
        found = download_sbom(client, ref, tag_prefix=tag_prefix(args), target_repository=target_repository())
    out = b""
    for sbom in found:
        info(f"Found SBOM of media type: {sbom.media_type}")
        out += sbom.data
    write_output(out, args.output_file)
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import confirm, info
    from sigstack.oci.attach import clean
    from sigstack.oci.reference import parse_reference

    what = {"signature": "signatures", "attestation": "attestations", "sbom": "SBOMs",
            "referrer": "OCI 1.1 referrers (bundles)", "all": "signatures, SBOMs and attestations"}
    ref = parse_reference(args.image)
    prefix = tag_prefix(args)
    confirm(f"WARNING: this will remove all {what[args.type]} from the image", assume_yes=args.force)
    with client_from(args) as client:
        for removed in clean(client, ref, args.type, tag_prefix=prefix, target_repository=target_repository()):
            info(f"Removed {removed.name} from {ref.name}")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info
    from sigstack.errors import SigstackError
    from sigstack.oci.attach import copy
    from sigstack.oci.reference import parse_reference

    only = [o.strip() for o in args.only.split(",") if o.strip()]
    if any(o not in ("sig", "att", "sbom") for o in only):
        raise SigstackError(f"invalid --only value {args.only!r}: use sig, att, sbom (comma-separated)")
    src, dst = parse_reference(args.source), parse_reference(args.destination)
    with client_from(args) as client:
        for ref in copy(client, client, src, dst, only=only, force=args.force, referrers=args.referrers,
                        tag_prefix=tag_prefix(args), target_repository=target_repository()):
            info(f"Copied to {ref.name}")
    return 0
