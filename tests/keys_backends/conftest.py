"""Fixtures for the key-backend tests: TLS material, HTTP doubles, a SoftHSM2 token, moto.

Every server is started on 127.0.0.1 with a free port and stopped after its test.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import sigstack
from tests.oci.ocihelpers import Registry, start_registry
from tests.tiers import slow_resource

from ._http import Tls, make_tls, serve
from ._k8s_double import K8sHandler, K8sState, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The real plain-HTTP ``docker-registry`` the image tests use (tests/oci starts it
    the same way), once per session."""
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


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
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url, tls.ca_pem, state.token, "signer", "default")
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


def assert_openssl_verifies(pub: Path, signature_b64: bytes, blob: Path, digest: str) -> None:
    """OpenSSL as an independent verifier (used where cosign's own verify-blob cannot)."""
    sig = blob.with_suffix(".sig-for-openssl")
    sig.write_bytes(base64.b64decode(signature_b64))
    r = subprocess.run(["openssl", "dgst", f"-{digest}", "-verify", str(pub), "-signature", str(sig), str(blob)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and b"Verified OK" in r.stdout, r.stdout + r.stderr


def sign_blob_and_cross_check(ref: str, env: dict[str, str], tmp_path: Path, blob: Path, cosign: str,
                              *, sha384: bool) -> bytes:
    """Export ``ref``'s public key, sign ``blob`` through it with sigstack, and have the
    signature checked by an independent verifier (the real cosign; OpenSSL for P-384,
    which cosign's own verify-blob rejects) and by sigstack's verifier for ``ref``.
    Returns the base64 signature."""
    from sigstack import keys

    pub = sigstack("public-key", "--key", ref, "--outfile", "k.pub", env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert pub.code == 0, pub.err
    signed = sigstack("sign-blob", "--key", ref, str(blob), env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    sig = signed.out.strip()
    if sha384:
        assert_openssl_verifies(tmp_path / "k.pub", sig, blob, "sha384")
    else:
        r = cosign_verify_blob(cosign, str(tmp_path / "k.pub"), sig, blob)
        assert r.returncode == 0, r.stderr.decode()
    keys.load_verifier(ref).verify(base64.b64decode(sig), blob.read_bytes())
    return sig


SOFTHSM_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)


@dataclass
class Token:
    module: str
    label: str
    pin: str
    slot: int
    env: dict[str, str]

    def uri(self, key: str, **extra: str) -> str:
        from urllib.parse import quote

        query = "&".join(f"{k}={v}" for k, v in {"module-path": self.module, "pin-value": self.pin,
                                                    **extra}.items() if v)
        return f"pkcs11:token={quote(self.label)};object={quote(key)}?{query}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """A real SoftHSM2 token in a temporary directory, holding P-256, P-384 and RSA-2048
    key pairs made by OpenSC's pkcs11-tool. One per test session: a PKCS#11 module is
    initialised once per process, so the in-process tests must all see the same store."""
    module = next((m for m in SOFTHSM_MODULE_CANDIDATES if Path(m).exists()), None)
    if module is None:
        pytest.fail("SoftHSM2 is not installed (Debian package softhsm2; see scripts/apt-packages.txt)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    label, pin = "sigstack test", "4321"
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "0000",
                    "--pin", pin], env=env, check=True, capture_output=True)
    for key_type, key_label, key_id in (("EC:prime256v1", "p256", "01"), ("EC:secp384r1", "p384", "02"),
                                        ("rsa:2048", "rsa2048", "03")):
        subprocess.run(["pkcs11-tool", "--module", module, "--token-label", label, "--login", "--pin", pin,
                        "--keypairgen", "--key-type", key_type, "--label", key_label, "--id", key_id],
                       env=env, check=True, capture_output=True)
    listing = subprocess.run(["softhsm2-util", "--show-slots"], env=env, check=True, capture_output=True,
                             text=True).stdout
    slot = None
    current = None
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith("Slot ") and not line.startswith("Slot info"):
            current = int(line.split()[1])
        if line.startswith("Label:") and line.split(":", 1)[1].strip() == label:
            slot = current
    assert slot is not None, listing
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        yield Token(module, label, pin, slot, env)


@dataclass
class Moto:
    url: str
    client: Any
    env: dict[str, str]


@pytest.fixture
def moto_kms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    """moto's KMS in server mode (werkzeug, real HTTP) on 127.0.0.1, fresh per test.

    The server thread lives in the test process (so ``_moto`` can patch it); CLI
    subprocesses reach it over TCP through ``AWS_ENDPOINT_URL``, like any client."""
    import boto3
    from moto.server import ThreadedMotoServer

    slow_resource("moto")

    from ._moto import teach_digest_signing

    teach_digest_signing(monkeypatch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # moto keeps its backends in the process, across servers: empty them (moto's
        # documented reset endpoint) so each test really starts with no keys
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
        env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        client = boto3.client("kms", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        yield Moto(url, client, {**os.environ, **env, "HOME": str(tmp_path)})
    finally:
        server.stop()


@dataclass
class VaultServer:
    url: str
    state: Any
    env: dict[str, str]


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultServer]:
    """The Vault transit double (plain HTTP, as a dev-mode Vault) with VAULT_ADDR/VAULT_TOKEN set."""
    from ._vault_double import VaultHandler, VaultState

    state = VaultState(token="hvs." + os.urandom(8).hex())
    with serve(VaultHandler, state) as url:
        env = {"VAULT_ADDR": url, "VAULT_TOKEN": state.token}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("HOME", str(tmp_path))
        yield VaultServer(url, state, {**os.environ, **env, "HOME": str(tmp_path)})


@dataclass
class GcpServer:
    url: str
    state: Any
    env: dict[str, str]


@pytest.fixture
def gcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcpServer]:
    """The Cloud KMS REST double; ADC is a service-account key file whose token_uri is the double."""
    import json

    from ._gcp_double import GcpHandler, GcpState

    state = GcpState(token="ya29." + os.urandom(8).hex())
    with serve(GcpHandler, state) as url:
        creds = tmp_path / "adc.json"
        from cryptography.hazmat.primitives import serialization

        pem = state.service_account.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
        creds.write_text(json.dumps({
            "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
            "client_email": "signer@p.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"{url}/token"}))
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(creds), "SIGSTACK_GCPKMS_ENDPOINT": url,
               "GOOGLE_CLOUD_PROJECT": "p", "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield GcpServer(url, state, {**os.environ, **env, "HOME": str(tmp_path)})


@dataclass
class AzureServer:
    host: str
    state: Any
    env: dict[str, str]


@pytest.fixture
def azure(tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureServer]:
    """The Key Vault + managed-identity double over TLS; DefaultAzureCredential finds the
    App Service managed identity through IDENTITY_ENDPOINT/IDENTITY_HEADER."""
    from ._azure_double import AzureHandler, AzureState

    state = AzureState(token="eyJ0." + os.urandom(8).hex(), identity_header=os.urandom(8).hex())
    with serve(AzureHandler, state, tls) as url:
        env = {"IDENTITY_ENDPOINT": f"{url}/msi/token", "IDENTITY_HEADER": state.identity_header,
               "REQUESTS_CA_BUNDLE": str(tls.ca_file), "AZURE_CONFIG_DIR": str(tmp_path / "az")}
        for k in [k for k in os.environ if k.startswith(("AZURE_CLIENT", "AZURE_TENANT", "MSI_"))]:
            monkeypatch.delenv(k)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        yield AzureServer(url.removeprefix("https://"), state, {**os.environ, **env, "HOME": str(tmp_path)})
