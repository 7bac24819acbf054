"""The webhook's decisions (``sigstack.admission.webhook``) on AdmissionReview requests
shaped as kube-apiserver sends them (tests/admission/data), against a real registry
holding images signed by sigstack, with pull secrets, service accounts and namespace
labels read from the Kubernetes API double (no kube-apiserver can run here)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigstack.admission.webhook import Admission, AdmissionSettings, BadReview, PolicyFiles
from sigstack.oci.client import RegistryOptions
from sigstack.policy.engine import Settings
from tests.admission.conftest import KINDS, PW, Cluster, review
from tests.helpers import sigstack
from tests.oci.ocihelpers import Registry, fresh

SPEC = {"pod": "spec", "cronjob": "spec.jobTemplate.spec.template.spec"}


@dataclass(frozen=True)
class Images:
    signed: tuple[str, str, str]
    unsigned: str
    tagged: str  # repo:v1 of a signed image


@pytest.fixture(scope="module")
def images(registry: Registry, keypair: tuple[Path, Path]) -> Images:
    signed = tuple(fresh(registry) for _ in range(3))
    for img in signed:
        r = sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", img, env=PW)
        assert r.code == 0, r.err
    return Images(signed, fresh(registry), signed[0].partition("@")[0] + ":v1")  # type: ignore[arg-type]


def policy(keypair: tuple[Path, Path], registry: Registry, name: str = "signed-by-us", **spec: Any) -> str:
    doc = {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": name},
           "spec": {"images": [{"glob": f"{registry.host}/**"}],
                    "authorities": [{"key": {"data": keypair[1].read_text()}}], **spec}}
    return yaml.safe_dump(doc)


def admission(tmp_path: Path, text: str, cluster: Cluster | None = None, **settings: Any) -> Admission:
    f = tmp_path / "policies.yaml"
    f.write_text(text)
    opts = AdmissionSettings(registry=RegistryOptions(timeout=2.0, attempts=1), **settings)
    kube = cluster.reader() if cluster is not None else None
    return Admission(PolicyFiles([str(f)], opts, interval=0.0), opts, kube=kube)


def pod_images(images: Images, sidecar: str | None = None) -> dict[str, str]:
    return {"INIT_IMAGE": images.signed[0], "APP_IMAGE": images.signed[1], "SIDECAR_IMAGE": sidecar or images.signed[2]}


def response(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    resp: dict[str, Any] = answer["response"]
    return resp


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_with_signed_images_is_admitted(kind: str, images: Images, keypair: tuple[Path, Path],
                                                  registry: Registry, cluster: Cluster, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster)
    req = review(kind, pod_images(images))
    resp = response(adm.review(req, mutating=False))
    assert resp == {"uid": req["request"]["uid"], "allowed": True}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_denies_an_unsigned_container_in_policy_controller_words(
        kind: str, images: Images, keypair: tuple[Path, Path], registry: Registry, cluster: Cluster,
        tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster)
    resp = response(adm.review(review(kind, pod_images(images, images.unsigned)), mutating=False))
    spec = SPEC.get(kind, "spec.template.spec")
    assert resp["allowed"] is False
    assert resp["status"] == {"metadata": {}, "status": "Failure", "reason": "BadRequest", "code": 400,
                              "message": (
        f"validation failed: failed policy: signed-by-us: {spec}.containers[1].image\n"
        f"{images.unsigned} signature key validation failed for authority authority-0 for {images.unsigned}: "
        "no signatures found")}


def test_init_and_ephemeral_containers_are_checked(images: Images, keypair: tuple[Path, Path], registry: Registry,
                                                    cluster: Cluster, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster)
    init = response(adm.review(review("pod", {**pod_images(images), "INIT_IMAGE": images.unsigned}), mutating=False))
    assert init["allowed"] is False
    assert "spec.initContainers[0].image" in init["status"]["message"]
    eph = response(adm.review(review("pod-ephemeral", {**pod_images(images), "EPHEMERAL_IMAGE": images.unsigned}),
                              mutating=False))
    assert eph["allowed"] is False
    assert eph["status"]["message"].startswith("validation failed: failed policy: signed-by-us: "
                                               "spec.ephemeralContainers[0].image\n")


def test_a_tag_is_refused_by_validation_and_resolved_by_mutation(images: Images, keypair: tuple[Path, Path],
                                                                  registry: Registry, cluster: Cluster,
                                                                  tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster)
    req = review("deployment", {**pod_images(images), "APP_IMAGE": images.tagged})
    denied = response(adm.review(req, mutating=False))
    assert denied["status"]["message"] == (
        f"validation failed: invalid value: {images.tagged} must be an image digest: "
        "spec.template.spec.containers[0].image")
    mutated = response(adm.review(req, mutating=True))
    assert mutated["allowed"] is True and mutated["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(mutated["patch"]))
    assert patch == [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": images.signed[0]}]
    # the patched object passes validation
    req["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = patch[0]["value"]
    assert response(adm.review(req, mutating=False))["allowed"] is True


def test_mutation_leaves_digests_and_unresolvable_tags_alone(images: Images, keypair: tuple[Path, Path],
                                                              registry: Registry, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry))
    gone = f"{registry.host}/test/no-such-repo:v9"
    resp = response(adm.review(review("pod", {**pod_images(images), "SIDECAR_IMAGE": gone}), mutating=True))
    assert resp == {"uid": resp["uid"], "allowed": True}


def test_warn_mode_admits_with_warnings(images: Images, keypair: tuple[Path, Path], registry: Registry,
                                        cluster: Cluster, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry, mode="warn"), cluster)
    resp = response(adm.review(review("pod", pod_images(images, images.unsigned)), mutating=False))
    assert resp["allowed"] is True
    assert resp["warnings"] == [  # one line: kube-apiserver drops a warning holding a newline
        f"failed policy: signed-by-us: spec.containers[1].image {images.unsigned} signature key validation failed "
        f"for authority authority-0 for {images.unsigned}: no signatures found"]


@pytest.mark.parametrize("no_match,allowed", [("deny", False), ("warn", True), ("allow", True)])
def test_no_matching_policy(no_match: str, allowed: bool, images: Images, keypair: tuple[Path, Path],
                            cluster: Cluster, tmp_path: Path) -> None:
    text = yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "ghcr"},
        "spec": {"images": [{"glob": "ghcr.io/**"}], "authorities": [{"static": {"action": "pass"}}]}})
    adm = admission(tmp_path, text, cluster, policy=Settings(no_match_policy=no_match))
    resp = response(adm.review(review("pod", pod_images(images)), mutating=False))
    assert resp["allowed"] is allowed
    first = f"no matching policies: spec.containers[0].image {images.signed[1]}"
    if no_match == "deny":
        init, app, sidecar = images.signed
        assert resp["status"]["message"] == (
            f"validation failed: no matching policies: spec.initContainers[0].image\n{init}\n"
            f"no matching policies: spec.containers[0].image\n{app}\n"
            f"no matching policies: spec.containers[1].image\n{sidecar}")
    elif no_match == "warn":
        assert first in resp["warnings"]
    else:
        assert "warnings" not in resp


def test_namespaces_without_the_opt_in_label_are_not_enforced(images: Images, keypair: tuple[Path, Path],
                                                               registry: Registry, cluster: Cluster,
                                                               tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster)
    req = review("pod", pod_images(images, images.unsigned), namespace="dev")
    assert response(adm.review(req, mutating=False))["allowed"] is True
    cluster.state.namespaces["dev"] = {"policy.sigstore.dev/include": "true"}
    assert response(adm.review(req, mutating=False))["allowed"] is False


@pytest.mark.parametrize("change", ["delete", "status", "deleting", "scale-down"])
def test_what_policy_controller_skips_is_allowed(change: str, images: Images, keypair: tuple[Path, Path],
                                                 registry: Registry, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry))
    req = review("deployment", pod_images(images, images.unsigned))
    r = req["request"]
    if change == "delete":
        r["operation"] = "DELETE"
    elif change == "status":
        r["subResource"] = "status"
    elif change == "deleting":
        r["object"]["metadata"]["deletionTimestamp"] = "2026-12-01T09:00:00Z"
    else:
        r["operation"] = "UPDATE"
        r["oldObject"] = json.loads(json.dumps(r["object"]))
        r["oldObject"]["spec"]["replicas"] = 5
    assert response(adm.review(req, mutating=False))["allowed"] is True


def test_unhandled_kind_and_bad_reviews(keypair: tuple[Path, Path], registry: Registry, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry))
    req = review("pod")
    req["request"]["kind"] = {"group": "", "version": "v1", "kind": "Service"}
    resp = response(adm.review(req, mutating=False))
    assert resp["allowed"] is False and resp["status"]["message"] == "unhandled kind: /v1, Kind=Service"
    for body, message in (([], "the request body is not a JSON object"),
                          ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
                           "expected an admission.k8s.io/v1 AdmissionReview, got apiVersion "
                           "'admission.k8s.io/v1beta1' kind 'AdmissionReview'"),
                          ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}},
                           "the AdmissionReview has no request with a uid")):
        with pytest.raises(BadReview) as info:
            adm.review(body, mutating=False)
        assert info.value.message == message


def test_decisions_are_cached_until_the_policy_changes(images: Images, keypair: tuple[Path, Path],
                                                       registry: Registry, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry))
    req = review("pod", pod_images(images))
    assert response(adm.review(req, mutating=False))["allowed"] is True
    assert len(adm.cache) == 3
    # cached: the same request again adds nothing
    assert response(adm.review(review("pod", pod_images(images)), mutating=False))["allowed"] is True
    assert len(adm.cache) == 3
    # an edit (here: static fail) gives the policy a new resourceVersion: re-evaluated, no stale answer
    (tmp_path / "policies.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed-by-us"},
        "spec": {"images": [{"glob": f"{registry.host}/**"}],
                 "authorities": [{"static": {"action": "fail", "message": "change freeze"}}]}}))
    resp = response(adm.review(req, mutating=False))
    assert resp["allowed"] is False
    assert "disallowed by static policy: change freeze" in resp["status"]["message"]
    assert adm.policies.reloads == 2


def test_a_broken_policy_edit_keeps_the_last_good_policies(images: Images, keypair: tuple[Path, Path],
                                                           registry: Registry, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry))
    (tmp_path / "policies.yaml").write_text("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n"
                                            "metadata: {name: p}\nspec: {images: []}\n")
    assert response(adm.review(review("pod", pod_images(images)), mutating=False))["allowed"] is True
    assert adm.policies.last_error is not None and "missing field(s): spec.authorities, spec.images" in \
        adm.policies.last_error


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """A TCP listener that accepts and never answers: a registry that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                return

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    sock.close()
    for c in conns:
        c.close()


def test_registry_timeouts_fail_closed_and_are_not_cached(silent_registry: str, keypair: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    key = {"key": {"data": keypair[1].read_text()}}
    text = yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                           "metadata": {"name": "p"},
                           "spec": {"images": [{"glob": f"{silent_registry}/**"}], "authorities": [key]}})
    adm = admission(tmp_path, text)
    img = f"{silent_registry}/app@sha256:{'a' * 64}"
    resp = response(adm.review(review("pod", {"INIT_IMAGE": img, "APP_IMAGE": img, "SIDECAR_IMAGE": img}),
                               mutating=False))
    assert resp["allowed"] is False
    msg = resp["status"]["message"]
    assert msg.startswith("validation failed: failed policy: p: spec.containers[0].image, spec.containers[1].image, "
                          "spec.initContainers[0].image\n")
    assert "authority-0: registry unavailable: cannot reach registry" in msg and "timed out" in msg
    assert len(adm.cache) == 0


def test_pull_secrets_from_the_pod_and_its_service_account(tls_registry: Registry, keypair: tuple[Path, Path],
                                                           cluster: Cluster, tmp_path: Path) -> None:
    """A private TLS registry with basic auth: the webhook reads the credentials from the
    pod's imagePullSecrets (then from its service account's) through the API."""
    from sigstack.oci.auth import Credentials
    from sigstack.oci.client import RegistryClient
    from sigstack.oci.reference import parse_reference
    from tests.oci.ocihelpers import push_image

    opts = RegistryOptions(ca_file=str(tls_registry.ca),
                           credentials={tls_registry.host: Credentials(tls_registry.user, tls_registry.password)})
    ref = parse_reference(f"{tls_registry.host}/private/app:v1")
    with RegistryClient(opts) as client:
        digest = push_image(client, ref)
    img = f"{tls_registry.host}/private/app@{digest}"
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{tls_registry.user}:{tls_registry.password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {tls_registry.host: {"auth": auth}}}))
    signed = sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", "--registry-cacert",
                      str(tls_registry.ca), img, env={**PW, "DOCKER_CONFIG": str(config)})
    assert signed.code == 0, signed.err
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                                 "metadata": {"name": "private"},
                                 "spec": {"images": [{"glob": f"{tls_registry.host}/**"}],
                                          "authorities": [{"key": {"data": keypair[1].read_text()}}]}}))
    settings = AdmissionSettings(registry=RegistryOptions(ca_file=str(tls_registry.ca), timeout=5.0, attempts=1,
                                                          docker_config=str(tmp_path / "empty-docker")))
    adm = Admission(PolicyFiles([str(f)], settings), settings, kube=cluster.reader())
    one = {"INIT_IMAGE": img, "APP_IMAGE": img, "SIDECAR_IMAGE": img}
    denied = response(adm.review(review("pod", one), mutating=False))
    assert denied["allowed"] is False and "authentication required by" in denied["status"]["message"]
    cluster.add_pull_secret("shop", "regcred", tls_registry.host, tls_registry.user, tls_registry.password)
    assert response(adm.review(review("pod", one), mutating=False))["allowed"] is True
    # the service account's pull secret serves a pod that names none
    del cluster.state.secrets[("shop", "regcred")]
    cluster.add_pull_secret("shop", "sa-cred", tls_registry.host, tls_registry.user, tls_registry.password)
    cluster.state.service_accounts[("shop", "builder")] = ["sa-cred"]
    req = review("pod", one)
    spec = req["request"]["object"]["spec"]
    spec["serviceAccountName"] = "builder"
    spec["imagePullSecrets"] = []
    assert response(adm.review(req, mutating=False))["allowed"] is True
    paths = [p for m, p, _ in cluster.state.requests if m == "GET"]
    assert "/api/v1/namespaces/shop/serviceaccounts/builder" in paths
    assert "/api/v1/namespaces/shop/secrets/sa-cred" in paths


def test_kubernetes_api_failures_deny(images: Images, keypair: tuple[Path, Path], registry: Registry,
                                      cluster: Cluster, tmp_path: Path) -> None:
    adm = admission(tmp_path, policy(keypair, registry), cluster, check_namespace_label=False)
    cluster.state.forbidden.add("shop")
    resp = response(adm.review(review("pod", pod_images(images)), mutating=False))
    assert resp["allowed"] is False
    assert resp["status"]["message"] == (
        'validation failed: kubernetes: reading secret shop/regcred: secrets "regcred" is forbidden: User '
        '"system:serviceaccount:default:signer" cannot get resource "secrets" in API group "" in the namespace '
        '"shop": spec')


def test_policies_from_the_cluster_crds_are_enforced_and_followed(images: Images, registry: Registry,
                                                                  cluster: Cluster) -> None:
    """ClusterImagePolicy and sigstack ImagePolicy objects listed from the API: a change
    (new resourceVersion) is picked up at the next poll; an ImagePolicy binds its namespace only."""
    def static(name: str, action: str, kind: str = "ClusterImagePolicy", **meta: str) -> dict[str, object]:
        api = "policy.sigstore.dev/v1beta1" if kind == "ClusterImagePolicy" else "policy.sigstack.dev/v1alpha1"
        return {"apiVersion": api, "kind": kind,
                "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", **meta},
                "spec": {"images": [{"glob": f"{registry.host}/**"}],
                         "authorities": [{"static": {"action": action, "message": f"{name} says no"}}]}}

    cips = ("policy.sigstore.dev", "v1beta1", "clusterimagepolicies")
    ips = ("policy.sigstack.dev", "v1alpha1", "imagepolicies")
    cluster.state.custom[cips] = [static("cluster-wide", "pass")]
    cluster.state.custom[ips] = [static("shop-only", "fail", "ImagePolicy", namespace="shop")]
    settings = AdmissionSettings(registry=RegistryOptions(timeout=2.0, attempts=1))
    reader = cluster.reader()
    adm = Admission(PolicyFiles([], settings, cluster=reader, interval=0.0, cluster_interval=0.0), settings,
                    kube=reader)
    shop = response(adm.review(review("pod", pod_images(images)), mutating=False))
    assert shop["allowed"] is False
    assert shop["status"]["message"].startswith("validation failed: failed policy: shop/shop-only: ")
    cluster.state.namespaces["other"] = {"policy.sigstore.dev/include": "true"}
    assert response(adm.review(review("pod", pod_images(images), namespace="other"), mutating=False))["allowed"]
    cluster.state.custom[ips] = []
    cluster.state.custom_version += 1
    assert response(adm.review(review("pod", pod_images(images)), mutating=False))["allowed"] is True


def test_signature_pull_secrets_reach_signatures_in_a_private_repository(
        images: Images, registry: Registry, tls_registry: Registry, keypair: tuple[Path, Path], cluster: Cluster,
        tmp_path: Path) -> None:
    """``source.oci`` names a private repository holding the signatures; its
    ``signaturePullSecrets`` (read from the pod's namespace) are the only way in
    (policy-controller#375, #1625)."""
    img = fresh(registry)
    sigs = f"{tls_registry.host}/signatures/app"
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{tls_registry.user}:{tls_registry.password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {tls_registry.host: {"auth": auth}}}))
    signed = sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", "--registry-cacert",
                      str(tls_registry.ca), img,
                      env={**PW, "DOCKER_CONFIG": str(config), "COSIGN_REPOSITORY": sigs})
    assert signed.code == 0, signed.err
    f = tmp_path / "p.yaml"
    authority = {"key": {"data": keypair[1].read_text()},
                 "source": [{"oci": sigs, "signaturePullSecrets": [{"name": "sigcred"}]}]}
    f.write_text(yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                                 "metadata": {"name": "mirrored-sigs"},
                                 "spec": {"images": [{"glob": f"{registry.host}/**"}], "authorities": [authority]}}))
    settings = AdmissionSettings(registry=RegistryOptions(ca_file=str(tls_registry.ca), timeout=5.0, attempts=1,
                                                          docker_config=str(tmp_path / "empty-docker")))
    adm = Admission(PolicyFiles([str(f)], settings), settings, kube=cluster.reader())
    one = {"INIT_IMAGE": img, "APP_IMAGE": img, "SIDECAR_IMAGE": img}
    missing = response(adm.review(review("pod", one), mutating=False))
    assert missing["allowed"] is False
    assert 'secrets "sigcred" not found' in missing["status"]["message"]  # and, not a verdict, not cached
    cluster.add_pull_secret("shop", "sigcred", tls_registry.host, tls_registry.user, tls_registry.password)
    assert response(adm.review(review("pod", one), mutating=False))["allowed"] is True
