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


def images(obj: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[ContainerImage]:
    spec = pod_spec(obj, path)
    base = "/" + "/".join(path)
    for f in CONTAINER_FIELDS:
        for i, c in enumerate(spec.get(f) or []):
            if isinstance(c, Mapping) and isinstance(c.get("image"), str):
                yield ContainerImage(f, i, c["image"], f"{base}/{f}/{i}/image")


def pull_secret_names(obj: Mapping[str, Any], path: tuple[str, ...]) -> tuple[list[str], str]:
    """(imagePullSecrets names, serviceAccountName or ``default``)."""
    spec = pod_spec(obj, path)
    names = [str(s.get("name")) for s in spec.get("imagePullSecrets") or [] if isinstance(s, Mapping) and s.get("name")]
    return names, str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
