"""``sigstack ca serve`` (a Fulcio-compatible CA) and ``sigstack ct serve`` (its CT log)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._common import server_flags

    ca = sub.add_parser("ca", parents=[common], help="certificate authority (Fulcio API): serve")
    csub = ca.add_subparsers(dest="ca_command", metavar="COMMAND")
    p = csub.add_parser("serve", parents=[common], help="run a Fulcio-compatible CA with its CT log",
                        description="Serve Fulcio's API v2 (and v1) with an RFC 6962 CT log in the same "
                                    "process (mounted at /ct/v1/...) unless --ct-url names another log.")
    p.add_argument("--state", default="ca-state", metavar="DIR",
                   help="keys, certificates and the CT database (created on first start; default ca-state)")
    p.add_argument("--config", metavar="FILE", help="issuer configuration in Fulcio's format (YAML or JSON)")
    p.add_argument("--oidc-issuer", action="append", default=[], metavar="URL",
                   help="accept email tokens from this issuer (repeatable)")
    p.add_argument("--ci-issuer", action="append", default=[], metavar="URL",
                   help="accept GitHub Actions tokens from this issuer (ci-provider github-workflow; repeatable)")
    p.add_argument("--client-id", default="sigstore", help="audience the tokens must carry (default sigstore)")
    p.add_argument("--ca-key", metavar="REF",
                   help="issuing key as a key reference (file, KMS, PKCS#11) instead of a generated one")
    p.add_argument("--ca-chain", metavar="FILE", help="PEM chain for --ca-key: its certificate first, root last")
    p.add_argument("--ct-url", metavar="URL", help="submit precertificates to this CT log instead of our own")
    p.add_argument("--ct-db", metavar="URL",
                   help="the in-process CT log's database: SQLite path or postgresql:// URL (default DIR/ct.db)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5555, help="port to listen on (default 5555)")
    server_flags(p, tls=True)
    p.set_defaults(handler="sigstack.cli.ca:run_ca_serve")

    ct = sub.add_parser("ct", parents=[common], help="certificate transparency log (RFC 6962): serve")
    tsub = ct.add_subparsers(dest="ct_command", metavar="COMMAND")
    p = tsub.add_parser("serve", parents=[common], help="run an RFC 6962 CT log",
                        description="Serve an RFC 6962 certificate transparency log on the transparency "
                                    "log's Merkle store.")
    p.add_argument("--state", default="ct-state", metavar="DIR", help="log key and database (default ct-state)")
    p.add_argument("--root", action="append", required=True, metavar="FILE",
                   help="PEM root certificate(s) whose chains the log accepts (repeatable)")
    p.add_argument("--db", help="database: SQLite path (default DIR/ct.db) or a postgresql:// URL")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=6962, help="port to listen on (default 6962)")
    server_flags(p, tls=True)
    p.set_defaults(handler="sigstack.cli.ca:run_ct_serve")


def run_ca_serve(args: argparse.Namespace) -> int:
    import base64
    from pathlib import Path

    from sigstack.ca.config import load_config
    from sigstack.ca.server import build_ca, run
    from sigstack.ca.state import ensure_state
    from sigstack.cli._common import server_options
    from sigstack.cli._io import Password, info

    options = server_options(args)
    config = load_config(Path(args.config) if args.config else None)
    for url in args.oidc_issuer:
        config.add(url, "email", args.client_id)
    for url in args.ci_issuer:
        config.add(url, "ci-provider", args.client_id, "github-workflow")
    if not config.oidc_issuers and not config.meta_issuers:
        info("warning: no OIDC issuers are configured; every certificate request will be refused")
    state, chain = Path(args.state), Path(args.ca_chain) if args.ca_chain else None
    material = ensure_state(state, args.ca_key, chain, Password())
    built = build_ca(state, config, args.ca_key, chain, args.ct_url, material=material, ct_db=args.ct_db)
    scheme = "https" if options.tls_cert else "http"
    info(f"sigstack ca listening on {scheme}://{args.host}:{args.port} (state {args.state})")
    if built.ct is not None:
        info(f"CT log at {scheme}://{args.host}:{args.port}/ct/v1, log ID {base64.b64encode(built.ct.log_id).decode()} "
             f"(key {state / 'ct.pub'})")
    run(built.app, args.host, args.port, options)
    return 0


def run_ct_serve(args: argparse.Namespace) -> int:
    import base64
    from pathlib import Path

    from sigstack.ca.server import build_ct, run
    from sigstack.cli._common import server_options
    from sigstack.cli._io import info

    options = server_options(args)
    app, ct = build_ct(Path(args.state), [Path(r) for r in args.root], args.db)
    scheme = "https" if options.tls_cert else "http"
    info(f"sigstack ct listening on {scheme}://{args.host}:{args.port}/ct/v1, log ID "
         f"{base64.b64encode(ct.log_id).decode()}")
    run(app, args.host, args.port, options, ct_only=True)
    return 0
