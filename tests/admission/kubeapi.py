"""A real kube-apiserver (with its etcd) on loopback for the webhook tests.

``scripts/build-kube-apiserver`` builds both binaries from the Go module proxy into
~/go/bin (k8s.io/kubernetes v1.37.2 and the etcd it requires); without them the tests
that ask for :func:`start_kube_apiserver` skip. No kubelet, scheduler or
controller-manager runs: objects are stored and admitted (which is all admission
needs), nothing is scheduled, and what a controller would create (a namespace's
``default`` ServiceAccount, a Deployment's ReplicaSet) the tests create themselves.

The throwaway PKI: a CA and serving certificate for the apiserver (127.0.0.1), an
ECDSA service-account signing key, and a static token file with three users: an admin
(group ``system:masters``, which RBAC lets do anything) for the tests, and
``system:serviceaccount:cosign-system:sigstack-admission`` for the webhook, so the
webhook reads with exactly the RBAC that deploy/admission/sigstack-admission.yaml
grants its service account (``--authorization-mode=RBAC``); and ``nobody``, whom RBAC
grants nothing, for the refusals.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.keys_backends._http import Tls, make_tls
from tests.keys_backends._k8s_double import write_kubeconfig
from tests.tiers import slow_resource

GOBIN = Path(os.environ.get("GOBIN") or Path.home() / "go" / "bin")
KUBE_APISERVER = GOBIN / "kube-apiserver"
ETCD = GOBIN / "etcd"
HELM = GOBIN / "helm"
WEBHOOK_USER = "system:serviceaccount:cosign-system:sigstack-admission"
#: a user RBAC grants nothing (authenticated only)
NOBODY_TOKEN = "nobody-" + os.urandom(12).hex()


def binaries_missing() -> str | None:
    """Why the real apiserver cannot run here, or None when it can."""
    for b in (KUBE_APISERVER, ETCD):
        if not os.access(b, os.X_OK):
            return (f"{b} is not built (scripts/build-kube-apiserver, ~14 min on 2 cores, kept out of CI "
                    "like policy-tester; CI runs these paths against the Kubernetes API double and the "
                    "AdmissionReviews recorded from this apiserver)")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class KubeApi:
    url: str
    tls: Tls
    admin_kubeconfig: Path
    webhook_kubeconfig: Path
    log: Path
    admin_token: str

    def client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` as the admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.admin_kubeconfig))  # type: ignore[no-untyped-call, unused-ignore]


def _wait(what: str, proc: subprocess.Popen[bytes], log: Path, ready: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{what} did not become ready (exit {proc.poll()}):\n{tail}")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def start_kube_apiserver(tmp: Path) -> Iterator[KubeApi]:
    """etcd and kube-apiserver on free loopback ports, ready (``/readyz`` is ``ok``), torn
    down on exit."""
    slow_resource("a kube-apiserver")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    (tmp / "pki").mkdir(parents=True)
    tls = make_tls(tmp / "pki")
    sa_key = tmp / "pki" / "sa.key"
    signing = ec.generate_private_key(ec.SECP256R1())
    sa_key.write_bytes(signing.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    sa_pub = tmp / "pki" / "sa.pub"
    sa_pub.write_bytes(signing.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    admin_token, webhook_token = "admin-" + os.urandom(12).hex(), "webhook-" + os.urandom(12).hex()
    tokens = tmp / "pki" / "tokens.csv"
    tokens.write_text(f'{admin_token},admin,admin-uid,"system:masters"\n'
                      f'{webhook_token},{WEBHOOK_USER},webhook-uid,"system:serviceaccounts"\n'
                      f"{NOBODY_TOKEN},nobody,nobody-uid\n")

    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_log, api_log = tmp / "etcd.log", tmp / "kube-apiserver.log"
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    with etcd_log.open("wb") as out:
        etcd = subprocess.Popen([str(ETCD), "--name", "sigstack-test", "--data-dir", str(tmp / "etcd"),
                                 "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
                                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                                 "--initial-cluster", f"sigstack-test={peer_url}", "--unsafe-no-fsync",
                                 "--log-level", "warn"], stdout=out, stderr=subprocess.STDOUT)
    api: subprocess.Popen[bytes] | None = None
    try:
        def etcd_ready() -> bool:
            try:
                return httpx.get(f"{etcd_url}/health", timeout=1).json().get("health") == "true"
            except (httpx.HTTPError, ValueError):
                return False

        _wait("etcd", etcd, etcd_log, etcd_ready, 60)
        (tmp / "certs").mkdir()
        with api_log.open("wb") as out:
            api = subprocess.Popen([
                str(KUBE_APISERVER), "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1",
                "--advertise-address", "127.0.0.1", "--secure-port", str(api_port),
                "--cert-dir", str(tmp / "certs"),
                "--tls-cert-file", str(tls.cert_file), "--tls-private-key-file", str(tls.key_file),
                "--token-auth-file", str(tokens), "--authorization-mode", "RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", str(sa_pub), "--service-account-signing-key-file", str(sa_key),
                "--service-cluster-ip-range", "10.0.0.0/24",
                "--enable-admission-plugins", "MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
                "--enable-priority-and-fairness=false", "--endpoint-reconciler-type", "none",
                "--profiling=false", "--v", "1",
            ], stdout=out, stderr=subprocess.STDOUT)
        url = f"https://127.0.0.1:{api_port}"
        ctx = ssl.create_default_context(cafile=str(tls.ca_file))

        def api_ready() -> bool:
            try:
                r = httpx.get(f"{url}/readyz", verify=ctx, timeout=2,
                              headers={"Authorization": f"Bearer {admin_token}"})
                return r.status_code == 200 and r.text == "ok"
            except httpx.HTTPError:
                return False

        assert api is not None
        _wait("kube-apiserver", api, api_log, api_ready, 180)
        admin = write_kubeconfig(tmp / "admin.kubeconfig", url, tls.ca_pem, admin_token, "admin", "default")
        webhook = write_kubeconfig(tmp / "webhook.kubeconfig", url, tls.ca_pem, webhook_token, "sigstack-admission",
                                   "cosign-system")
        yield KubeApi(url, tls, admin, webhook, api_log, admin_token)
    finally:
        if api is not None:
            _stop(api)
        _stop(etcd)
        shutil.rmtree(tmp / "etcd", ignore_errors=True)
