"""Every sigstack server as a child process for the cross-server tests (security
review, slow clients): the log, the CA (with the dev OIDC issuer it trusts), the dev
OIDC issuer, the admission webhook, the Gatekeeper provider and ``sigstack serve``,
each on a free loopback port, over TLS where it serves TLS, its output (stdout and
stderr together) kept in a file the tests read."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.admission.conftest import PW, review
from tests.helpers import sigstack
from tests.keys_backends._http import Tls
from tests.oci.ocihelpers import REGISTRY_BIN, Registry, fresh
from tests.tiers import slow_resource
from tests.tlog._support import SIGSTACK, free_port, write_key


class Proc:
    """``sigstack ARGS --port P`` (or with its ports given in ``args``), ready when
    ``probe`` answers 200."""

    def __init__(self, name: str, args: list[str], workdir: Path, probe: str, tls: Tls | None = None,
                 port: int | None = None, port_flag: bool = True) -> None:
        self.name, self.args, self.workdir, self.probe, self.tls = name, args, workdir, probe, tls
        self.port = port or free_port()
        self.port_flag = port_flag
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile = workdir / f"{name}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.tls.ca_file)) if self.tls else True

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.verify(), timeout=timeout)

    def start(self) -> Proc:
        slow_resource(f"sigstack {self.name}")
        out = open(self.logfile, "ab")  # noqa: SIM115
        argv = [SIGSTACK, *self.args, *(["--port", str(self.port)] if self.port_flag else [])]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_", "KUBE"))}
        env["HOME"] = str(self.workdir)
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.workdir, env=env)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log()}")
            try:
                if httpx.get(self.url + self.probe, verify=self.verify(), timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"{self.name} did not start: {self.log()}")

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


def static_policy(directory: Path, action: str = "pass") -> Path:
    """A ClusterImagePolicy matching every image with a static authority (no registry needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "static.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "static"},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"static": {"action": action}}]}}))
    return directory


def _tls_flags(tls: Tls | None) -> list[str]:
    return ["--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file)] if tls else []


def tlog(work: Path, *extra: str, tls: Tls | None = None) -> Proc:
    key = write_key(work / "log.key")
    return Proc("tlog", ["tlog", "serve", "--db", str(work / "log.db"), "--key", str(key), "--hostname",
                         "tlog.test", *_tls_flags(tls), *extra], work, "/api/v1/log", tls=tls)


def oidc(work: Path, *extra: str) -> Proc:
    return Proc("oidc", ["oidc", "serve", "--state", str(work / "oidc"), *extra], work,
                "/.well-known/openid-configuration")


def ca(work: Path, issuer: str, *extra: str, tls: Tls | None = None) -> Proc:
    return Proc("ca", ["ca", "serve", "--state", str(work / "ca"), "--oidc-issuer", issuer, *_tls_flags(tls),
                       *extra], work, "/api/v2/trustBundle", tls=tls)


def admission(work: Path, tls: Tls, *extra: str) -> Proc:
    return Proc("admission", ["admission", "serve", "--policy", str(static_policy(work / "policies")),
                              "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file), "--host",
                              "127.0.0.1", "--kubernetes=false", *extra], work, "/healthz", tls=tls)


def gatekeeper(work: Path, tls: Tls, *extra: str) -> Proc:
    return Proc("gatekeeper", ["gatekeeper", "serve", "--policy", str(static_policy(work / "gk-policies")),
                               "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file), "--host",
                               "127.0.0.1", *extra], work, "/healthz", tls=tls)


def stack(work: Path, *extra: str) -> tuple[Proc, dict[str, str]]:
    """``sigstack serve`` on three free ports: (the process, probed at the log; its URLs)."""
    ports = {name: free_port() for name in ("oidc", "ca", "tlog")}
    proc = Proc("serve", ["serve", "--dir", str(work / "stack"), *(a for n, p in ports.items()
                                                                   for a in (f"--{n}-port", str(p))), *extra],
                work, "/api/v1/log", port=ports["tlog"], port_flag=False)
    return proc, {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}


class FixedPortRegistry:
    """Debian's docker-registry on a port of our choosing, so it can be killed and
    started again at the same address over the same storage (a registry restart)."""

    def __init__(self, root: Path) -> None:
        slow_resource("a registry (docker-registry)")
        self.root, self.port = root, free_port()
        (root / "data").mkdir(parents=True)
        self.config = root / "config.yml"
        self.config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: sigstack-tests\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FixedPortRegistry:
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def as_registry(self) -> Registry:
        assert self.proc is not None
        return Registry(self.host, self.proc, self.root)


def key_policy(directory: Path, host: str, public_key: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "signed.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
        "spec": {"images": [{"glob": f"{host}/**"}], "authorities": [{"key": {"data": public_key.read_text()}}]}}))
    return directory


def signed_images(registry: Registry, key: Path, n: int) -> list[str]:
    images = [fresh(registry) for _ in range(n)]
    for img in images:
        r = sigstack("sign", "--key", str(key), "--tlog-upload=false", img, env=PW)
        assert r.code == 0, r.err
    return images


def decide(client: httpx.Client, image: str, **request: Any) -> dict[str, Any]:
    """The AdmissionResponse for a pod running ``image`` (``request`` fields replaced,
    e.g. ``namespace``: decisions are cached per namespace)."""
    r = client.post("/validations", content=json.dumps(review("pod", {
        "INIT_IMAGE": image, "APP_IMAGE": image, "SIDECAR_IMAGE": image}, **request)).encode(),
        headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text  # a decision, never an HTTP error
    response: dict[str, Any] = r.json()["response"]
    return response


@contextmanager
def running(*procs: Proc) -> Iterator[tuple[Proc, ...]]:
    started: list[Proc] = []
    try:
        for p in procs:
            started.append(p.start())
        yield procs
    finally:
        for p in started:
            p.stop()


def raw_connect(proc: Proc, timeout: float = 30) -> socket.socket:
    """A socket to ``proc`` (TLS-wrapped when it serves TLS), connected."""
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=timeout)
    if proc.tls:
        ctx = ssl.create_default_context(cafile=str(proc.tls.ca_file))
        return ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def review_json() -> bytes:
    """A small AdmissionReview (one pod, one image by digest) for load and limits."""
    image = "registry.invalid/app@sha256:" + "ab" * 32
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "0", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
        "operation": "CREATE", "userInfo": {"username": "u"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": image}]}}}}).encode()
