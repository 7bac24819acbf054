"""``sigstack gatekeeper serve``: the OPA Gatekeeper external-data provider (TLS 1.3):
``/verify`` checks images against the policies, ``/resolve`` gives their digests."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._args import add_bool
    from sigstack.cli._common import registry_flags, server_flags

    p = sub.add_parser("gatekeeper", parents=[common], help="OPA Gatekeeper external-data provider")
    inner = p.add_subparsers(dest="gatekeeper_command", metavar="COMMAND")
    s = inner.add_parser("serve", parents=[common], help="serve the external-data provider over TLS 1.3",
                         description=("Serve POST /verify (images against the policies) and POST /resolve "
                                      "(tag -> digest) as Gatekeeper external-data providers "
                                      "(externaldata.gatekeeper.sh/v1beta1), over TLS 1.3."))
    s.add_argument("--policy", action="append", required=True, metavar="FILE|DIR",
                   help="policy document or directory of them (repeatable); reloaded on change")
    s.add_argument("--tls-cert", required=True, metavar="FILE", help="server certificate chain (PEM)")
    s.add_argument("--tls-key", required=True, metavar="FILE", help="server private key (PEM)")
    s.add_argument("--client-ca", metavar="FILE",
                   help="require client certificates signed by this CA (Gatekeeper's), i.e. mutual TLS")
    s.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    s.add_argument("--no-match-policy", default="deny", choices=("deny", "allow", "warn"),
                   help="what an image no policy matches gets")
    add_bool(s, "--enable-oci11", default=False, help="look for OCI 1.1 referrers too")
    s.add_argument("--registry-timeout", default="10s", help="give up on a registry after this long (default 10s)")
    registry_flags(s)
    server_flags(s)
    s.set_defaults(handler="sigstack.cli.gatekeeper:run_serve")
    p.set_defaults(handler="sigstack.cli.admission:run_help", admission_parser=p)


def run_serve(args: argparse.Namespace) -> int:
    import sys

    from sigstack.admission.server import serve
    from sigstack.admission.webhook import PolicyFiles
    from sigstack.cli._common import server_options
    from sigstack.cli.admission import admission_settings
    from sigstack.gatekeeper.provider import Provider
    from sigstack.gatekeeper.server import create_app
    from sigstack.oci.client import RegistryClient

    options = server_options(args)
    args.check_namespace_label = False
    args.controller_namespace = "cosign-system"
    settings = admission_settings(args, None)
    from sigstack.policy.keyless import verify_keyless

    policies = PolicyFiles(args.policy, settings, keyless=verify_keyless)
    with RegistryClient(settings.registry) as client:
        provider = Provider(policies.engine, client)
        count = len(policies.engine().policies)
        print(f"sigstack gatekeeper: {count} polic{'y' if count == 1 else 'ies'} loaded; serving https://"
              f"{args.host}:{args.port}/verify and /resolve (TLS 1.3)", file=sys.stderr, flush=True)
        serve(create_app(provider), args.host, args.port, args.tls_cert, args.tls_key, tls13_only=True,
              client_ca=args.client_ca, options=options)
    return 0
