"""Reading the Kubernetes API for the webhook: Secrets, ServiceAccounts, Namespaces,
ConfigMaps (``configMapRef`` policies).

The official ``kubernetes`` client, configured as ``k8s://`` keys are (the kubeconfig's
current context, else the in-cluster service account). Reads are what k8schain does
for a pod: the pod's ``imagePullSecrets`` plus its service account's, in the pod's
namespace; a Secret or ServiceAccount that does not exist is skipped, as k8schain
skips it; any other API failure is an error (the webhook then denies: fail closed).
Namespace labels are cached for a few seconds (the opt-in label is read per request).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
from typing import Any

from sigstack.errors import CredentialError
from sigstack.policy.models import Secret


class KubeReader:
    """Reads through ``api`` (a ``kubernetes.client.CoreV1Api``)."""

    def __init__(self, api: Any, namespace_ttl: float = 5.0) -> None:
        self.api = api
        self._ns: dict[str, tuple[float, dict[str, str]]] = {}
        self._ttl = namespace_ttl
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> KubeReader:
        from sigstack.keys.k8s import core_api

        return cls(core_api())

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise CredentialError(f"kubernetes: reading {what}: {api_message(exc)}") from None
        except HTTPError as exc:
            raise CredentialError(f"kubernetes: cannot reach the API server reading {what}: {exc}") from None

    def secret(self, namespace: str, name: str) -> Secret | None:
        raw = self._call(f"secret {namespace}/{name}", self.api.read_namespaced_secret, name, namespace)
        if raw is None:
            return None
        data = {}
        for k, v in (raw.data or {}).items():
            try:
                data[k] = base64.b64decode(v, validate=True)
            except ValueError:
                raise CredentialError(f"kubernetes: secret {namespace}/{name} field {k} is not valid base64") from None
        return Secret(name, namespace, data, raw.type or "Opaque")

    def config_map(self, namespace: str, name: str) -> tuple[dict[str, str], str] | None:
        """A ConfigMap's ``data`` and its resourceVersion (None: it does not exist)."""
        raw = self._call(f"configmap {namespace}/{name}", self.api.read_namespaced_config_map, name, namespace)
        if raw is None:
            return None
        version = str(raw.metadata.resource_version or "") if raw.metadata is not None else ""
        return {str(k): str(v) for k, v in (raw.data or {}).items()}, version

    def service_account_pull_secrets(self, namespace: str, name: str) -> list[str]:
        sa = self._call(f"service account {namespace}/{name}", self.api.read_namespaced_service_account, name,
                        namespace)
        if sa is None:
            return []
        return [s.name for s in (sa.image_pull_secrets or []) if s.name]

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            hit = self._ns.get(namespace)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        ns = self._call(f"namespace {namespace}", self.api.read_namespace, namespace)
        labels = dict((ns.metadata.labels or {}) if ns is not None and ns.metadata is not None else {})
        with self._lock:
            self._ns[namespace] = (now, labels)
        return labels

    def pull_secrets(self, namespace: str, names: list[str], service_account: str) -> list[Secret]:
        """The pod's pull secrets then its service account's (k8schain's order)."""
        wanted = list(names) + [n for n in self.service_account_pull_secrets(namespace, service_account)
                                if n not in names]
        out = []
        for n in wanted:
            s = self.secret(namespace, n)
            if s is not None:
                out.append(s)
        return out


def api_message(exc: Any) -> str:
    """The message of the Status kube-apiserver answered with (an RBAC refusal names the
    user, verb and resource), else the HTTP status line."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        doc = json.loads(exc.body or "{}")
        message = str(doc.get("message") or "") if isinstance(doc, dict) else ""
    return message or f"HTTP {exc.status} {exc.reason}"


#: the policy CRDs listed from the cluster: (group, version, plural)
POLICY_CRDS = (
    ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies"),
    ("policy.sigstore.dev", "v1alpha1", "trustroots"),
    ("policy.sigstack.dev", "v1alpha1", "imagepolicies"),
)


def list_policy_objects(reader: KubeReader) -> tuple[str, list[dict[str, Any]]]:
    """Every ClusterImagePolicy, TrustRoot and ImagePolicy in the cluster, and a stamp
    that changes whenever any of them is created, edited or deleted, and only then. A
    CRD that is not installed lists nothing.

    The stamp is made of each object's namespace, name, uid and resourceVersion, not of
    the list's ``metadata.resourceVersion``: kube-apiserver gives a list etcd's current
    revision, which every write anywhere in the cluster (each Pod, Event, Lease) moves,
    so a stamp made of it would recompile the policies (and re-read their TrustRoots) at
    every poll of a busy cluster."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api = client.CustomObjectsApi(reader.api.api_client)
    stamp: list[str] = []
    objs: list[dict[str, Any]] = []
    for group, version, plural in POLICY_CRDS:
        try:
            listed: Any = api.list_cluster_custom_object(group, version, plural)
        except ApiException as exc:
            if exc.status == 404:
                stamp.append(f"{plural}:-")
                continue
            raise CredentialError(f"kubernetes: listing {plural}.{group}: {api_message(exc)}") from None
        except HTTPError as exc:
            raise CredentialError(f"kubernetes: cannot reach the API server listing {plural}.{group}: {exc}") from None
        versions = hashlib.sha256()
        items = [i for i in listed.get("items") or [] if isinstance(i, dict)]
        for line in sorted(_version_line(i) for i in items):
            versions.update(line.encode() + b"\n")
        stamp.append(f"{plural}:{len(items)}:{versions.hexdigest()[:16]}")
        for item in items:
            item.setdefault("apiVersion", f"{group}/{version}")
            item.setdefault("kind", {"clusterimagepolicies": "ClusterImagePolicy", "trustroots": "TrustRoot",
                                     "imagepolicies": "ImagePolicy"}[plural])
            objs.append(item)
    return ",".join(stamp), objs


def _version_line(item: dict[str, Any]) -> str:
    meta = item.get("metadata") or {}
    return " ".join(str(meta.get(k) or "") for k in ("namespace", "name", "uid", "resourceVersion"))
