"""``sigstack admission serve`` behind a real kube-apiserver (issue 13).

The apiserver (tests/admission/kubeapi.py; built by scripts/build-kube-apiserver, the
tests skip without it) gets the repository's CRDs (deploy/admission/crds.yaml), the
webhook's RBAC and both webhook configurations from deploy/admission/sigstack-admission.yaml
(as the Helm chart renders them; tests/admission/test_deploy.py keeps the two alike),
with ``clientConfig.service`` replaced by the loopback URL of a ``sigstack admission
serve`` over TLS, since no Service can route here. Policies, Secrets and
ServiceAccounts are created through the API with the ``kubernetes`` client (what
``kubectl apply`` does), and the webhook reads them back through the API with its own
token, so the ClusterRole the manifest grants is what it gets. Pods and Deployments
are then created in an opted-in namespace and kube-apiserver calls the webhooks: what
it stores, the error it returns and the Warning headers it sends are asserted.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.admission.conftest import DATA, PW
from tests.admission.kubeapi import HELM, KubeApi, binaries_missing, free_port, start_kube_apiserver
from tests.helpers import sigstack
from tests.keys_backends._http import JsonHandler, Tls, make_tls, serve
from tests.oci.ocihelpers import Registry, fresh
from tests.policy.test_keyless import Keyless
from tests.policy.test_keyless import keyless as keyless  # a module fixture: cosign keyless against our CA and log

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "admission" / "sigstack-admission.yaml"
CRDS = ROOT / "deploy" / "admission" / "crds.yaml"
CHART = ROOT / "deploy" / "helm" / "sigstack-admission"
SHOP, DEV = "shop", "dev"

pytestmark = pytest.mark.skipif(binaries_missing() is not None, reason=binaries_missing() or "")


@dataclass
class Cluster:
    api: KubeApi
    client: Any  # kubernetes.client.ApiClient (admin)
    webhook_url: str
    webhook_log: Path

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.client)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.client)


def manifest_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _serve_webhook(tmp: Path, kube: KubeApi, tls: Tls, tls_registry: Registry) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "KUBE", "DOCKER_CONFIG"))}
    env.update(HOME=str(tmp), KUBECONFIG=str(kube.webhook_kubeconfig))
    log = tmp / "webhook.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", "admission", "serve",
                                 "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file),
                                 "--host", "127.0.0.1", "--port", str(port), "--cluster-poll", "500ms",
                                 "--registry-cacert", str(tls_registry.ca), "--registry-timeout", "5s"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", verify=ctx, timeout=1).text == "ok\n":
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"admission serve did not start: {log.read_text()}")
        time.sleep(0.1)


def _apply(client: Any, doc: dict[str, Any]) -> None:
    """Create ``doc`` as ``kubectl create -f`` would (the kinds the manifests hold)."""
    from kubernetes import utils

    utils.create_from_dict(client, doc)


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory, tls_registry: Registry) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("kube")
    with start_kube_apiserver(tmp / "api") as api:
        client = api.client()
        from kubernetes import client as k

        ext = k.ApiextensionsV1Api(client)
        for crd in manifest_docs(CRDS):
            ext.create_custom_resource_definition(crd)
        docs = manifest_docs(MANIFEST)
        for d in docs:
            if d["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                _apply(client, d)
        core = k.CoreV1Api(client)
        for ns, labels in ((SHOP, {"policy.sigstore.dev/include": "true"}), (DEV, {})):
            core.create_namespace({"metadata": {"name": ns, "labels": labels}})
            # what the service-account controller would create (none runs here)
            core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})
        wait_for_crds(client)
        (tmp / "webhook-tls").mkdir()
        tls = make_tls(tmp / "webhook-tls")
        proc, url = _serve_webhook(tmp, api, tls, tls_registry)
        ca_bundle = base64.b64encode(tls.ca_pem).decode()
        adm = k.AdmissionregistrationV1Api(client)
        for d in docs:
            if d["kind"] not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
                continue
            d = copy.deepcopy(d)
            for hook in d["webhooks"]:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {"url": f"{url}{path}", "caBundle": ca_bundle}
            d["metadata"].pop("annotations", None)  # cert-manager's injection: the bundle is set here
            if d["kind"] == "MutatingWebhookConfiguration":
                adm.create_mutating_webhook_configuration(d)
            else:
                adm.create_validating_webhook_configuration(d)
        try:
            yield Cluster(api, client, url, tmp / "webhook.log")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            client.close()


def wait_for_crds(client: Any) -> None:
    """A CRD serves once it is Established."""
    from kubernetes import client as k

    ext = k.ApiextensionsV1Api(client)
    deadline = time.monotonic() + 30
    for crd in manifest_docs(CRDS):
        while True:
            got = ext.read_custom_resource_definition(crd["metadata"]["name"])
            if any(c.type == "Established" and c.status == "True" for c in (got.status.conditions or [])):
                break
            assert time.monotonic() < deadline, f"CRD {crd['metadata']['name']} not established"
            time.sleep(0.2)


def cip(name: str, glob: str, authorities: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": name},
            "spec": {"images": [{"glob": glob}], "authorities": authorities, **spec}}


@pytest.fixture
def policy(kube: Cluster) -> Iterator[Any]:
    """Create ClusterImagePolicies; deleted after the test. Waits until the webhook has
    listed the new set (a Pod in the opted-in namespace naming a probe image that only
    the new policy covers comes back with that policy's error)."""
    made: list[str] = []

    def create(doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = kube.custom.create_cluster_custom_object(
            "policy.sigstore.dev", "v1beta1", "clusterimagepolicies", doc)
        made.append(doc["metadata"]["name"])
        return out

    yield create
    from kubernetes.client.exceptions import ApiException

    for name in made:
        try:
            kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name)
        except ApiException as exc:
            if exc.status != 404:  # the test deleted it
                raise


def pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": image}], **spec}}


def create_pod(kube: Cluster, namespace: str, body: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Create a Pod through the apiserver: (the stored Pod, the response headers)."""
    data, _, headers = kube.core.create_namespaced_pod_with_http_info(namespace, body)
    return data, dict(headers or {})


def denial(kube: Cluster, namespace: str, body: dict[str, Any]) -> tuple[int, str]:
    """The apiserver's refusal of ``body``: (HTTP status, Status message); (0, "") if admitted."""
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.create_namespaced_pod(namespace, body)
    except ApiException as exc:
        return exc.status, json.loads(exc.body)["message"]
    return 0, ""


def eventually(check: Any, what: str, timeout: float = 20) -> Any:
    """``check()`` until it returns a true value (the webhook lists policies every 500 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def key_policy(keypair: tuple[Path, Path]) -> list[dict[str, Any]]:
    return [{"key": {"data": keypair[1].read_text()}}]


def sign(image: str, keypair: tuple[Path, Path], *extra: str, env: dict[str, str] | None = None) -> None:
    r = sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", *extra, image, env={**PW, **(env or {})})
    assert r.code == 0, r.err


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admitted_pod(kube: Cluster, namespace: str, body: dict[str, Any]) -> Any:
    """Create a Pod, retrying while the webhook has not yet listed a just-created
    policy (the denial then names no policy of this test)."""
    from kubernetes.client.exceptions import ApiException

    def attempt() -> Any:
        try:
            return create_pod(kube, namespace, body)
        except ApiException as exc:
            if exc.status == 400 and "no matching policies" in (exc.body or ""):
                return None
            raise

    return eventually(attempt, "the webhook to list the new policy")


def test_signed_pod_is_admitted_with_its_tag_rewritten_to_the_digest(kube: Cluster, registry: Registry,
                                                                    keypair: tuple[Path, Path], policy: Any) -> None:
    img = fresh(registry)
    repo, digest = img.split("@")
    sign(img, keypair)
    policy(cip(uniq("signed"), f"{repo}**", key_policy(keypair)))
    stored, headers = admitted_pod(kube, SHOP, pod(uniq("app"), f"{repo}:v1"))
    assert stored.spec.containers[0].image == img  # the mutating webhook's JSONPatch, applied by the apiserver
    assert "Warning" not in headers
    # and as the apiserver stored it
    again = kube.core.read_namespaced_pod(stored.metadata.name, SHOP)
    assert again.spec.containers[0].image == f"{repo}@{digest}"


def test_unsigned_pod_is_denied_with_policy_controllers_error(kube: Cluster, registry: Registry,
                                                              keypair: tuple[Path, Path], policy: Any) -> None:
    img = fresh(registry)
    repo = img.split("@")[0]
    name = uniq("signed")
    policy(cip(name, f"{repo}**", key_policy(keypair)))

    def denied() -> tuple[int, str] | None:
        code, message = denial(kube, SHOP, pod(uniq("app"), img))
        return None if "no matching policies" in message else (code, message)

    code, message = eventually(denied, "the webhook to list the new policy")
    assert code == 400
    assert message == (f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed '
                       f"policy: {name}: spec.containers[0].image\n{img} signature key validation failed for "
                       f"authority authority-0 for {img}: no signatures found")


def test_warn_mode_admits_with_a_warning_header(kube: Cluster, registry: Registry, keypair: tuple[Path, Path],
                                                policy: Any) -> None:
    img = fresh(registry)
    repo = img.split("@")[0]
    name = uniq("warned")
    policy(cip(name, f"{repo}**", key_policy(keypair), mode="warn"))
    stored, headers = admitted_pod(kube, SHOP, pod(uniq("app"), img))
    assert stored.spec.containers[0].image == img
    assert headers.get("Warning") == (
        f'299 - "failed policy: {name}: spec.containers[0].image {img} signature key validation failed for '
        f'authority authority-0 for {img}: no signatures found"')


def test_a_namespace_without_the_label_is_not_checked(kube: Cluster, registry: Registry) -> None:
    img = fresh(registry)  # unsigned, and no policy covers it
    stored, headers = create_pod(kube, DEV, pod(uniq("app"), img.split("@")[0] + ":v1"))
    assert stored.spec.containers[0].image == img.split("@")[0] + ":v1"  # not mutated either
    assert "Warning" not in headers
    # the same pod in the opted-in namespace is refused: nothing covers it
    code, message = denial(kube, SHOP, pod(uniq("app"), img))
    assert (code, message) == (400, f'admission webhook "policy.sigstore.dev" denied the request: validation '
                                     f"failed: no matching policies: spec.containers[0].image\n{img}")


def test_a_deployment_is_mutated_and_validated(kube: Cluster, registry: Registry, keypair: tuple[Path, Path],
                                               policy: Any) -> None:
    from kubernetes import client as k
    from kubernetes.client.exceptions import ApiException

    img, unsigned = fresh(registry), fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    name = uniq("signed")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    policy(cip(uniq("other"), unsigned.split("@")[0] + "**", key_policy(keypair)))
    apps = k.AppsV1Api(kube.client)

    def deployment(image: str) -> dict[str, Any]:
        labels = {"app": "web"}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": uniq("web")},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels},
                                      "spec": {"containers": [{"name": "web", "image": image}]}}}}

    def create() -> Any:
        try:
            return apps.create_namespaced_deployment(SHOP, deployment(f"{repo}:v1"))
        except ApiException as exc:
            if "no matching policies" in (exc.body or ""):
                return None
            raise

    stored = eventually(create, "the webhook to list the new policy")
    assert stored.spec.template.spec.containers[0].image == img
    with pytest.raises(ApiException) as denied:
        apps.create_namespaced_deployment(SHOP, deployment(unsigned))
    assert json.loads(denied.value.body)["message"].startswith(
        'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: ')
    assert "spec.template.spec.containers[0].image" in json.loads(denied.value.body)["message"]


def test_pull_secrets_are_read_from_the_api(kube: Cluster, tls_registry: Registry, keypair: tuple[Path, Path],
                                            policy: Any, tmp_path: Path) -> None:
    """A private registry (TLS, basic auth): the webhook resolves the tag and finds the
    signature with the pod's imagePullSecrets, then with its service account's."""
    from sigstack.oci.auth import Credentials
    from sigstack.oci.client import RegistryClient, RegistryOptions
    from sigstack.oci.reference import parse_reference
    from tests.oci.ocihelpers import push_image

    repo = f"{tls_registry.host}/private/{uuid.uuid4().hex[:10]}"
    opts = RegistryOptions(ca_file=str(tls_registry.ca),
                           credentials={tls_registry.host: Credentials(tls_registry.user, tls_registry.password)})
    with RegistryClient(opts) as rc:
        digest = push_image(rc, parse_reference(f"{repo}:v1"))
    img = f"{repo}@{digest}"
    auth = base64.b64encode(f"{tls_registry.user}:{tls_registry.password}".encode()).decode()
    dockercfg = json.dumps({"auths": {tls_registry.host: {"username": tls_registry.user,
                                                          "password": tls_registry.password, "auth": auth}}})
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(dockercfg)
    sign(img, keypair, "--registry-cacert", str(tls_registry.ca), env={"DOCKER_CONFIG": str(config)})
    name = uniq("private")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": uniq("regcred")},
              "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(dockercfg.encode()).decode()}}

    def outcome(body: dict[str, Any]) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return create_pod(kube, SHOP, body)[0]
        except ApiException as exc:
            message: str = json.loads(exc.body)["message"]
            return None if "no matching policies" in message else message

    # no credentials: the tag stays (mutation cannot resolve it), the digest is refused
    denied = eventually(lambda: outcome(pod(uniq("app"), img)), "the webhook to list the new policy")
    assert isinstance(denied, str) and f"failed policy: {name}: spec.containers[0].image" in denied
    assert "authentication required" in denied, denied
    kube.core.create_namespaced_secret(SHOP, secret)
    try:
        stored = outcome(pod(uniq("app"), f"{repo}:v1", imagePullSecrets=[{"name": secret["metadata"]["name"]}]))
        assert not isinstance(stored, str), stored
        assert stored.spec.containers[0].image == img
        sa = uniq("builder")
        kube.core.create_namespaced_service_account(SHOP, {"metadata": {"name": sa}, "imagePullSecrets": [
            {"name": secret["metadata"]["name"]}]})
        stored = outcome(pod(uniq("app"), f"{repo}:v1", serviceAccountName=sa))
        assert not isinstance(stored, str), stored
        assert stored.spec.containers[0].image == img
    finally:
        kube.core.delete_namespaced_secret(secret["metadata"]["name"], SHOP)


def test_policy_changes_in_the_cluster_are_picked_up(kube: Cluster, registry: Registry,
                                                     keypair: tuple[Path, Path], policy: Any) -> None:
    img = fresh(registry)
    repo = img.split("@")[0]
    name = uniq("changing")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    eventually(lambda: "signature key validation failed" in denial(kube, SHOP, pod(uniq("app"), img))[1],
               "the webhook to list the new policy")
    current = kube.custom.get_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies",
                                                       name)
    current["spec"]["authorities"] = [{"static": {"action": "pass"}}]
    kube.custom.replace_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name,
                                                 current)

    def admitted() -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return create_pod(kube, SHOP, pod(uniq("app"), img))[0]
        except ApiException:
            return None

    assert eventually(admitted, "the edited policy to be enforced").spec.containers[0].image == img
    # deleting it: nothing covers the image any more
    kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name)
    eventually(lambda: "no matching policies" in denial(kube, SHOP, pod(uniq("app"), img))[1],
               "the deleted policy to be dropped")


def test_secret_ref_keys_and_namespaced_image_policies(kube: Cluster, registry: Registry,
                                                        keypair: tuple[Path, Path]) -> None:
    """``key.secretRef`` read from cosign-system with the webhook's RBAC, and sigstack's
    namespaced ImagePolicy binding only its own namespace."""
    img = fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    key_secret = uniq("release-key")
    kube.core.create_namespaced_secret("cosign-system", {"metadata": {"name": key_secret},
                                                            "stringData": {"cosign.pub": keypair[1].read_text()}})
    name = uniq("tenant")
    body = {"apiVersion": "policy.sigstack.dev/v1alpha1", "kind": "ImagePolicy", "metadata": {"name": name},
            "spec": {"images": [{"glob": f"{repo}**"}],
                     "authorities": [{"key": {"secretRef": {"name": key_secret, "namespace": "cosign-system"}}}]}}
    kube.custom.create_namespaced_custom_object("policy.sigstack.dev", "v1alpha1", SHOP, "imagepolicies", body)
    try:
        stored = admitted_pod(kube, SHOP, pod(uniq("app"), f"{repo}:v1"))[0]
        assert stored.spec.containers[0].image == img
        unsigned = fresh(registry)
        body2 = copy.deepcopy(body)
        body2["metadata"]["name"] = name + "-b"
        body2["spec"]["images"] = [{"glob": unsigned.split("@")[0] + "**"}]
        kube.custom.create_namespaced_custom_object("policy.sigstack.dev", "v1alpha1", SHOP, "imagepolicies",
                                                       body2)

        def message() -> str | None:
            m = denial(kube, SHOP, pod(uniq("app"), unsigned))[1]
            return None if "no matching policies" in m else m

        assert eventually(message, "the second ImagePolicy") == (
            f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: '
            f"{SHOP}/{name}-b: spec.containers[0].image\n{unsigned} signature key validation failed for authority "
            f"authority-0 for {unsigned}: no signatures found")
    finally:
        for n in (name, name + "-b"):
            with contextlib.suppress(Exception):
                kube.custom.delete_namespaced_custom_object("policy.sigstack.dev", "v1alpha1", SHOP,
                                                               "imagepolicies", n)
        kube.core.delete_namespaced_secret(key_secret, "cosign-system")


def test_the_policy_stamp_changes_only_when_a_policy_object_does(kube: Cluster, registry: Registry,
                                                                 policy: Any) -> None:
    """The webhook recompiles its policies when the stamp of the CRD lists changes. A real
    list's ``metadata.resourceVersion`` is etcd's revision, which every write in the
    cluster moves (a Pod, a Secret); the stamp must move only with the policy objects."""
    from kubernetes import client as k
    from kubernetes import config

    from sigstack.admission.kube import KubeReader, list_policy_objects

    api = config.new_client_from_config(config_file=str(kube.api.webhook_kubeconfig))  # type: ignore[no-untyped-call, unused-ignore]
    reader = KubeReader(k.CoreV1Api(api), namespace_ttl=0.0)
    name = uniq("stamped")
    policy(cip(name, f"{registry.host}/stamped/**", [{"static": {"action": "pass"}}]))
    before, objs = list_policy_objects(reader)
    assert name in [o["metadata"]["name"] for o in objs]
    kube.core.create_namespaced_secret(DEV, {"metadata": {"name": uniq("unrelated")}, "stringData": {"a": "b"}})
    kube.core.create_namespaced_pod(DEV, pod(uniq("unrelated"), "example.com/app:v1"))
    assert list_policy_objects(reader)[0] == before
    current = kube.custom.get_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name)
    current["spec"]["mode"] = "warn"
    kube.custom.replace_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name,
                                              current)
    edited = list_policy_objects(reader)[0]
    assert edited != before
    kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name)
    assert list_policy_objects(reader)[0] not in (before, edited)
    api.close()


def _template(image: str, restart: str = "Always") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "w"}},
            "spec": {"restartPolicy": restart,
                     "initContainers": [{"name": "init", "image": image}],
                     "containers": [{"name": "w", "image": image}]}}


#: kind -> (API class, create method, body builder, the path to the pod spec)
WORKLOADS: dict[str, tuple[str, str, Any, tuple[str, ...]]] = {
    "ReplicaSet": ("AppsV1Api", "create_namespaced_replica_set", lambda i: {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}}, "template": _template(i)}},
        ("spec", "template", "spec")),
    "StatefulSet": ("AppsV1Api", "create_namespaced_stateful_set", lambda i: {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "spec": {"replicas": 1, "serviceName": "w", "selector": {"matchLabels": {"app": "w"}},
                 "template": _template(i)}}, ("spec", "template", "spec")),
    "DaemonSet": ("AppsV1Api", "create_namespaced_daemon_set", lambda i: {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "spec": {"selector": {"matchLabels": {"app": "w"}}, "template": _template(i)}}, ("spec", "template", "spec")),
    "Job": ("BatchV1Api", "create_namespaced_job", lambda i: {
        "apiVersion": "batch/v1", "kind": "Job", "spec": {"template": _template(i, "Never")}},
        ("spec", "template", "spec")),
    "CronJob": ("BatchV1Api", "create_namespaced_cron_job", lambda i: {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": _template(i, "OnFailure")}}}},
        ("spec", "jobTemplate", "spec", "template", "spec")),
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_each_workload_kind_is_mutated_and_validated(kind: str, kube: Cluster, registry: Registry,
                                                     keypair: tuple[Path, Path], policy: Any) -> None:
    """The kinds the webhook configurations name, as the apiserver sends them: init and
    regular containers rewritten to digests, an unsigned image refused under the
    kind's own pod-spec path."""
    from kubernetes import client as k
    from kubernetes.client.exceptions import ApiException

    api_class, method, build, path = WORKLOADS[kind]
    create = getattr(getattr(k, api_class)(kube.client), method)
    img, unsigned = fresh(registry), fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    name = uniq("signed")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    policy(cip(name + "-u", unsigned.split("@")[0] + "**", key_policy(keypair)))

    def attempt(image: str) -> Any:
        body = build(image)
        body["metadata"] = {"name": uniq(kind.lower())}
        try:
            return kube.client.sanitize_for_serialization(create(SHOP, body))
        except ApiException as exc:
            message: str = json.loads(exc.body)["message"]
            return None if "no matching policies" in message else message

    stored = eventually(lambda: attempt(f"{repo}:v1"), "the webhook to list the new policy")
    assert not isinstance(stored, str), stored
    spec = stored
    for p in path:
        spec = spec[p]
    assert [c["image"] for c in spec["initContainers"] + spec["containers"]] == [img, img]
    message = eventually(lambda: attempt(unsigned), "the second policy")
    where = ".".join(path)
    assert message == (
        f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: '
        f"{name}-u: {where}.containers[0].image, {where}.initContainers[0].image\n{unsigned} signature key "
        f"validation failed for authority authority-0 for {unsigned}: no signatures found")


def test_ephemeral_containers_through_the_subresource(kube: Cluster, registry: Registry,
                                                      keypair: tuple[Path, Path], policy: Any) -> None:
    """``kubectl debug`` adds an ephemeral container by updating ``pods/ephemeralcontainers``:
    the webhooks see that subresource; a signed debug image given by tag is rewritten,
    an unsigned one refused."""
    from kubernetes.client.exceptions import ApiException

    img, unsigned = fresh(registry), fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    name = uniq("signed")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    policy(cip(name + "-u", unsigned.split("@")[0] + "**", key_policy(keypair)))
    stored = admitted_pod(kube, SHOP, pod(uniq("app"), img))[0]
    pod_name = stored.metadata.name

    def debug(image: str) -> Any:
        body = {"spec": {"ephemeralContainers": [{"name": uniq("debugger"), "image": image,
                                                  "targetContainerName": "app"}]}}
        current = kube.core.read_namespaced_pod(pod_name, SHOP)
        existing = kube.client.sanitize_for_serialization(current.spec.ephemeral_containers or [])
        body["spec"]["ephemeralContainers"] = existing + body["spec"]["ephemeralContainers"]
        try:
            return kube.core.patch_namespaced_pod_ephemeralcontainers(pod_name, SHOP, body)
        except ApiException as exc:
            return json.loads(exc.body)["message"]

    updated = debug(f"{repo}:v1")
    assert not isinstance(updated, str), updated
    assert [c.image for c in updated.spec.ephemeral_containers] == [img]
    message = debug(unsigned)
    assert message == (
        f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: '
        f"{name}-u: spec.ephemeralContainers[1].image\n{unsigned} signature key validation failed for authority "
        f"authority-0 for {unsigned}: no signatures found")


def test_scaling_down_is_not_checked_scaling_up_is(kube: Cluster, registry: Registry,
                                                   keypair: tuple[Path, Path], policy: Any) -> None:
    """An UPDATE that only lowers a Deployment's replicas is let through even when the
    policy would now refuse the image (policy-controller's rule); raising them is checked."""
    from kubernetes import client as k
    from kubernetes.client.exceptions import ApiException

    img = fresh(registry)
    repo = img.split("@")[0]
    name = uniq("flip")
    policy(cip(name, f"{repo}**", [{"static": {"action": "pass"}}]))
    apps = k.AppsV1Api(kube.client)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": uniq("web")},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "w"}}, "template": _template(img)}}

    def create() -> Any:
        try:
            return apps.create_namespaced_deployment(SHOP, body)
        except ApiException as exc:
            return None if "no matching policies" in (exc.body or "") else exc

    created = eventually(create, "the webhook to list the new policy")
    assert not isinstance(created, ApiException), created.body
    current = kube.custom.get_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name)
    current["spec"]["authorities"] = [{"static": {"action": "fail", "message": "frozen"}}]
    kube.custom.replace_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", name,
                                              current)

    def scale(replicas: int) -> str:
        try:
            apps.patch_namespaced_deployment(body["metadata"]["name"], SHOP, {"spec": {"replicas": replicas}})
        except ApiException as exc:
            return str(json.loads(exc.body)["message"])
        return ""

    # wait until the edit is enforced: raising the count is refused
    message = eventually(lambda: scale(4), "the edited policy")
    assert "failed policy: " + name in message and "frozen" in message
    assert scale(1) == ""  # lowering is not checked
    assert apps.read_namespaced_deployment(body["metadata"]["name"], SHOP).spec.replicas == 1


def test_a_v1alpha1_policy_is_enforced(kube: Cluster, registry: Registry, keypair: tuple[Path, Path]) -> None:
    """A ClusterImagePolicy written as v1alpha1 (stored as v1beta1, listed as v1beta1)."""
    img = fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    name = uniq("alpha")
    doc = cip(name, f"{repo}**", key_policy(keypair))
    doc["apiVersion"] = "policy.sigstore.dev/v1alpha1"
    kube.custom.create_cluster_custom_object("policy.sigstore.dev", "v1alpha1", "clusterimagepolicies", doc)
    try:
        assert admitted_pod(kube, SHOP, pod(uniq("app"), f"{repo}:v1"))[0].spec.containers[0].image == img
    finally:
        kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1alpha1", "clusterimagepolicies", name)


class _Recorder(JsonHandler):
    """A webhook that records each AdmissionReview and allows it."""

    def do_POST(self) -> None:
        body = self.json_body()
        self.state.append(body)
        self.send_json(200, {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                             "response": {"uid": body["request"]["uid"], "allowed": True}})


#: the request fields the webhook reads (and kube-apiserver fills), compared with tests/admission/data
ENVELOPE = ("kind", "resource", "requestKind", "requestResource", "subResource", "requestSubResource", "name",
            "operation", "dryRun")


def test_the_recorded_reviews_are_the_apiservers(kube: Cluster, tmp_path: Path) -> None:
    """tests/admission/data holds AdmissionReviews written from the API types (the unit
    tests' input). Each is created here as the object it carries, in a namespace a
    recording webhook selects, and what kube-apiserver sends is compared with it: the
    envelope, the options' kind, the object's kind and containers at each field."""
    from kubernetes import client as k
    from kubernetes import utils

    tmp_path.joinpath("tls").mkdir()
    tls = make_tls(tmp_path / "tls")
    seen: list[dict[str, Any]] = []
    ns = uniq("rec")
    with serve(_Recorder, seen, tls) as url:
        hooks = k.AdmissionregistrationV1Api(kube.client)
        config = copy.deepcopy(next(d for d in manifest_docs(MANIFEST)
                                    if d["kind"] == "ValidatingWebhookConfiguration"))
        config["metadata"] = {"name": "recorder.sigstack.test"}
        for hook in config["webhooks"]:
            hook.update(name="recorder.sigstack.test", namespaceSelector={"matchLabels": {"sigstack.test/record": ns}},
                        clientConfig={"url": f"{url}/validations", "caBundle": base64.b64encode(tls.ca_pem).decode()})
        hooks.create_validating_webhook_configuration(config)
        kube.core.create_namespace({"metadata": {"name": ns, "labels": {"sigstack.test/record": ns}}})
        kube.core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})
        try:
            def probe() -> bool:  # the apiserver picks a new webhook configuration up asynchronously
                seen.clear()
                kube.core.create_namespaced_pod(ns, pod(uniq("probe"), "example.com/probe:v1"))
                return bool(seen)

            eventually(probe, "the recording webhook to be called")
            for kind in ("pod", "deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob",
                         "pod-ephemeral"):
                recorded = json.loads((DATA / f"{kind}.json").read_text())["request"]
                obj = recorded["object"]
                seen.clear()
                if kind == "pod-ephemeral":
                    patch = {"spec": {"ephemeralContainers": obj["spec"]["ephemeralContainers"]}}
                    kube.core.patch_namespaced_pod_ephemeralcontainers(obj["metadata"]["name"], ns, patch)
                else:
                    body = {key: v for key, v in obj.items() if key != "status"}
                    body["metadata"] = {"name": obj["metadata"]["name"], "labels": obj["metadata"].get("labels")}
                    utils.create_from_dict(kube.client, body, namespace=ns)
                real = seen[-1]["request"]
                assert {f: real.get(f) for f in ENVELOPE} == {f: recorded.get(f) for f in ENVELOPE}, kind
                assert real["namespace"] == ns and real["options"]["kind"] == recorded["options"]["kind"]
                assert (real["object"]["kind"], real["object"]["apiVersion"]) == (obj["kind"], obj["apiVersion"])
                assert (real["oldObject"] is None) == (recorded.get("oldObject") is None), kind
                for path in ((), ("spec", "template"), ("spec", "jobTemplate", "spec", "template")):
                    got, want = real["object"], obj
                    for p in path:
                        got, want = (got or {}).get(p), (want or {}).get(p)
                    if not want:
                        continue
                    for field in ("initContainers", "containers", "ephemeralContainers"):
                        names = [(c["name"], c["image"]) for c in want["spec"].get(field) or []]
                        assert [(c["name"], c["image"]) for c in got["spec"].get(field) or []] == names, (kind, field)
        finally:
            hooks.delete_validating_webhook_configuration("recorder.sigstack.test")
            kube.core.delete_namespace(ns)


def test_the_manifests_failure_policy_fails_closed(kube: Cluster, tmp_path: Path) -> None:
    """With the manifest's ``failurePolicy: Fail``, a webhook that cannot be reached
    refuses the pod (kube-apiserver's own error), rather than letting it through."""
    tmp_path.joinpath("tls").mkdir()
    tls = make_tls(tmp_path / "tls")
    from kubernetes import client as k

    hooks = k.AdmissionregistrationV1Api(kube.client)
    config = copy.deepcopy(next(d for d in manifest_docs(MANIFEST) if d["kind"] == "ValidatingWebhookConfiguration"))
    ns = uniq("closed")
    config["metadata"] = {"name": "unreachable.sigstack.test"}
    for hook in config["webhooks"]:
        assert hook["failurePolicy"] == "Fail"
        hook.update(name="unreachable.sigstack.test", namespaceSelector={"matchLabels": {"sigstack.test/closed": ns}},
                    clientConfig={"url": f"https://127.0.0.1:{free_port()}/validations",
                                  "caBundle": base64.b64encode(tls.ca_pem).decode()})
    hooks.create_validating_webhook_configuration(config)
    kube.core.create_namespace({"metadata": {"name": ns, "labels": {"sigstack.test/closed": ns}}})
    kube.core.create_namespaced_service_account(ns, {"metadata": {"name": "default"}})
    try:
        def refused() -> tuple[int, str] | None:
            code, message = denial(kube, ns, pod(uniq("app"), "example.com/app:v1"))
            return (code, message) if code else None

        code, message = eventually(refused, "the configuration to be in force")
        assert code == 500
        assert message.startswith('Internal error occurred: failed calling webhook "unreachable.sigstack.test": '), \
            message
    finally:
        hooks.delete_validating_webhook_configuration("unreachable.sigstack.test")


def helm_template(tmp: Path, *values: str) -> list[dict[str, Any]]:
    out = subprocess.run([str(HELM), "template", "sigstack-admission", str(CHART), "--namespace", "cosign-system",
                          *values], capture_output=True, text=True, env={**os.environ, "HOME": str(tmp)})
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.skipif(not os.access(HELM, os.X_OK), reason=f"{HELM} is not built (run scripts/build-kube-apiserver)")
@pytest.mark.parametrize("cert_manager", [False, True])
def test_the_helm_chart_renders_objects_the_apiserver_accepts(cert_manager: bool, kube: Cluster, tmp_path: Path,
                                                              keypair: tuple[Path, Path]) -> None:
    """``helm template`` of deploy/helm/sigstack-admission, each object server-side applied
    with ``dryRun=All`` and ``fieldValidation=Strict`` (the apiserver validates it fully,
    unknown fields included, and stores nothing); its webhook configurations are the
    manifest's (which the tests above register), and, without cert-manager, the CA it
    puts in them verifies the serving certificate it generates for the Service's name."""
    from kubernetes.dynamic import DynamicClient

    policy_text = yaml.safe_dump(cip("signed", "registry.example.com/**", key_policy(keypair)))
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"certManager": {"enabled": cert_manager},
                                      "policies": {"signed.yaml": policy_text}}))
    rendered = helm_template(tmp_path, "-f", str(values))
    kinds = sorted(d["kind"] for d in rendered)
    expected = ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "MutatingWebhookConfiguration",
                "Service", "ServiceAccount", "ValidatingWebhookConfiguration"]
    assert kinds == sorted(expected + (["Certificate", "Issuer"] if cert_manager else ["Secret"]))
    dynamic = DynamicClient(kube.client)
    ctx = ssl.create_default_context(cafile=str(kube.api.tls.ca_file))
    for doc in rendered:
        if doc["kind"] in ("Certificate", "Issuer"):
            continue  # cert-manager's kinds: no cert-manager CRDs here
        resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        body = copy.deepcopy(doc)
        if resource.namespaced:
            path = resource.path(namespace=doc["metadata"].get("namespace", "cosign-system"))
        else:  # the manifest's objects of these names are installed: create under another name
            path = resource.path()
            body["metadata"]["name"] = "chart-" + body["metadata"]["name"]
        r = httpx.post(f"{kube.api.url}{path}", params={"dryRun": "All", "fieldValidation": "Strict"},
                       content=json.dumps(body), verify=ctx,
                       headers={"Authorization": f"Bearer {kube.api.admin_token}", "Content-Type": "application/json"})
        assert r.status_code == 201, (doc["kind"], r.text)
        assert "Warning" not in r.headers, (doc["kind"], r.headers["Warning"])
    manifest = {d["kind"]: d for d in manifest_docs(MANIFEST)}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (chart_config,) = [d for d in rendered if d["kind"] == kind]
        chart_hooks, manifest_hooks = copy.deepcopy(chart_config["webhooks"]), copy.deepcopy(manifest[kind]["webhooks"])
        bundles = [h["clientConfig"].pop("caBundle", None) for h in chart_hooks]
        for h in manifest_hooks:
            h["clientConfig"].pop("caBundle")
        assert chart_hooks == manifest_hooks, kind
        if cert_manager:
            assert bundles == [None]
            assert chart_config["metadata"]["annotations"] == {
                "cert-manager.io/inject-ca-from": "cosign-system/sigstack-admission"}
            continue
        (secret,) = [d for d in rendered if d["kind"] == "Secret"]
        assert bundles[0] is not None
        check_serving_cert(tmp_path, base64.b64decode(bundles[0]), base64.b64decode(secret["data"]["tls.crt"]),
                           base64.b64decode(secret["data"]["tls.key"]))
    (dep,) = [d for d in rendered if d["kind"] == "Deployment"]
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["admission", "serve"] and "--cluster-policies=true" in args


def check_serving_cert(tmp: Path, ca: bytes, cert: bytes, key: bytes) -> None:
    """Serve ``cert`` (as ``sigstack admission serve`` would: it loads the Secret's files)
    and connect as kube-apiserver does: trusting only ``ca``, for the Service's DNS name."""
    d = tmp / "chart-tls"
    d.mkdir(exist_ok=True)
    (d / "tls.crt").write_bytes(cert)
    (d / "tls.key").write_bytes(key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(d / "tls.crt", d / "tls.key")
    client_ctx = ssl.create_default_context(cadata=ca.decode())
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def accept() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.recv(1)

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="sigstack-admission.cosign-system.svc") as conn:
            assert conn.getpeercert() is not None
            conn.sendall(b"x")
        t.join(10)


def test_server_dry_runs_and_image_updates_are_checked(kube: Cluster, registry: Registry,
                                                       keypair: tuple[Path, Path], policy: Any) -> None:
    """``kubectl apply --dry-run=server`` reaches the webhooks (``sideEffects: None``) and
    is refused as a real create; changing a running Pod's image (an UPDATE) is checked."""
    from kubernetes.client.exceptions import ApiException

    img, unsigned = fresh(registry), fresh(registry)
    repo = img.split("@")[0]
    sign(img, keypair)
    name = uniq("signed")
    policy(cip(name, f"{repo}**", key_policy(keypair)))
    policy(cip(name + "-u", unsigned.split("@")[0] + "**", key_policy(keypair)))
    expected = (f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: '
                f"{name}-u: spec.containers[0].image\n{unsigned} signature key validation failed for authority "
                f"authority-0 for {unsigned}: no signatures found")

    def dry_run() -> str | None:
        try:
            kube.core.create_namespaced_pod(SHOP, pod(uniq("app"), unsigned), dry_run="All")
        except ApiException as exc:
            message: str = json.loads(exc.body)["message"]
            return None if "no matching policies" in message else message
        return "admitted"

    assert eventually(dry_run, "the webhook to list the new policies") == expected
    dry = kube.core.create_namespaced_pod(SHOP, pod(uniq("app"), f"{repo}:v1"), dry_run="All")
    assert dry.spec.containers[0].image == img  # mutated in the dry run too
    stored = admitted_pod(kube, SHOP, pod(uniq("app"), img))[0]
    with pytest.raises(ApiException) as refused:
        kube.core.patch_namespaced_pod(stored.metadata.name, SHOP,
                                       {"spec": {"containers": [{"name": "app", "image": unsigned}]}})
    assert json.loads(refused.value.body)["message"] == expected
    again = kube.core.patch_namespaced_pod(stored.metadata.name, SHOP,
                                           {"spec": {"containers": [{"name": "app", "image": f"{repo}:v1"}]}})
    assert again.spec.containers[0].image == img


def test_api_refusals_read_as_the_apiserver_words_them(kube: Cluster, tmp_path: Path) -> None:
    """The webhook's reads as a user RBAC grants nothing, and with a token the apiserver
    does not know: one line each, with the apiserver's own Status message (what the
    webhook then denies with, failing closed)."""
    from kubernetes import client as k
    from kubernetes import config

    from sigstack.admission.kube import KubeReader, list_policy_objects
    from sigstack.errors import CredentialError
    from tests.admission.kubeapi import NOBODY_TOKEN
    from tests.keys_backends._k8s_double import write_kubeconfig

    def reader(token: str) -> KubeReader:
        path = write_kubeconfig(tmp_path / f"{token[:6]}.kubeconfig", kube.api.url, kube.api.tls.ca_pem, token,
                                "someone", "default")
        api = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call, unused-ignore]
        return KubeReader(k.CoreV1Api(api), namespace_ttl=0.0)

    nobody = reader(NOBODY_TOKEN)
    with pytest.raises(CredentialError) as secret:
        nobody.secret(SHOP, "regcred")
    assert secret.value.message == (
        'kubernetes: reading secret shop/regcred: secrets "regcred" is forbidden: User "nobody" cannot get resource '
        '"secrets" in API group "" in the namespace "shop"')
    with pytest.raises(CredentialError) as listing:
        list_policy_objects(nobody)
    assert listing.value.message == (
        "kubernetes: listing clusterimagepolicies.policy.sigstore.dev: clusterimagepolicies.policy.sigstore.dev is "
        'forbidden: User "nobody" cannot list resource "clusterimagepolicies" in API group "policy.sigstore.dev" at '
        "the cluster scope")
    with pytest.raises(CredentialError) as unknown:
        reader("not-a-token").namespace_labels(SHOP)
    assert unknown.value.message == "kubernetes: reading namespace shop: Unauthorized"
    # the webhook's own service account reads what it needs, and nothing is missing
    webhook = KubeReader(k.CoreV1Api(config.new_client_from_config(  # type: ignore[no-untyped-call, unused-ignore]
        config_file=str(kube.api.webhook_kubeconfig))), namespace_ttl=0.0)
    assert webhook.secret(SHOP, "does-not-exist") is None
    assert webhook.namespace_labels(SHOP)["policy.sigstore.dev/include"] == "true"
    assert webhook.service_account_pull_secrets(SHOP, "default") == []


@pytest.mark.interop
def test_keyless_with_a_trustroot_from_the_cluster(kube: Cluster, keyless: Keyless) -> None:
    """A keyless authority whose TrustRoot (``sigstoreKeys``: our CA, its CT log and our
    log) is a TrustRoot object in the cluster: an image the real cosign signed keylessly
    is admitted; with another identity it is refused with cosign's words."""
    trustroot = yaml.safe_load(keyless.trustroot_crd.read_text())
    root_name = uniq("ours")
    trustroot["metadata"]["name"] = root_name
    kube.custom.create_cluster_custom_object("policy.sigstore.dev", "v1alpha1", "trustroots", trustroot)
    repo = keyless.image.split("@")[0]
    made = []

    def keyless_cip(subject: str) -> dict[str, Any]:
        name = uniq("keyless")
        made.append(name)
        return cip(name, f"{repo}**", [{"keyless": {"url": keyless.stack.ca.url, "trustRootRef": root_name,
                                                    "identities": [{"issuer": keyless.stack.issuer,
                                                                    "subject": subject}]},
                                        "ctlog": {"url": keyless.tlog.url, "trustRootRef": root_name}}])

    try:
        doc = keyless_cip("img@example.com")
        kube.custom.create_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", doc)
        stored = admitted_pod(kube, SHOP, pod(uniq("app"), keyless.image))[0]
        assert stored.spec.containers[0].image == keyless.image
        other = keyless_cip("someone@example.com")
        other["spec"]["images"] = doc["spec"]["images"]
        kube.custom.create_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies", other)

        def refused() -> str | None:
            message = denial(kube, SHOP, pod(uniq("app"), keyless.image))[1]
            return message or None

        message = eventually(refused, "the second policy")
        assert message == (
            f'admission webhook "policy.sigstore.dev" denied the request: validation failed: failed policy: '
            f"{other['metadata']['name']}: spec.containers[0].image\n{keyless.image} signature keyless validation "
            f"failed for authority authority-0 for {keyless.image}: no matching signatures: none of the expected "
            f"identities matched what was in the certificate, got subjects [img@example.com] with issuer "
            f"{keyless.stack.issuer}")  # no trailing ": ": that is policy-tester's rendering of a pathless error
    finally:
        for name in made:
            with contextlib.suppress(Exception):
                kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1beta1", "clusterimagepolicies",
                                                         name)
        kube.custom.delete_cluster_custom_object("policy.sigstore.dev", "v1alpha1", "trustroots", root_name)
