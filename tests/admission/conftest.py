"""Fixtures for the webhook tests: a real docker-registry (plain, and TLS with basic
auth), key pairs, the Kubernetes API double (tests/admission/_kube.py, built on the
``k8s://`` keys' double) with a kubeconfig, and AdmissionReview requests loaded from
tests/admission/data (shaped as kube-apiserver sends them: each kind, defaulted
fields, userInfo, options; written from the API types, since no API server runs here).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.admission._kube import ClusterHandler, ClusterState
from tests.helpers import sigstack
from tests.keys_backends._http import Tls, make_tls, serve
from tests.keys_backends._k8s_double import write_kubeconfig
from tests.oci.ocihelpers import Registry, start_registry, start_tls_registry

DATA = Path(__file__).resolve().parent / "data"
KINDS = ("pod", "deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob")
PW = {"COSIGN_PASSWORD": "pw"}


def review(kind: str, images: dict[str, str] | None = None, **request: Any) -> dict[str, Any]:
    """The recorded AdmissionReview for ``kind`` with its images replaced
    (``INIT_IMAGE``, ``APP_IMAGE``, ``SIDECAR_IMAGE``, ``EPHEMERAL_IMAGE``)."""
    text = (DATA / f"{kind}.json").read_text()
    for placeholder, image in (images or {}).items():
        text = text.replace(placeholder, image)
    doc = json.loads(text)
    doc["request"]["uid"] = str(uuid.uuid4())
    doc["request"].update(copy.deepcopy(request))
    return doc


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"), "")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A TLS registry with htpasswd basic auth (as tests/oci's), for pull secrets."""
    tmp = tmp_path_factory.mktemp("tls-registry")
    reg = start_tls_registry(tmp)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    r = sigstack("generate-key-pair", env=PW, cwd=d)
    assert r.code == 0, r.err
    return d / "cosign.key", d / "cosign.pub"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@dataclass
class Cluster:
    url: str
    state: ClusterState
    kubeconfig: Path

    def reader(self) -> Any:
        from kubernetes import client, config

        from sigstack.admission.kube import KubeReader

        api = config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call, unused-ignore]
        return KubeReader(client.CoreV1Api(api), namespace_ttl=0.0)

    def add_pull_secret(self, namespace: str, name: str, host: str, user: str, password: str) -> None:
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        doc = json.dumps({"auths": {host: {"username": user, "password": password, "auth": auth}}})
        self.state.secrets[(namespace, name)] = {
            "kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(doc.encode()).decode()}}


@pytest.fixture
def cluster(tls: Tls, tmp_path: Path) -> Iterator[Cluster]:
    """The API double with namespace ``shop`` opted in and a kubeconfig for it."""
    state = ClusterState(token="t0k3n-" + os.urandom(6).hex())
    state.namespaces = {"shop": {"policy.sigstore.dev/include": "true"}, "dev": {}}
    with serve(ClusterHandler, state, tls) as url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, tls.ca_pem, state.token, "webhook", "cosign-system")
        yield Cluster(url, state, kubeconfig)
