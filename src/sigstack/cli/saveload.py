"""Air-gap commands: ``save`` (image + signatures to an OCI layout directory) and
``load`` (that directory back into a registry), with cosign's names and flags."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._common import registry_flags, target_repository


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
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.saveload import save

    ref = parse_reference(args.image)
    with client_from(args) as client:
        result = save(client, ref, args.dir, tag_prefix=tag_prefix(args), target_repository=target_repository())
    info(f"Saved {ref.repository.name}@{result.digest} to {args.dir}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from sigstack.cli._common import client_from, tag_prefix
    from sigstack.cli._io import info
    from sigstack.oci.reference import parse_reference
    from sigstack.oci.saveload import load

    ref = parse_reference(args.image)
    with client_from(args) as client:
        result = load(client, args.dir, ref, tag_prefix=tag_prefix(args), target_repository=target_repository())
    info(f"Loaded {result.image.repository.name}@{result.digest}")
    for where in result.attachments:
        info(f"Loaded {where.name}")
    return 0
