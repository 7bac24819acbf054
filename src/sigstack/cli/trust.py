"""``sigstack initialize``: fetch, verify and cache the Sigstore trust root via TUF
(cosign's ``initialize``: ``--mirror`` and ``--root``; the cache is ``$TUF_ROOT``,
else ``~/.sigstore/root`` as cosign's)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("initialize", parents=[common],
                       help="fetch and cache the Sigstore trusted root from a TUF mirror",
                       description=("Initialize the TUF client: trust the initial root.json (embedded for the "
                                    "public-good instances), fetch and verify trusted_root.json and the "
                                    "signing config, and cache them for offline verification."))
    p.add_argument("--mirror", default="https://tuf-repo-cdn.sigstore.dev",
                   help="TUF repository URL (default: the public-good production instance)")
    p.add_argument("--root", metavar="FILE",
                   help="initial TUF root.json to trust (default: embedded for the public-good mirrors)")
    p.set_defaults(handler="sigstack.cli.trust:run_initialize")


def tuf_cache_dir() -> Path:
    """``$TUF_ROOT``, else ``~/.sigstore/root`` (cosign's TUF cache location)."""
    env = os.environ.get("TUF_ROOT")
    return Path(env) if env else Path.home() / ".sigstore" / "root"


def run_initialize(args: argparse.Namespace) -> int:
    from sigstack.cli._io import info
    from sigstack.errors import ArtifactError
    from sigstack.trust.tuf import SIGNING_CONFIG_TARGET, TRUSTED_ROOT_TARGET, initialize

    root = None
    if args.root:
        try:
            root = Path(args.root).read_bytes()
        except OSError as exc:
            raise ArtifactError(f"reading root {args.root}: {exc.strerror or exc}") from None
    cache = tuf_cache_dir()
    updater = initialize(args.mirror, cache, root)
    names = [TRUSTED_ROOT_TARGET] + ([SIGNING_CONFIG_TARGET] if updater.has_target(SIGNING_CONFIG_TARGET) else [])
    info(f"Root status: initialized {updater.mirror}; cached {', '.join(names)} in {updater.targets_dir}")
    return 0
