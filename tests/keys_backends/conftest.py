"""Fixtures for the key-backend tests: TLS material, HTTP doubles, a SoftHSM2 token, moto.

Every server is started on 127.0.0.1 with a free port and stopped after its test.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._http import Tls, make_tls, serve
from ._k8s_double import K8sHandler, K8sState

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``sigstack`` as a user would (a fresh process, real argv and env)."""
    return subprocess.run(
        [sys.executable, "-m", "sigstack.cli.main", *args],
        input=stdin, capture_output=True, env=env, cwd=cwd, timeout=120,
    )


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@dataclass
class Kube:
    url: str
    state: K8sState
    kubeconfig: Path
    env: dict[str, str]


@pytest.fixture
def kube(tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    """The Secrets API double plus a kubeconfig (CA data + bearer token) pointing at it."""
    state = K8sState(token="t0k3n-" + os.urandom(6).hex())
    with serve(K8sHandler, state, tls) as url:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: {url}
    certificate-authority-data: {base64.b64encode(tls.ca_pem).decode()}
users:
- name: signer
  user:
    token: {state.token}
contexts:
- name: double
  context: {{cluster: double, user: signer, namespace: default}}
current-context: double
""")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        yield Kube(url, state, kubeconfig, env)


COSIGN_NO_TLOG = ("--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false")


def cosign_sign_blob(cosign: str, key: str, blob: Path, env: dict[str, str]) -> bytes:
    """The real cosign v3 signing a blob with ``key``, offline (no log, old format)."""
    r = subprocess.run([cosign, "sign-blob", "--key", key, *COSIGN_NO_TLOG, str(blob)],
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.strip()


def cosign_verify_blob(cosign: str, key: str, signature: bytes, blob: Path,
                       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real cosign v3 checking a base64 signature with ``key`` (no log evidence)."""
    sig = blob.with_suffix(".sig-for-cosign")
    sig.write_bytes(signature)
    return subprocess.run(
        [cosign, "verify-blob", "--key", key, "--signature", str(sig), "--insecure-ignore-tlog=true",
         str(blob)],
        capture_output=True, env=env, timeout=120)
