"""Where each workload kind keeps its pod spec, as policy-controller's webhook reads it.

Pods (``spec``), the pod-template kinds Deployment, ReplicaSet, StatefulSet, DaemonSet
and Job (``spec.template.spec``), and CronJob (``spec.jobTemplate.spec.template.spec``,
``batch/v1`` and ``batch/v1beta1``). In each, ``initContainers``, ``containers`` and
``ephemeralContainers`` are checked, in that order, and their index names the field in
errors (``spec.template.spec.containers[1].image``) and in JSON patches
(``/spec/template/spec/containers/1/image``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: (group, kind) -> the path of the pod spec inside the object
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
#: kinds whose scale-down policy-controller lets through (PodScalable)
SCALABLE = {("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet")}
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class ContainerImage:
    field: str  # "initContainers" | "containers" | "ephemeralContainers"
    index: int
    image: str
    pointer: str  # JSON pointer to the image, for a patch


def pod_spec_path(group: str, kind: str) -> tuple[str, ...] | None:
    return POD_SPEC_PATHS.get((group, kind))


def pod_spec(obj: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    cur: Any = obj
    for part in path:
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    return cur if isinstance(cur, Mapping) else {}


def shape_error(obj: Mapping[str, Any], path: tuple[str, ...] | None) -> str | None:
    """Why ``obj`` would not decode into its Kubernetes type, in the parts read here
    (None: it would). policy-controller decodes the object into a typed struct first and
    denies what does not fit ("cannot decode incoming new object"); kube-apiserver never
    sends such an object, but anyone who reaches the webhook's port can. ``null``
    stands for absent, as in Go."""
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        return "metadata must be an object"
    labels = (meta or {}).get("labels")
    if labels is not None and not (isinstance(labels, Mapping) and all(isinstance(v, str) for v in labels.values())):
        return "metadata.labels must be a map of strings"
    spec = obj.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        return "spec must be an object"
    if path is None:
        return None
    cur: Any = obj
    for i, part in enumerate(path):
        cur = cur.get(part)
        if cur is None:
            return None
        if not isinstance(cur, Mapping):
            return f"{'.'.join(path[:i + 1])} must be an object"
    where = ".".join(path)
    for f in (*CONTAINER_FIELDS, "imagePullSecrets"):
        items = cur.get(f)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(c, Mapping) for c in items):
            return f"{where}.{f} must be a list of objects"
        for j, c in enumerate(items):
            if f != "imagePullSecrets" and c.get("image") is not None and not isinstance(c.get("image"), str):
                return f"{where}.{f}[{j}].image must be a string"
    for f in ("serviceAccountName", "serviceAccount"):
        if cur.get(f) is not None and not isinstance(cur.get(f), str):
            return f"{where}.{f} must be a string"
    return None


def images(obj: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[ContainerImage]:
    spec = pod_spec(obj, path)
    base = "/" + "/".join(path)
    for f in CONTAINER_FIELDS:
        items = spec.get(f)
        for i, c in enumerate(items if isinstance(items, list) else []):
            if isinstance(c, Mapping) and isinstance(c.get("image"), str):
                yield ContainerImage(f, i, c["image"], f"{base}/{f}/{i}/image")


def pull_secret_names(obj: Mapping[str, Any], path: tuple[str, ...]) -> tuple[list[str], str]:
    """(imagePullSecrets names, serviceAccountName or ``default``)."""
    spec = pod_spec(obj, path)
    secrets = spec.get("imagePullSecrets")
    names = [str(s.get("name")) for s in (secrets if isinstance(secrets, list) else [])
             if isinstance(s, Mapping) and s.get("name")]
    return names, str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
