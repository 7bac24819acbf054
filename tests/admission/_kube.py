"""The Kubernetes API double of tests/keys_backends/_k8s_double.py (Secrets), extended
with the other reads the webhook makes: ``GET /api/v1/namespaces/{ns}`` (the opt-in
label), ``GET /api/v1/namespaces/{ns}/serviceaccounts/{name}`` (its
``imagePullSecrets``), ``GET /api/v1/namespaces/{ns}/configmaps/{name}`` (a
``configMapRef`` policy's text) and ``GET /apis/{group}/{version}/{plural}`` (the policy CRDs'
lists, 404 for a CRD that is not installed). No kube-apiserver can run on these machines; the paths, the
JSON shapes and the Status errors (401, 403, 404) are the real API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.keys_backends._k8s_double import K8sHandler, K8sState, status

_NS = re.compile(r"^/api/v1/namespaces/([^/?]+)/?(?:\?.*)?$")
_CRD = re.compile(r"^/apis/([^/]+)/([^/]+)/([^/?]+)/?(?:\?.*)?$")
_SA = re.compile(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/?]+)(?:\?.*)?$")
_CM = re.compile(r"^/api/v1/namespaces/([^/]+)/configmaps/([^/?]+)(?:\?.*)?$")


@dataclass
class ClusterState(K8sState):
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    service_accounts: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # -> pull secret names
    # (group, version, plural) -> the objects listed
    custom: dict[tuple[str, str, str], list[dict[str, object]]] = field(default_factory=dict)
    # the lists' resourceVersion. As kube-apiserver's, it is the store's revision, which
    # any write moves: bump it on any change (the webhook must not rely on it alone)
    custom_version: int = 1
    # (namespace, name) -> (data, resourceVersion): set a new resourceVersion on a change
    config_maps: dict[tuple[str, str], tuple[dict[str, str], str]] = field(default_factory=dict)


class ClusterHandler(K8sHandler):
    state: ClusterState

    def do_GET(self) -> None:
        crd = _CRD.match(self.path)
        if crd is not None:
            self._record()
            if self.headers.get("Authorization") != f"Bearer {self.state.token}":
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                return
            group, version, plural = crd.groups()
            if (group, version, plural) not in self.state.custom:
                self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
                return
            self.send_json(200, {"apiVersion": f"{group}/{version}", "kind": "List", "items":
                                 self.state.custom[(group, version, plural)],
                                 "metadata": {"resourceVersion": str(self.state.custom_version)}})
            return
        cm = _CM.match(self.path)
        if cm is not None:
            self._record()
            if self.headers.get("Authorization") != f"Bearer {self.state.token}":
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                return
            ns, name = cm.groups()
            if (ns, name) not in self.state.config_maps:
                self.send_json(404, status(404, "NotFound", f'configmaps "{name}" not found', name))
                return
            data, version = self.state.config_maps[(ns, name)]
            self.send_json(200, {"kind": "ConfigMap", "apiVersion": "v1", "data": data,
                                 "metadata": {"name": name, "namespace": ns, "resourceVersion": version}})
            return
        ns_match, sa_match = _NS.match(self.path), _SA.match(self.path)
        if ns_match is None and sa_match is None:
            super().do_GET()
            return
        self._record()
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        if ns_match is not None:
            name = ns_match.group(1)
            if name in self.state.forbidden:
                self.send_json(403, status(403, "Forbidden", f'namespaces "{name}" is forbidden', name))
                return
            if name not in self.state.namespaces:
                self.send_json(404, status(404, "NotFound", f'namespaces "{name}" not found', name))
                return
            self.send_json(200, {"kind": "Namespace", "apiVersion": "v1",
                                 "metadata": {"name": name, "labels": self.state.namespaces[name]},
                                 "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
            return
        assert sa_match is not None
        ns, name = sa_match.groups()
        if (ns, name) not in self.state.service_accounts:
            self.send_json(404, status(404, "NotFound", f'serviceaccounts "{name}" not found', name))
            return
        self.send_json(200, {"kind": "ServiceAccount", "apiVersion": "v1",
                             "metadata": {"name": name, "namespace": ns},
                             "imagePullSecrets": [{"name": n} for n in self.state.service_accounts[(ns, name)]]})
