"""Admission decisions: AdmissionReview v1 requests in, responses out (no HTTP here).

As policy-controller's two webhooks (both named ``policy.sigstore.dev``):

* **mutating** (``/mutations``): on CREATE and UPDATE, each image given by tag is
  resolved with the pod's registry credentials and rewritten to
  ``<repository>@<digest>`` by a JSONPatch; a tag that cannot be resolved is left as
  it is (the validating webhook then rejects it).
* **validating** (``/validations``): every image must be a digest
  (``<image> must be an image digest``), then every matching policy must pass
  (:mod:`sigstack.policy.engine`); failures are knative field errors,
  ``validation failed: failed policy: <name>: spec.containers[0].image`` followed by
  the image and each authority's error; ``mode: warn`` failures (and
  ``no-match-policy: warn``) become AdmissionResponse ``warnings``.

Skipped (allowed) as policy-controller skips them: DELETE and CONNECT, status
updates, objects being deleted, scale-downs of Deployments, ReplicaSets and
StatefulSets, and namespaces without the opt-in label
``policy.sigstore.dev/include=true`` (the webhook configurations select on it too; the
server checks again, so a misconfigured selector cannot widen what is enforced).
A kind the webhook does not handle is refused with ``unhandled kind: ...``; an
object that would not decode into its Kubernetes type (``metadata`` a string,
``containers`` an object, ...: kube-apiserver never sends one, anyone who reaches the
port can) is refused with ``cannot decode incoming new object: ...``, as knative's
typed decoding refuses it, instead of a 500.

Registry credentials are the pod's ``imagePullSecrets`` and its service account's,
read through the Kubernetes API (:mod:`.kube`), plus each authority's
``signaturePullSecrets``. A registry that does not answer in time denies the request
(fail closed), with the registry's error in the message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sigstack.admission import workloads
from sigstack.admission.kube import KubeReader
from sigstack.errors import PolicyError, SigstackError
from sigstack.oci.auth import Credentials
from sigstack.oci.client import RegistryClient, RegistryOptions, RegistryReader
from sigstack.oci.reference import parse_reference
from sigstack.policy import fielderror as fe
from sigstack.policy.engine import (
    TRUST_ROOT_RESYNC,
    TRUST_ROOT_RETRY,
    DecisionCache,
    Engine,
    KeylessVerifier,
    Resource,
    Settings,
    Verdict,
    compile_policies,
)
from sigstack.policy.fielderror import FieldError
from sigstack.policy.models import (
    ClusterImagePolicy,
    PolicyDocuments,
    Secret,
    TrustRoot,
    parse_documents,
    parse_objects,
)
from sigstack.policy.secrets import credentials_of

INCLUDE_LABEL = "policy.sigstore.dev/include"
REVIEW_VERSION = "admission.k8s.io/v1"


class BadReview(SigstackError):
    """The body is not an AdmissionReview v1 request (HTTP 400)."""


@dataclass(frozen=True)
class AdmissionSettings:
    policy: Settings = field(default_factory=Settings)
    include_label: str = INCLUDE_LABEL
    check_namespace_label: bool = True  # only with a Kubernetes API to ask
    controller_namespace: str = "cosign-system"
    registry: RegistryOptions = field(default_factory=lambda: RegistryOptions(timeout=10.0, attempts=2))
    trust_root_resync: float = TRUST_ROOT_RESYNC  # TUF TrustRoots read again this often (seconds)
    trust_root_retry: float = TRUST_ROOT_RETRY  # and after a failed verification, at most this often


# ---- policies from files, reloaded when they change ------------------------------------------

class PolicyFiles:
    """The policy documents in ``paths`` (files, or directories of ``*.yaml``/``*.yml``/
    ``*.json``) and, with ``cluster``, the ClusterImagePolicy, TrustRoot and ImagePolicy
    objects listed from the cluster every ``cluster_interval`` seconds, compiled into an
    :class:`Engine`; :meth:`engine` re-reads them when a
    file's size or mtime changed (checked at most every ``interval`` seconds). A file's
    policies get its content digest as their resourceVersion, so an edit also
    invalidates their cached decisions. A reload that fails keeps the last good policies.

    ``configMapRef`` and ``remote`` policies are read into the policies at each load, as
    policy-controller's reconciler inlines them (:mod:`sigstack.policy.inline`): ConfigMaps
    through ``config_maps`` (the Kubernetes API); the ConfigMaps read are checked again
    every ``cluster_interval`` seconds and a changed one (a new resourceVersion, or one
    that appeared or went) reloads the policies, as policy-controller's tracker does."""

    def __init__(self, paths: Sequence[str], settings: AdmissionSettings, *, secrets: Any = None,
                 keyless: KeylessVerifier | None = None, interval: float = 1.0,
                 cluster: KubeReader | None = None, cluster_interval: float = 10.0,
                 config_maps: KubeReader | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.cluster = cluster
        self.cluster_interval = cluster_interval
        self._cluster_checked = -1e9
        self._cluster_stamp = ""
        self._cluster_objs: list[dict[str, Any]] = []
        self.settings = settings
        self.secrets = secrets
        self.keyless = keyless
        self.interval = interval
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._checked = 0.0
        self._engine: Engine | None = None
        self.reloads = 0
        self.config_maps = config_maps
        self._cm_versions: dict[tuple[str, str], str] = {}  # the ConfigMaps the last load read
        self._cm_checked = 0.0
        self._poll_cluster(time.monotonic())
        self._load()
        if self._engine is None:
            raise PolicyError(self.last_error or "no policies")

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for p in self.paths:
            if p.is_dir():
                out += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml", ".json") and q.is_file())
            else:
                out.append(p)
        return out

    def _poll_cluster(self, now: float) -> None:
        """List the CRDs again when ``cluster_interval`` has passed (a failure keeps the last list)."""
        if self.cluster is None or now - self._cluster_checked < self.cluster_interval:
            return
        self._cluster_checked = now
        from sigstack.admission.kube import list_policy_objects

        try:
            self._cluster_stamp, self._cluster_objs = list_policy_objects(self.cluster)
        except SigstackError as exc:
            self.last_error = exc.message

    def _stamp_now(self) -> tuple[tuple[str, int, int], ...]:
        out = [("cluster:" + self._cluster_stamp, 0, 0)]
        for f in self._files():
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_size, st.st_mtime_ns))
        return tuple(out)

    def _load(self) -> None:
        stamp = self._stamp_now()
        skipped: str | None = None
        try:
            policies: list[ClusterImagePolicy] = []
            roots: list[TrustRoot] = []
            secrets: list[Secret] = []
            warnings: list[str] = []
            for f in self._files():
                try:
                    text = f.read_text()
                except (OSError, UnicodeDecodeError) as exc:
                    raise PolicyError(f"reading policy file {f}: {getattr(exc, 'strerror', None) or exc}") from None
                try:
                    docs = parse_documents(text)
                except PolicyError as exc:
                    raise PolicyError(f"{f}: {exc.message}") from None
                version = hashlib.sha256(text.encode()).hexdigest()[:16]
                policies += [replace(p, resource_version=p.resource_version or version, uid=p.uid or f"file:{f}")
                             for p in docs.policies]
                roots += docs.trust_roots
                secrets += docs.secrets
                warnings += docs.warnings
            for obj in self._cluster_objs:  # one invalid object is skipped, not the whole cluster
                try:
                    found = parse_objects([obj])
                except PolicyError as exc:
                    name = (obj.get("metadata") or {}).get("name")
                    skipped = f"{obj.get('kind')} {name}: {exc.message}"
                    continue
                policies += found.policies
                roots += found.trust_roots
            docs = PolicyDocuments(tuple(policies), tuple(roots), tuple(secrets), tuple(warnings))
            from sigstack.policy.inline import PolicySources

            versions: dict[tuple[str, str], str] = {}
            sources = PolicySources(config_maps=self._config_map_reader(versions) if self.config_maps else None)
            compiled = compile_policies(docs, self.secrets, self.settings.controller_namespace,
                                        resolve_policy=sources.text)
            engine = Engine(compiled, self.settings.policy, trust_roots=roots, keyless=self.keyless,
                            trust_root_resync=self.settings.trust_root_resync,
                            trust_root_retry=self.settings.trust_root_retry)
        except SigstackError as exc:
            self.last_error = exc.message
            self._stamp = stamp
            return
        self._engine, self._stamp, self.last_error = engine, stamp, skipped
        self._cm_versions = versions
        self.reloads += 1

    def _config_map_reader(self, versions: dict[tuple[str, str], str]) -> Any:
        """Reads ConfigMaps for :class:`PolicySources`, noting each one's version."""
        kube = self.config_maps
        assert kube is not None

        def read(namespace: str, name: str) -> Mapping[str, str] | None:
            try:
                found = kube.config_map(namespace, name)
            except SigstackError as exc:
                versions[(namespace, name)] = f"error: {exc.message}"
                raise
            versions[(namespace, name)] = found[1] if found is not None else "-"
            return found[0] if found is not None else None

        return read

    def _config_map_version(self, namespace: str, name: str) -> str:
        assert self.config_maps is not None
        try:
            found = self.config_maps.config_map(namespace, name)
        except SigstackError as exc:
            return f"error: {exc.message}"
        return found[1] if found is not None else "-"

    def _config_maps_changed(self, now: float) -> bool:
        if not self._cm_versions or now - self._cm_checked < self.cluster_interval:
            return False
        self._cm_checked = now
        return any(self._config_map_version(ns, name) != v for (ns, name), v in self._cm_versions.items())

    def engine(self) -> Engine:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= self.interval:
                self._checked = now
                self._poll_cluster(now)
                if self._stamp_now() != self._stamp or self._config_maps_changed(now):
                    self._load()
            assert self._engine is not None
            return self._engine


# ---- the webhook -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    uid: str
    group: str
    version: str
    kind: str
    operation: str
    namespace: str
    sub_resource: str
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None


def parse_review(body: Any) -> Request:
    if not isinstance(body, dict):
        raise BadReview("the request body is not a JSON object")
    if body.get("apiVersion") != REVIEW_VERSION or body.get("kind") != "AdmissionReview":
        raise BadReview(f"expected an {REVIEW_VERSION} AdmissionReview, got apiVersion "
                        f"{body.get('apiVersion')!r} kind {body.get('kind')!r}")
    req = body.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("uid"), str) or not req.get("uid"):
        raise BadReview("the AdmissionReview has no request with a uid")
    kind = req.get("kind") or {}
    if not isinstance(kind, dict):
        raise BadReview("request.kind is not an object")
    obj = req.get("object")
    old = req.get("oldObject")
    op = str(req.get("operation") or "")
    if op in ("CREATE", "UPDATE") and not isinstance(obj, dict):
        raise BadReview(f"request.object is missing for a {op}")
    return Request(req["uid"], str(kind.get("group") or ""), str(kind.get("version") or ""),
                   str(kind.get("kind") or ""), op, str(req.get("namespace") or ""),
                   str(req.get("subResource") or ""), obj if isinstance(obj, dict) else {},
                   old if isinstance(old, dict) else None)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def header_safe(text: str) -> str:
    """``text`` with each run of control characters (a field error's ``\n`` before its
    details) made one space. kube-apiserver sends each webhook warning as an HTTP
    ``Warning`` header and silently drops one that holds a control character
    (``net.NewWarningHeader`` refuses it), so a multi-line warning would never reach
    kubectl; the denial message, sent in the response body, keeps its lines."""
    return _CONTROL.sub(" ", text).strip()


def review_response(uid: str, allowed: bool, *, message: str | None = None, warnings: Sequence[str] = (),
                    patch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        resp["status"] = {"metadata": {}, "status": "Failure", "message": message or "", "reason": "BadRequest",
                          "code": 400}
    safe = [w for w in (header_safe(w) for w in warnings) if w]
    if safe:
        resp["warnings"] = safe
    if patch:
        resp["patchType"] = "JSONPatch"
        resp["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": REVIEW_VERSION, "kind": "AdmissionReview", "response": resp}


class Admission:
    """Both webhooks over one set of policies (see the module docstring)."""

    def __init__(self, policies: PolicyFiles, settings: AdmissionSettings | None = None, *,
                 kube: KubeReader | None = None, cache: DecisionCache | None = None) -> None:
        self.policies = policies
        self.settings = settings or policies.settings
        self.kube = kube
        self.cache = cache if cache is not None else DecisionCache()
        self._clients: dict[tuple[tuple[str, str, str, str], ...], RegistryClient] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    # -- registry clients by credentials

    def client(self, credentials: Mapping[str, Credentials]) -> RegistryClient:
        key = tuple(sorted((h, c.username, c.password, c.identity_token) for h, c in credentials.items()))
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                opts = replace(self.settings.registry, credentials=dict(credentials) or None)
                c = self._clients[key] = RegistryClient(opts)
            return c

    def _pod_credentials(self, req: Request, path: tuple[str, ...]) -> dict[str, Credentials]:
        if self.kube is None:
            return {}
        names, sa = workloads.pull_secret_names(req.obj, path)
        return credentials_of(self.kube.pull_secrets(req.namespace, names, sa))

    def _client_for(self, req: Request, pod: RegistryReader) -> Any:
        def client_for(names: Sequence[str]) -> RegistryReader:
            if not names:
                return pod
            if self.kube is None:
                raise PolicyError("signaturePullSecrets need the Kubernetes API (run in a cluster or give a "
                                  "kubeconfig)")
            found: list[Secret] = []
            for n in names:
                s = self.kube.secret(req.namespace, n)
                if s is None:
                    raise PolicyError(f'secrets "{n}" not found')
                found.append(s)
            return self.client(credentials_of(found))

        return client_for

    # -- entry points

    def review(self, body: Any, *, mutating: bool) -> dict[str, Any]:
        """The AdmissionReview response for ``body`` (a decoded JSON request);
        :class:`BadReview` when it is not an AdmissionReview request at all."""
        req = parse_review(body)
        if req.operation in ("CREATE", "UPDATE"):
            path = workloads.pod_spec_path(req.group, req.kind)
            for which, obj in (("new", req.obj), ("old", req.old)):
                problem = None if obj is None else workloads.shape_error(obj, path)
                if problem is not None:
                    return review_response(req.uid, False,
                                           message=f"cannot decode incoming {which} object: {problem}")
        skip = self._skipped(req)
        if skip is not None:
            return skip
        path = workloads.pod_spec_path(req.group, req.kind)
        if path is None:
            gvk = f"{req.group}/{req.version}, Kind={req.kind}"
            return review_response(req.uid, False, message=f"unhandled kind: {gvk}")
        if mutating:
            return self._mutate(req, path)
        return self._validate(req, path)

    def _skipped(self, req: Request) -> dict[str, Any] | None:
        if req.operation not in ("CREATE", "UPDATE"):
            return review_response(req.uid, True)
        if req.sub_resource == "status" or (req.obj.get("metadata") or {}).get("deletionTimestamp"):
            return review_response(req.uid, True)
        if (req.group, req.kind) in workloads.SCALABLE and req.operation == "UPDATE" and req.old is not None:
            new, old = (req.obj.get("spec") or {}).get("replicas"), (req.old.get("spec") or {}).get("replicas")
            if isinstance(new, int) and isinstance(old, int) and new < old:
                return review_response(req.uid, True)
        if self.kube is not None and self.settings.check_namespace_label and req.namespace:
            try:
                labels = self.kube.namespace_labels(req.namespace)
            except SigstackError as exc:
                return review_response(req.uid, False, message=f"validation failed: {exc.message}: ")
            if labels.get(self.settings.include_label) != "true":
                return review_response(req.uid, True)
        return None

    def _mutate(self, req: Request, path: tuple[str, ...]) -> dict[str, Any]:
        try:
            pod = self.client(self._pod_credentials(req, path))
        except SigstackError:
            return review_response(req.uid, True)  # policy-controller: logged, nothing rewritten
        patch = []
        for c in workloads.images(req.obj, path):
            try:
                ref = parse_reference(c.image)
                if ref.digest:
                    continue
                digest = pod.get_manifest(ref).descriptor().digest
            except SigstackError:
                continue
            patch.append({"op": "replace", "path": c.pointer, "value": f"{ref.repository.name}@{digest}"})
        return review_response(req.uid, True, patch=patch)

    def _validate(self, req: Request, path: tuple[str, ...]) -> dict[str, Any]:
        prefix = ".".join(path)
        try:
            pod = self.client(self._pod_credentials(req, path))
        except SigstackError as exc:
            err = fe.generic(exc.message).via(prefix)
            return review_response(req.uid, False, message=f"validation failed: {fe.render([err])}")
        meta = req.obj.get("metadata") or {}
        resource = Resource(kind=str(req.obj.get("kind") or req.kind),
                            api_version=str(req.obj.get("apiVersion") or
                                            (f"{req.group}/{req.version}" if req.group else req.version)),
                            namespace=req.namespace,
                            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                            spec=req.obj.get("spec"), object_meta=meta,
                            type_meta={"kind": req.obj.get("kind"), "apiVersion": req.obj.get("apiVersion")})
        engine = self.policies.engine()
        client_for = self._client_for(req, pod)
        errors: list[FieldError] = []
        for c in workloads.images(req.obj, path):
            errors += [e.via(prefix) for e in container_errors(engine, c, resource, client_for, self.cache)]
        denied = [e for e in errors if e.level == fe.ERROR]
        warnings = [fe.render([w]) for w in errors if w.level == fe.WARNING]
        if denied:
            return review_response(req.uid, False, message=f"validation failed: {fe.render(denied)}",
                                   warnings=warnings)
        return review_response(req.uid, True, warnings=warnings)


def container_errors(engine: Engine, c: workloads.ContainerImage, resource: Resource, client_for: Any,
                     cache: DecisionCache | None) -> list[FieldError]:
    """One container's field errors (``validateContainerImage``), under ``<field>[i]``."""
    try:
        ref = parse_reference(c.image)
    except SigstackError as exc:
        return [fe.generic(exc.message, "image").via_index(c.field, c.index)]
    if not ref.digest:
        return [fe.invalid_value(f"{c.image} must be an image digest", "image").via_index(c.field, c.index)]
    verdict = engine.evaluate(c.image, client_for, resource, cache)
    return verdict_errors(verdict, c.field, c.index)


def verdict_errors(verdict: Verdict, field_name: str, index: int) -> list[FieldError]:
    """``errorsToFieldErrors`` and ``setNoMatchingPoliciesError`` (per policy: its
    warnings in one field error at warning level, its errors in another)."""
    image = verdict.image
    if verdict.match_error is not None:
        return [FieldError(verdict.match_error, ("image",), image).via_index(field_name, index)]
    if verdict.no_match is not None:
        return [verdict.no_match.via_index(field_name, index)]
    out = []
    for o in verdict.outcomes:
        if o.result is not None:
            continue
        warn_details, err_details = image, image
        has_warn = has_err = False
        for e in o.errors:
            if e.level == fe.WARNING:
                warn_details += " " + e.message
                has_warn = True
            else:
                err_details += " " + e.message
                has_err = True
        if not o.errors:
            err_details += f" failed to process policy: {o.policy.name}"
            has_err = True
        name = f"failed policy: {o.policy.name}"
        if has_warn:
            out.append(FieldError(name, ("image",), warn_details, fe.WARNING).via_index(field_name, index))
        if has_err:
            out.append(FieldError(name, ("image",), err_details).via_index(field_name, index))
    return out
