"""``sigstack admission serve``: the Kubernetes admission webhook (validating and
mutating AdmissionReview v1 over TLS), policy-controller compatible.

Policies come from files or directories (``--policy``, repeatable; reloaded when they
change). With ``--kubernetes`` (the default when a kubeconfig or an in-cluster service
account is found) pull secrets, service accounts, ``key.secretRef`` Secrets,
``configMapRef`` policies' ConfigMaps and namespace labels are read through the
Kubernetes API; ``remote`` policies are fetched over HTTPS (digest checked) at each load.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._args import add_bool
    from sigstack.cli._common import registry_flags, server_flags

    p = sub.add_parser("admission", parents=[common],
                       help="Kubernetes admission webhook (policy-controller compatible)")
    inner = p.add_subparsers(dest="admission_command", metavar="COMMAND")
    s = inner.add_parser("serve", parents=[common], help="serve the validating and mutating webhooks over TLS",
                         description=("Serve POST /validations and POST /mutations (AdmissionReview v1) and "
                                      "GET /healthz over HTTPS, enforcing ClusterImagePolicies (and sigstack "
                                      "ImagePolicies) with policy-controller's semantics."))
    s.add_argument("--policy", action="append", default=[], metavar="FILE|DIR",
                   help="policy document or directory of them (repeatable); reloaded on change")
    s.add_argument("--tls-cert", required=True, metavar="FILE", help="server certificate chain (PEM)")
    s.add_argument("--tls-key", required=True, metavar="FILE", help="server private key (PEM)")
    s.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=8443, help="port to listen on (default 8443)")
    s.add_argument("--no-match-policy", default="deny", choices=("deny", "allow", "warn"),
                   help="what an image no policy matches gets (config-policy-controller's no-match-policy)")
    add_bool(s, "--enable-oci11", default=False, help="look for OCI 1.1 referrers too")
    add_bool(s, "--kubernetes", default=True,
             help="read pull secrets, service accounts and namespaces through the Kubernetes API")
    add_bool(s, "--cluster-policies", default=True,
             help="also enforce the ClusterImagePolicy/TrustRoot/ImagePolicy objects in the cluster (needs "
                  "--kubernetes; listed every --cluster-poll)")
    s.add_argument("--cluster-poll", default="10s", help="how often to list the policy CRDs (default 10s)")
    add_bool(s, "--check-namespace-label", default=True,
             help="skip namespaces without policy.sigstore.dev/include=true (needs --kubernetes)")
    s.add_argument("--controller-namespace", default="cosign-system",
                   help="namespace of key.secretRef Secrets that name none (default cosign-system)")
    s.add_argument("--registry-timeout", default="10s",
                   help="give up on a registry after this long and deny (default 10s)")
    s.add_argument("--trustroot-resync-period", default="24h",
                   help="read TUF TrustRoots (remote, repository) again this often (default 24h, as "
                        "policy-controller)")
    s.add_argument("--trustroot-retry", default="1m",
                   help="after a failed keyless verification, read its TUF TrustRoot again at most this often "
                        "(default 1m)")
    s.add_argument("--max-body", type=int, default=8 * 1024 * 1024, help="largest request body in bytes")
    registry_flags(s)
    server_flags(s)
    s.set_defaults(handler="sigstack.cli.admission:run_serve")
    p.set_defaults(handler="sigstack.cli.admission:run_help", admission_parser=p)


def run_help(args: argparse.Namespace) -> int:
    import sys

    args.admission_parser.print_help(sys.stderr)
    return 1


def kube_reader(enabled: bool) -> Any:
    """A KubeReader when asked and a cluster is configured, else None. A cluster that is
    configured (KUBECONFIG, ~/.kube/config, or running in a Pod) but cannot be used is an
    error, not a quiet fallback: without the API the webhook would stop honouring the
    namespace opt-in label, pull secrets and the cluster's policies."""
    if not enabled:
        return None
    import os

    from sigstack.errors import SigstackError, UsageError

    if not (os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config"))
            or os.environ.get("KUBERNETES_SERVICE_HOST")):
        return None
    from sigstack.admission.kube import KubeReader

    try:
        return KubeReader.from_environment()
    except SigstackError as exc:
        raise UsageError(f"{exc.message} (pass --kubernetes=false to run without the Kubernetes API)") from None


def admission_settings(args: argparse.Namespace, kube: Any) -> Any:
    import dataclasses

    from sigstack.admission.webhook import AdmissionSettings
    from sigstack.cli._common import client_from, go_duration
    from sigstack.policy.engine import Settings

    base = client_from(args)
    base.close()
    registry = dataclasses.replace(base.options, timeout=go_duration(args.registry_timeout), attempts=2)
    return AdmissionSettings(policy=Settings(no_match_policy=args.no_match_policy, enable_oci11=args.enable_oci11),
                             check_namespace_label=args.check_namespace_label and kube is not None,
                             controller_namespace=args.controller_namespace, registry=registry,
                             trust_root_resync=go_duration(getattr(args, "trustroot_resync_period", "24h")),
                             trust_root_retry=go_duration(getattr(args, "trustroot_retry", "1m")))


def secret_source(kube: Any) -> Any:
    if kube is None:
        return None
    from sigstack.errors import PolicyError

    def read(namespace: str, name: str) -> Any:
        s = kube.secret(namespace, name)
        if s is None:
            raise PolicyError(f'secrets "{name}" not found in namespace "{namespace}"')
        return s

    return read


def run_serve(args: argparse.Namespace) -> int:
    import sys

    from sigstack.admission.server import create_app, serve
    from sigstack.admission.webhook import Admission, PolicyFiles
    from sigstack.cli._common import go_duration, server_options
    from sigstack.errors import UsageError

    options = server_options(args)
    kube = kube_reader(args.kubernetes)
    cluster = kube if args.cluster_policies else None
    if not args.policy and cluster is None:
        raise UsageError("no policies: give --policy FILE|DIR, or run with the Kubernetes API (--kubernetes) to "
                         "enforce the cluster's ClusterImagePolicies")
    settings = admission_settings(args, kube)
    from sigstack.policy.keyless import verify_keyless

    policies = PolicyFiles(args.policy, settings, secrets=secret_source(kube), cluster=cluster,
                           cluster_interval=go_duration(args.cluster_poll), keyless=verify_keyless,
                           config_maps=kube)
    admission = Admission(policies, settings, kube=kube)
    count = len(policies.engine().policies)
    print(f"sigstack admission: {count} polic{'y' if count == 1 else 'ies'} loaded; serving https://"
          f"{args.host}:{args.port}/validations and /mutations", file=sys.stderr, flush=True)
    try:
        serve(create_app(admission, args.max_body), args.host, args.port, args.tls_cert, args.tls_key,
              options=options)
    finally:
        admission.close()
    return 0
