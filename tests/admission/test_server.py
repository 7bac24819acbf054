"""``sigstack admission serve`` as kube-apiserver reaches it: HTTPS on a loopback port,
AdmissionReview v1 POSTed to /validations and /mutations, with a real registry
behind. Bad requests get their status and a one-line message."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.admission.conftest import PW, review
from tests.helpers import sigstack
from tests.keys_backends._http import Tls
from tests.oci.ocihelpers import Registry, fresh
from tests.tiers import slow_resource


@dataclass
class Server:
    url: str
    ca: Path
    policy: Path
    proc: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(registry: Registry, keypair: tuple[Path, Path], tls: Tls, tmp_path: Path) -> Iterator[Server]:
    slow_resource("sigstack admission serve")
    policy = tmp_path / "policies"
    policy.mkdir()
    (policy / "signed.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
        "spec": {"images": [{"glob": f"{registry.host}/**"}],
                 "authorities": [{"key": {"data": keypair[1].read_text()}}]}}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "KUBE"))}
    env["HOME"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", "admission", "serve", "--policy", str(policy),
                             "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file), "--host", "127.0.0.1",
                             "--port", str(port), "--kubernetes=false", "--max-body", "65536"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            ctx = ssl.create_default_context(cafile=str(tls.ca_file))
            if httpx.get(f"{url}/healthz", verify=ctx, timeout=1).text == "ok\n":
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"admission serve did not start: {proc.communicate()[1].decode()}")
        time.sleep(0.1)
    yield Server(url, tls.ca_file, policy, proc)
    proc.terminate()
    proc.wait(timeout=10)


def post(server: Server, path: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=content, headers={"Content-Type": content_type},
                      verify=ssl.create_default_context(cafile=str(server.ca)), timeout=30)


def test_validating_and_mutating_over_tls(server: Server, registry: Registry, keypair: tuple[Path, Path]) -> None:
    signed, unsigned = fresh(registry), fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", signed, env=PW).code == 0
    ok = review("deployment", {"INIT_IMAGE": signed, "APP_IMAGE": signed, "SIDECAR_IMAGE": signed})
    r = post(server, "/validations", json.dumps(ok).encode())
    assert r.status_code == 200
    assert r.json() == {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                        "response": {"uid": ok["request"]["uid"], "allowed": True}}
    bad = review("job", {"INIT_IMAGE": signed, "APP_IMAGE": unsigned, "SIDECAR_IMAGE": signed})
    r = post(server, "/validations", json.dumps(bad).encode())
    assert r.json()["response"]["status"]["message"] == (
        f"validation failed: failed policy: signed: spec.template.spec.containers[0].image\n{unsigned} signature key "
        f"validation failed for authority authority-0 for {unsigned}: no signatures found")
    tag = signed.partition("@")[0] + ":v1"
    r = post(server, "/mutations", json.dumps(review("cronjob", {"INIT_IMAGE": tag, "APP_IMAGE": signed,
                                                                 "SIDECAR_IMAGE": signed})).encode())
    resp = r.json()["response"]
    assert json.loads(base64.b64decode(resp["patch"])) == [
        {"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/initContainers/0/image", "value": signed}]


def test_policies_reload_when_the_files_change(server: Server, registry: Registry) -> None:
    img = fresh(registry)
    req = review("pod", {"INIT_IMAGE": img, "APP_IMAGE": img, "SIDECAR_IMAGE": img})
    assert post(server, "/validations", json.dumps(req).encode()).json()["response"]["allowed"] is False
    (server.policy / "signed.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
        "spec": {"images": [{"glob": f"{registry.host}/**"}], "authorities": [{"static": {"action": "pass"}}]}}))
    deadline = time.monotonic() + 10
    while post(server, "/validations", json.dumps(req).encode()).json()["response"]["allowed"] is not True:
        assert time.monotonic() < deadline, "the edited policy was not picked up"
        time.sleep(0.2)


@pytest.mark.parametrize("path,content,status,message", [
    ("/validations", b"{not json", 400, "the request body is not JSON: "),
    ("/mutations", b"[]", 400, "the request body is not a JSON object"),
    ("/validations", b'{"apiVersion": "v1", "kind": "Pod"}', 400,
     "expected an admission.k8s.io/v1 AdmissionReview, got apiVersion 'v1' kind 'Pod'"),
    ("/validations", b"{" + b" " * 70000 + b"}", 413, "request body over the 65536-byte limit"),
])
def test_bad_requests_get_a_status_and_one_line(server: Server, path: str, content: bytes, status: int,
                                                message: str) -> None:
    r = post(server, path, content)
    assert r.status_code == status
    assert r.text.startswith(message) and r.text.count("\n") == 1 and "Traceback" not in r.text


def test_wrong_method_and_unknown_path(server: Server) -> None:
    ctx = ssl.create_default_context(cafile=str(server.ca))
    assert httpx.get(f"{server.url}/validations", verify=ctx).status_code == 405
    assert httpx.post(f"{server.url}/nope", verify=ctx, content=b"{}").status_code == 404


def test_serve_refuses_an_invalid_policy_with_one_error_line(tmp_path: Path, tls: Tls) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\n"
                   "spec: {images: [{glob: '*'}], authorities: [{static: {action: maybe}}]}\n")
    r = sigstack("admission", "serve", "--policy", str(bad), "--tls-cert", str(tls.cert_file), "--tls-key",
                 str(tls.key_file), "--kubernetes=false")
    from tests.helpers import assert_clean_error

    assert_clean_error(r, f"{bad}: invalid value: maybe: spec.authorities[0].static.action; unsupported action")


def test_serve_refuses_a_configured_but_unusable_cluster(tmp_path: Path, tls: Tls) -> None:
    """KUBECONFIG names a file that is not there and no in-cluster account exists: one
    error line, not a webhook that quietly runs without the Kubernetes API (it would
    then skip the namespace opt-in check, pull secrets and the cluster's policies)."""
    from tests.helpers import assert_clean_error

    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\n"
                      "spec: {images: [{glob: '**'}], authorities: [{static: {action: pass}}]}\n")
    env = {"KUBECONFIG": str(tmp_path / "missing.kubeconfig"), "KUBERNETES_SERVICE_HOST": "",
           "HOME": str(tmp_path)}
    r = sigstack("admission", "serve", "--policy", str(policy), "--tls-cert", str(tls.cert_file), "--tls-key",
                 str(tls.key_file), env=env)
    assert_clean_error(r, "kubernetes: no usable kubeconfig (")
    assert "and not running inside a cluster (pass --kubernetes=false to run without the Kubernetes API)" in r.err
