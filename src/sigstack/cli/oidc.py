"""``sigstack oidc serve|token``: a development OIDC issuer. NOT FOR PRODUCTION.

``oidc token`` asks a running issuer for a token (``POST <issuer>/token``); with
``--state DIR`` it signs the token itself with the issuer's key from that state
directory instead, so scripts need no running server.
"""

from __future__ import annotations

import argparse
from typing import Any

WARNING = "WARNING: development OIDC issuer, NOT FOR PRODUCTION: it signs tokens for any identity asked of it"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    oidc = sub.add_parser("oidc", parents=[common], help="development OIDC issuer (not for production)")
    osub = oidc.add_subparsers(dest="oidc_command", metavar="COMMAND")
    p = osub.add_parser("serve", parents=[common], help="run a development OIDC issuer (NOT FOR PRODUCTION)",
                        description="Serve an OIDC issuer that mints tokens for any identity: email tokens "
                                    "at the base URL, GitHub Actions tokens under /github. NOT FOR PRODUCTION.")
    p.add_argument("--state", default="oidc-state", metavar="DIR", help="signing key (default oidc-state)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--url", help="the issuer URL tokens name (default http://HOST:PORT)")
    p.add_argument("--insecure-allow-remote", action="store_true",
                   help="allow listening on a non-loopback address (anyone reaching it gets tokens)")
    p.add_argument("--login-email", default="developer@example.com",
                   help="identity of browser and device logins without a login_hint (default developer@example.com)")
    p.add_argument("--github-repository", default="octo-org/octo-repo", help="GitHub tokens' repository")
    p.add_argument("--github-ref", default="refs/heads/main", help="GitHub tokens' ref")
    p.add_argument("--github-sha", default="0123456789abcdef0123456789abcdef01234567", help="commit SHA")
    p.add_argument("--github-workflow", default=".github/workflows/release.yml", help="workflow file path")
    p.add_argument("--github-legacy-sub", action="store_true",
                   help="name-only sub (repositories created before July 2026) instead of the immutable form")
    from sigstack.cli._common import server_flags

    server_flags(p, tls=True)
    p.set_defaults(handler="sigstack.cli.oidc:run_serve")

    p = osub.add_parser("token", parents=[common], help="print an identity token from the development issuer",
                        description="Print an ID token: asked of the running issuer at --issuer, or signed "
                                    "with the key in --state.")
    p.add_argument("--issuer", help="issuer URL (base for email tokens, <base>/github for GitHub Actions)")
    p.add_argument("--subject", help="the token's sub")
    p.add_argument("--email", help="the token's email (email_verified is true)")
    p.add_argument("--audience", default="sigstore", help="the token's aud (default sigstore)")
    p.add_argument("--ttl", type=int, default=600, help="lifetime in seconds (default 600)")
    p.add_argument("--state", metavar="DIR", help="sign locally with the issuer key in DIR instead of asking")
    p.set_defaults(handler="sigstack.cli.oidc:run_token")


def run_serve(args: argparse.Namespace) -> int:
    import ipaddress
    import logging
    from pathlib import Path

    from sigstack._internal.fs import atomic_write_files
    from sigstack._internal.serving import run
    from sigstack.cli._common import server_options
    from sigstack.cli._io import info
    from sigstack.errors import OIDCError
    from sigstack.oidc.api import create_app
    from sigstack.oidc.issuer import (
        DevIssuer,
        GitHubWorkflow,
        Logins,
        load_or_create_key,
        load_or_create_request_token,
    )

    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not args.insecure_allow_remote:
        raise OIDCError(f"refusing to serve development tokens on {args.host}: it is not a loopback address "
                        "(--insecure-allow-remote overrides)")
    logging.getLogger("sigstack.oidc").warning(WARNING)
    info(WARNING)
    options = server_options(args)
    state = Path(args.state)
    url = args.url or f"{'https' if options.tls_cert else 'http'}://{args.host}:{args.port}"
    workflow = GitHubWorkflow(repository=args.github_repository, ref=args.github_ref, sha=args.github_sha,
                              workflow_path=args.github_workflow, immutable_sub=not args.github_legacy_sub)
    issuer = DevIssuer(url, load_or_create_key(state), workflow, load_or_create_request_token(state),
                       Logins(args.login_email))
    atomic_write_files([(state / "issuer-url", url.encode() + b"\n", 0o644)])
    info(f"sigstack oidc issuing email tokens as {url} and GitHub Actions tokens as {url}/github")
    info(f"  ACTIONS_ID_TOKEN_REQUEST_URL={url}/github/actions-token?api-version=2.0")
    # the bearer itself is a secret: never printed (logs keep what stderr shows), only where it is
    info(f"  ACTIONS_ID_TOKEN_REQUEST_TOKEN=$(cat {state / 'actions-request-token'})")
    run(create_app(issuer), args.host, args.port, options)
    return 0


def run_token(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack.cli._io import write_output
    from sigstack.errors import OIDCError
    from sigstack.oidc.issuer import GITHUB_PATH, DevIssuer, load_or_create_key, saved_issuer_url

    if args.state:
        state = Path(args.state)
        if not (state / "oidc.key").exists():
            raise OIDCError(f"no development issuer key in {state}")
        issuer_url = args.issuer or saved_issuer_url(state)
        if not issuer_url:
            raise OIDCError(f"give --issuer: {state} does not record the issuer URL")
        github = issuer_url.rstrip("/").endswith(GITHUB_PATH)
        base = issuer_url.rstrip("/").removesuffix(GITHUB_PATH) if github else issuer_url
        token = DevIssuer(base, load_or_create_key(state)).mint(
            args.subject, args.email, args.audience, github, args.ttl)
    else:
        if not args.issuer:
            raise OIDCError("give --issuer URL (or --state DIR)")
        from sigstack.oidc.client import request_token

        token = request_token(args.issuer, args.subject, args.email, args.audience, args.ttl)
    write_output(token.encode() + b"\n", args.output_file)
    return 0
