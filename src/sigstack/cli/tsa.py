"""``sigstack tsa serve``: an RFC 3161 timestamp authority with sigstore/timestamp-authority's API."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 3004


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._common import server_flags

    tsa = sub.add_parser("tsa", parents=[common], help="RFC 3161 timestamp authority: serve")
    tsub = tsa.add_subparsers(dest="tsa_command", metavar="COMMAND")
    p = tsub.add_parser(
        "serve", parents=[common], help="run an RFC 3161 timestamp authority (timestamp-authority's API)",
        description="Serve POST /api/v1/timestamp (application/timestamp-query DER, or the JSON form) and "
                    "GET /api/v1/timestamp/certchain, as sigstore/timestamp-authority does. Without --key a "
                    "signing key and a chain (a self-signed root and a timeStamping leaf) are made in --state "
                    "on first start.")
    p.add_argument("--state", default="tsa-state", metavar="DIR",
                   help="keys and certificate chain (created on first start; default tsa-state)")
    p.add_argument("--key", "--timestamp-signer-key", dest="key", metavar="REF",
                   help="signing key as a key reference (file, env://, KMS, PKCS#11) instead of a generated one")
    p.add_argument("--certificate-chain-path", "--cert-chain", dest="cert_chain", metavar="FILE",
                   help="PEM chain for --key: its timeStamping certificate first, root last (default: a root "
                        "made in --state certifies the key)")
    p.add_argument("--policy-oid", default=None, metavar="OID",
                   help="TSA policy OID put in every timestamp (default 1.3.6.1.4.1.57264.2, Sigstore's)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    server_flags(p, tls=True)
    p.set_defaults(handler="sigstack.cli.tsa:run_tsa_serve")


def run_tsa_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack._internal.ratelimit import plain
    from sigstack._internal.serving import run
    from sigstack.cli._common import server_options
    from sigstack.cli._io import Password, info
    from sigstack.errors import UsageError
    from sigstack.tsa.api import create_app
    from sigstack.tsa.authority import SIGSTORE_POLICY, TimestampAuthority, is_oid
    from sigstack.tsa.state import ensure_state

    options = server_options(args)
    if args.cert_chain and not args.key:
        raise UsageError("--certificate-chain-path needs --key (the key the chain certifies)")
    if args.policy_oid is not None and not is_oid(args.policy_oid):
        raise UsageError(f"--policy-oid: {args.policy_oid!r} is not a dotted object identifier")
    material = ensure_state(Path(args.state), args.key, Path(args.cert_chain) if args.cert_chain else None,
                            Password())
    authority = TimestampAuthority(material, policy=args.policy_oid or SIGSTORE_POLICY)
    scheme = "https" if options.tls_cert else "http"
    info(f"sigstack tsa listening on {scheme}://{args.host}:{args.port}/api/v1/timestamp (state {args.state}; "
         f"chain at /api/v1/timestamp/certchain)")
    run(create_app(authority), args.host, args.port, options, render=plain)
    return 0
