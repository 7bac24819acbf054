"""``sigstack policy test``: policy-controller's ``policy-tester``, same flags and output.

``--policy FILE|URL --image IMG [--resource FILE] [--trustroot FILE] [--enable-oci11]``:
on failure prints ``{"errors":[...],"warnings":[...]}`` on stdout and exits 1; on
success prints nothing and exits 0. An invalid policy or argument is one ``Error:``
line (the tester's ``CIP is invalid: ...`` text) and exit 1.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._args import add_bool
    from sigstack.cli._common import registry_flags

    p = sub.add_parser("policy", parents=[common], help="ClusterImagePolicy tools (policy-controller compatible)")
    inner = p.add_subparsers(dest="policy_command", metavar="COMMAND")
    t = inner.add_parser("test", parents=[common],
                         help="check one image against ClusterImagePolicies, as policy-tester does",
                         description=("Evaluate IMAGE against the ClusterImagePolicies (and sigstack "
                                      "ImagePolicies, TrustRoots, Secrets) in the policy document, with "
                                      "policy-controller's semantics: every matching policy must pass, one "
                                      "authority suffices, no matching policy denies, tags are resolved."))
    t.add_argument("--policy", required=True, metavar="FILE|URL",
                   help="path to a ClusterImagePolicy document or URL to fetch it from (http/https)")
    t.add_argument("--image", required=True, help="image to compare against the policy")
    t.add_argument("--resource", metavar="FILE",
                   help="path to a Kubernetes resource to use with match, includeSpec, includeObjectMeta")
    t.add_argument("--trustroot", metavar="FILE",
                   help="path to a Kubernetes TrustRoot resource to use with the ClusterImagePolicy")
    add_bool(t, "--enable-oci11", default=False,
             help="enable the experimental OCI 1.1 referrers API for signature discovery")
    t.add_argument("--log-level", default="info", choices=("debug", "info", "warn", "error"),
                   help="accepted for policy-tester compatibility (sigstack logs nothing on success)")
    registry_flags(t)
    t.set_defaults(handler="sigstack.cli.policy:run_test")
    p.set_defaults(handler="sigstack.cli.policy:run_help", policy_parser=p)


def run_help(args: argparse.Namespace) -> int:
    import sys

    args.policy_parser.print_help(sys.stderr)
    return 1


def _read(source: str) -> tuple[str, str]:
    """(text, field): the tester names the source ``path`` or ``url`` in its errors."""
    from pathlib import Path

    from sigstack.errors import PolicyError

    if source.startswith(("https://", "http://")):
        import httpx

        try:
            resp = httpx.get(source, timeout=30.0, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise PolicyError(f"fetching policy {source}: {exc}") from None
        return resp.text, "url"
    try:
        return Path(source).read_text(), "path"
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"open {source}: {getattr(exc, 'strerror', None) or exc}") from None


def _yaml_file(path: str, what: str) -> Any:
    from pathlib import Path

    import yaml

    from sigstack.errors import PolicyError

    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"open {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{what} {path}: invalid YAML: {str(exc).strip().splitlines()[0]}") from None


def run_test(args: argparse.Namespace) -> int:
    import sys

    from sigstack.cli._common import client_from
    from sigstack.errors import PolicyError
    from sigstack.policy import tester
    from sigstack.policy.models import parse_trust_root

    text, source_field = _read(args.policy)
    try:
        docs = tester.load_documents(text, source_field)
    except PolicyError as exc:
        raise PolicyError(exc.message.replace("\n", "; ")) from None
    resource = None
    if args.resource:
        obj = _yaml_file(args.resource, "resource")
        if not isinstance(obj, dict):
            raise PolicyError(f"resource {args.resource}: not a Kubernetes object")
        resource = tester.resource_from(obj)
    trust_root = None
    if args.trustroot:
        from pathlib import Path

        try:
            trust_root = parse_trust_root(Path(args.trustroot).read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"open {args.trustroot}: {getattr(exc, 'strerror', None) or exc}") from None
    from sigstack.policy.keyless import verify_keyless
    from sigstack.policy.secrets import pull_secret_clients

    with client_from(args) as client:
        clients = pull_secret_clients(client, docs.secrets, lambda creds: client_with(args, creds))
        result = tester.run(docs, args.image, clients, resource=resource, trust_root=trust_root,
                            enable_oci11=args.enable_oci11, keyless=verify_keyless)
    if result.passed:
        return 0
    sys.stdout.write(result.to_json().decode() + "\n")
    return 1


def client_with(args: argparse.Namespace, credentials: Any) -> Any:
    """A registry client like ``client_from(args)`` that tries ``credentials`` first."""
    import dataclasses

    from sigstack.cli._common import client_from
    from sigstack.oci.client import RegistryClient

    base = client_from(args)
    opts = dataclasses.replace(base.options, credentials=credentials)
    base.close()
    return RegistryClient(opts)
