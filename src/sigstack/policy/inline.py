"""Policy texts kept outside the ClusterImagePolicy: ``configMapRef`` and ``remote``.

policy-controller's reconciler (``pkg/reconciler/clusterimagepolicy`` ``inlinePolicies``)
reads them when a ClusterImagePolicy changes and hands the webhook the policy with the
text in ``data``: a ConfigMap's key (``configMapRef: {name, namespace, key}``), or a
document fetched over HTTPS whose SHA-256 must equal ``remote.sha256sum``. Both the
CIP-level ``policy`` and each attestation's ``policy`` may name one. The errors are the
reconciler's (``configmap "<name>" does not contain key <key>``, ``failed to check
sha256sum from policy remote: <want> got <got>``), except that an HTTP status is written
as a number (Go's ``%q`` of an int would print it as a quoted character).

Where this differs from policy-controller, on purpose:

* ``configMapRef.namespace`` is honoured (policy-controller reads every ConfigMap in
  its own namespace and ignores it); without one, the controller's namespace is read.
* a policy whose text cannot be read **fails closed**: its images are denied with the
  reason (policy-controller drops the ClusterImagePolicy from its configuration, so
  those images are then judged as if the policy did not exist).
* a remote document is bounded (:data:`MAX_REMOTE_POLICY` bytes, :data:`REMOTE_TIMEOUT`
  seconds for the whole body, no unrequested compression): a policy is a small text, and
  a huge or slow answer must not stall reloads.

``sigstack policy test`` does none of this, exactly as ``policy-tester`` does not: it
converts the policy as the webhook's internal form and keeps only ``data``, so a
``configMapRef`` or ``remote`` policy is evaluated with an empty text (a Rego policy
then fails with ``rego_parse_error: empty module``; an empty CUE document accepts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sigstack.errors import PolicyError
from sigstack.policy.models import Policy

MAX_REMOTE_POLICY = 1024 * 1024
REMOTE_TIMEOUT = 10.0

#: a ConfigMap's ``data`` by (namespace, name); None when there is no such ConfigMap
ConfigMapSource = Callable[[str, str], "Mapping[str, str] | None"]


def fetch_remote_policy(url: str, sha256sum: str, *, max_bytes: int = MAX_REMOTE_POLICY,
                        timeout: float = REMOTE_TIMEOUT) -> str:
    """``inlinePolicyURL``: GET ``url`` (certificates checked against the system store,
    or ``SSL_CERT_FILE``), a 2xx answer of at most ``max_bytes`` read within ``timeout``
    (:func:`sigstack._internal.bounded.read_body`: no unrequested compression), whose
    SHA-256 is ``sha256sum``."""
    import httpx

    from sigstack._internal.bounded import IDENTITY, read_body

    def failed(message: str) -> PolicyError:
        return PolicyError(f"failed to read policy url response: {message}")

    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, headers=IDENTITY) as client, \
                client.stream("GET", url) as resp:
            if not 200 <= resp.status_code <= 299:
                raise PolicyError(f"failed to fetch content from policy url with code {resp.status_code}")
            body = read_body(resp, max_bytes, timeout, "the body", failed)
    except httpx.HTTPError as exc:
        raise PolicyError(f"failed to fetch content from policy url: {exc}") from None
    got = hashlib.sha256(body).hexdigest()
    if got != sha256sum:
        raise PolicyError(f"failed to check sha256sum from policy remote: {sha256sum} got {got}")
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise failed("not UTF-8 text") from None


@dataclass
class PolicySources:
    """Resolves a ``configMapRef`` or ``remote`` policy to its text (``data`` as it is
    otherwise). ``config_maps`` reads ConfigMaps (None: there is no cluster to ask);
    ``fetch`` reads remote documents. Remote documents are fetched once per
    (url, sha256sum) for the life of this object (one policy load)."""

    config_maps: ConfigMapSource | None = None
    fetch: Callable[[str, str], str] = fetch_remote_policy
    _remote: dict[tuple[str, str], str] = field(default_factory=dict)

    def text(self, policy: Policy, default_namespace: str) -> str:
        if policy.config_map_ref is not None:
            ref = policy.config_map_ref
            if self.config_maps is None:
                raise PolicyError(f"configmap {_quote(ref.name)}: no ConfigMap source (run with the Kubernetes "
                                  "API, or write the policy inline as data)")
            data = self.config_maps(ref.namespace or default_namespace, ref.name)
            if data is None:
                raise PolicyError(f"configmap {_quote(ref.name)} not found")
            if not data:
                raise PolicyError(f"configmap {_quote(ref.name)} contains no data")
            if not data.get(ref.key):
                raise PolicyError(f"configmap {_quote(ref.name)} does not contain key {ref.key}")
            return data[ref.key]
        if policy.remote is not None:
            key = (policy.remote.url, policy.remote.sha256sum)
            if key not in self._remote:
                self._remote[key] = self.fetch(*key)
            return self._remote[key]
        return policy.data


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
