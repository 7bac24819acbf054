"""``configMapRef`` and ``remote`` policies in the webhook, read as policy-controller's
reconciler inlines them: ConfigMaps through the Kubernetes API double
(tests/admission/_kube.py; no kube-apiserver can run here), remote documents from an
HTTPS server on 127.0.0.1 (a throw-away CA, trusted through ``SSL_CERT_FILE``), with
their SHA-256 checked. A policy whose text cannot be read fails closed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sigstack.admission.webhook import Admission, AdmissionSettings, PolicyFiles
from sigstack.oci.client import RegistryOptions
from tests.admission.conftest import PW, Cluster, review
from tests.helpers import sigstack
from tests.keys_backends._http import JsonHandler, Tls, serve
from tests.oci.ocihelpers import Registry, fresh

IMAGE = "registry.example/app@sha256:" + "ab" * 32
ONE_AUTHORITY = """package sigstore
default isCompliant = false
isCompliant {
  count(input.authorityMatches) == 1
}
"""
TWO_AUTHORITIES = ONE_AUTHORITY.replace("== 1", "== 2")
NOT_COMPLIANT = ("failed evaluating rego policy for type ClusterImagePolicy: policy is not compliant for query "
                 "'isCompliant = data.sigstore.isCompliant'")


def cip(policy: dict[str, Any], images: str = "registry.example/**", authority: Any = None) -> str:
    return yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
                           "metadata": {"name": "texts"},
                           "spec": {"images": [{"glob": images}],
                                    "authorities": [authority or {"static": {"action": "pass"}}],
                                    **({"policy": policy} if policy else {})}})


def webhook(tmp_path: Path, text: str, cluster: Cluster | None) -> Admission:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    settings = AdmissionSettings(registry=RegistryOptions(timeout=2.0, attempts=1))
    reader = cluster.reader() if cluster is not None else None
    return Admission(PolicyFiles([str(f)], settings, interval=0.0, cluster_interval=0.0, config_maps=reader),
                     settings, kube=reader)


def decide(adm: Admission, image: str = IMAGE) -> tuple[bool, str]:
    one = {"INIT_IMAGE": image, "APP_IMAGE": image, "SIDECAR_IMAGE": image}
    resp = adm.review(review("pod", one), mutating=False)["response"]
    return resp["allowed"], resp.get("status", {}).get("message", "")


def denial(detail: str, image: str = IMAGE) -> str:
    """The message for a pod whose three containers each fail policy ``texts`` with ``detail``."""
    return ("validation failed: failed policy: texts: spec.containers[0].image, spec.containers[1].image, "
            f"spec.initContainers[0].image\n{image} {detail}")


def test_a_cip_level_policy_from_a_config_map_is_read_and_followed(cluster: Cluster, tmp_path: Path) -> None:
    """The ConfigMap (in the controller's namespace when the reference names none) is
    read at load; a new resourceVersion reloads, so an edit is enforced at once, never
    answered from the decision cache."""
    cluster.state.config_maps[("cosign-system", "cip-policy")] = ({"policy": ONE_AUTHORITY}, "1")
    adm = webhook(tmp_path, cip({"type": "rego", "configMapRef": {"name": "cip-policy", "key": "policy"}}), cluster)
    assert decide(adm) == (True, "")
    cluster.state.config_maps[("cosign-system", "cip-policy")] = ({"policy": TWO_AUTHORITIES}, "2")
    allowed, message = decide(adm)
    assert not allowed
    assert message == denial(NOT_COMPLIANT)
    assert adm.policies.reloads == 2
    reads = [p for m, p, _ in cluster.state.requests if m == "GET" and "/configmaps/" in p]
    assert reads and all(p.startswith("/api/v1/namespaces/cosign-system/configmaps/cip-policy") for p in reads)


@pytest.mark.parametrize("data,why", [
    (None, 'configmap "cip-policy" not found'),
    ({}, 'configmap "cip-policy" contains no data'),
    ({"other": ONE_AUTHORITY}, 'configmap "cip-policy" does not contain key policy'),
])
def test_a_config_map_that_cannot_be_used_fails_closed(data: dict[str, str] | None, why: str, cluster: Cluster,
                                                       tmp_path: Path) -> None:
    """policy-controller would drop the policy (its images then judged as if it did not
    exist); here its images are denied with the reconciler's reason, until it is fixed."""
    if data is not None:
        cluster.state.config_maps[("team", "cip-policy")] = (data, "1")
    ref = {"name": "cip-policy", "namespace": "team", "key": "policy"}
    adm = webhook(tmp_path, cip({"type": "rego", "configMapRef": ref}), cluster)
    assert decide(adm) == (False, denial(why))
    cluster.state.config_maps[("team", "cip-policy")] = ({"policy": ONE_AUTHORITY}, "7")
    assert decide(adm) == (True, "")


def test_without_the_kubernetes_api_a_config_map_policy_is_refused(tmp_path: Path) -> None:
    adm = webhook(tmp_path, cip({"type": "rego", "configMapRef": {"name": "cm", "key": "policy"}}), None)
    assert decide(adm) == (False, denial('configmap "cm": no ConfigMap source (run with the Kubernetes API, or '
                                         'write the policy inline as data)'))


@pytest.fixture(scope="module")
def attested(registry: Registry, keypair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    img = fresh(registry)
    pred = tmp_path_factory.mktemp("pred") / "slsa.json"
    pred.write_text(json.dumps({"builder": {"id": "https://example.com/builder"}, "buildType": "x"}))
    r = sigstack("attest", "--key", str(keypair[0]), "--tlog-upload=false", "--type", "slsaprovenance",
                 "--predicate", str(pred), img, env=PW)
    assert r.code == 0, r.err
    return img


def test_an_attestation_policy_from_a_config_map(attested: str, registry: Registry, keypair: tuple[Path, Path],
                                                 cluster: Cluster, tmp_path: Path) -> None:
    builder = 'package sigstore\ndefault isCompliant = false\nisCompliant {\n  input.predicate.builder.id == "%s"\n}\n'
    cluster.state.config_maps[("cosign-system", "att")] = ({"rego": builder % "https://example.com/builder"}, "1")
    authority = {"name": "keyed", "key": {"data": keypair[1].read_text()},
                 "attestations": [{"name": "slsa", "predicateType": "https://slsa.dev/provenance/v0.2",
                                   "policy": {"type": "rego", "configMapRef": {"name": "att", "key": "rego"}}}]}
    adm = webhook(tmp_path, cip({}, f"{registry.host}/**", authority), cluster)
    assert decide(adm, attested) == (True, "")
    cluster.state.config_maps[("cosign-system", "att")] = ({"rego": builder % "someone-else"}, "2")
    allowed, message = decide(adm, attested)
    assert not allowed
    assert f"{attested} failed evaluating rego policy for type slsa: policy is not compliant" in message


@dataclass
class Served:
    """What the HTTPS server answers for ``/p.rego``."""

    body: bytes = b""
    status: int = 200
    hits: list[str] = field(default_factory=list)


class PolicyHandler(JsonHandler):
    state: Served

    def do_GET(self) -> None:
        self.state.hits.append(self.path)
        self.send_response(self.state.status)
        self.send_header("Content-Length", str(len(self.state.body)))
        self.end_headers()
        self.wfile.write(self.state.body)


@pytest.fixture
def remote(tls: Tls, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Served]]:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    state = Served(ONE_AUTHORITY.encode())
    with serve(PolicyHandler, state, tls) as url:
        yield url + "/p.rego", state


def test_a_remote_policy_is_fetched_and_its_digest_checked(remote: tuple[str, Served], tmp_path: Path) -> None:
    url, state = remote
    good = hashlib.sha256(ONE_AUTHORITY.encode()).hexdigest()
    adm = webhook(tmp_path, cip({"type": "rego", "remote": {"url": url, "sha256sum": good}}), None)
    assert decide(adm) == (True, "")
    assert state.hits == ["/p.rego"]  # once per load, not per admission
    decide(adm)
    assert state.hits == ["/p.rego"]
    wrong = "0" * 64
    adm = webhook(tmp_path, cip({"type": "rego", "remote": {"url": url, "sha256sum": wrong}}), None)
    assert decide(adm) == (False, denial(f"failed to check sha256sum from policy remote: {wrong} got {good}"))


@pytest.mark.parametrize("status,body,why", [
    (404, b"not here", "failed to fetch content from policy url with code 404"),
    (200, b"#" * (1024 * 1024 + 1),
     "failed to read policy url response: the body is 1048577 bytes, over the 1048576-byte limit"),
])
def test_a_remote_policy_that_cannot_be_used_fails_closed(status: int, body: bytes, why: str,
                                                          remote: tuple[str, Served], tmp_path: Path) -> None:
    url, state = remote
    state.status, state.body = status, body
    sha = hashlib.sha256(body).hexdigest()
    adm = webhook(tmp_path, cip({"type": "rego", "remote": {"url": url, "sha256sum": sha}}), None)
    assert decide(adm) == (False, denial(why))


def test_a_remote_server_with_an_untrusted_certificate_is_refused(remote: tuple[str, Served], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = remote
    monkeypatch.delenv("SSL_CERT_FILE")
    sha = hashlib.sha256(ONE_AUTHORITY.encode()).hexdigest()
    adm = webhook(tmp_path, cip({"type": "rego", "remote": {"url": url, "sha256sum": sha}}), None)
    allowed, message = decide(adm)
    assert not allowed
    assert f"{IMAGE} failed to fetch content from policy url: [SSL: CERTIFICATE_VERIFY_FAILED]" in message
