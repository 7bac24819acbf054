"""``sigstack serve``: a whole Sigstore on one machine (development only)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve", parents=[common], help="run a private Sigstore on loopback: OIDC issuer, CA + CT log, tlog, TSA",
        description=("Start, on loopback, the development OIDC issuer (NOT FOR PRODUCTION: it mints tokens "
                     "for any identity), the Fulcio-compatible CA with its CT log, the transparency log with "
                     "its explorer, and an RFC 3161 timestamp authority, keeping their state in --dir across "
                     "restarts. Writes "
                     "DIR/trusted_root.json, DIR/signing_config.json, DIR/trust_config.json (for sigstore "
                     "--trust-config) and DIR/env (source it to point sigstack and cosign at the services). "
                     "Stops on SIGINT/SIGTERM."))
    p.add_argument("--dir", default="sigstack-serve", metavar="DIR",
                   help="state and trust material directory (default ./sigstack-serve)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--oidc-port", type=int, default=8080, help="OIDC issuer port (default 8080; 0: any free)")
    p.add_argument("--ca-port", type=int, default=5555, help="CA port (default 5555; 0: any free)")
    p.add_argument("--tlog-port", type=int, default=3000, help="transparency log port (default 3000; 0: any free)")
    p.add_argument("--tsa-port", type=int, default=3004,
                   help="RFC 3161 timestamp authority port (default 3004; 0: any free)")
    p.add_argument("--login-email", default="developer@example.com",
                   help="identity of browser and device logins at the dev issuer (default developer@example.com)")
    from sigstack.cli._common import server_flags

    server_flags(p)
    p.set_defaults(handler="sigstack.cli.serve:run_serve")


USAGE = """\
sigstack serve: a private Sigstore on this machine (development only)
  OIDC issuer   {oidc}   (email tokens; GitHub Actions tokens at {oidc}/github)
  CA + CT log   {ca}   (Fulcio API v2; CT log at {ca}/ct/v1)
  tlog          {tlog}   (Rekor v1 API; explorer at {tlog}/)
  TSA           {tsa}   (RFC 3161, timestamp-authority's API; chain at {tsa}/certchain)
Trust material in {dir}:
  trusted_root.json  signing_config.json  trust_config.json  env

Sign and verify a blob keylessly:
  set -a; . {dir}/env; set +a
  TOKEN=$(sigstack oidc token --issuer {oidc} --email alice@example.com)
  sigstack sign-blob --identity-token "$TOKEN" --bundle a.sigstore.json -y a.txt
  cosign verify-blob --bundle a.sigstore.json --trusted-root {dir}/trusted_root.json \\
      --certificate-identity alice@example.com --certificate-oidc-issuer {oidc} a.txt
  sigstore --trust-config {dir}/trust_config.json verify identity --offline --bundle a.sigstore.json \\
      --cert-identity alice@example.com --cert-oidc-issuer {oidc} a.txt
GitHub Actions-style ambient credentials (the certificate names a workflow):
  ACTIONS_ID_TOKEN_REQUEST_URL='{oidc}/github/actions-token?api-version=2.0' \\
  ACTIONS_ID_TOKEN_REQUEST_TOKEN=$(cat {dir}/oidc/actions-request-token) sigstack sign-blob ...
Press Ctrl-C to stop."""


def run_serve(args: argparse.Namespace) -> int:
    import ipaddress
    import logging
    from pathlib import Path

    from sigstack.cli._common import server_options
    from sigstack.cli._io import info
    from sigstack.errors import SigstackError
    from sigstack.stack.serve import Ports, Stack, serve

    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SigstackError(f"refusing to serve on {args.host}: sigstack serve runs a development OIDC issuer "
                            "that mints tokens for anyone, so it listens on loopback only")
    logging.getLogger("sigstack.oidc").warning("sigstack serve: the development OIDC issuer is NOT FOR PRODUCTION")

    def ready(stack: Stack) -> None:
        info(USAGE.format(oidc=stack.oidc_url, ca=stack.ca_url, tlog=stack.tlog_url, tsa=stack.timestamp_url,
                          dir=stack.dir))

    serve(Path(args.dir), args.host, Ports(args.oidc_port, args.ca_port, args.tlog_port, args.tsa_port), ready,
          login_email=args.login_email, options=server_options(args))
    info("sigstack serve: stopped")
    return 0
