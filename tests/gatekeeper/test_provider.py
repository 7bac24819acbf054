"""The Gatekeeper external-data provider: ProviderRequests shaped as Gatekeeper sends
them (tests/gatekeeper/data), answered per key from a real registry, in process and
over TLS 1.3 (``sigstack gatekeeper serve``); Gatekeeper itself cannot run here."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sigstack.admission.webhook import AdmissionSettings, PolicyFiles
from sigstack.gatekeeper.provider import BadProviderRequest, Provider
from sigstack.oci.client import RegistryClient, RegistryOptions
from tests.admission.conftest import PW
from tests.helpers import sigstack
from tests.keys_backends._http import Tls
from tests.oci.ocihelpers import Registry, fresh
from tests.tiers import slow_resource

DATA = Path(__file__).resolve().parent / "data"


def request(**images: str) -> dict[str, Any]:
    text = (DATA / "provider-request.json").read_text()
    for k, v in images.items():
        text = text.replace(k, v)
    doc: dict[str, Any] = json.loads(text)
    return doc


@pytest.fixture(scope="module")
def images(registry: Registry, keypair: tuple[Path, Path]) -> dict[str, str]:
    signed, unsigned = fresh(registry), fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", signed, env=PW).code == 0
    return {"IMAGE_SIGNED": signed, "IMAGE_UNSIGNED": unsigned, "IMAGE_TAGGED": signed.partition("@")[0] + ":v1"}


@pytest.fixture
def policy_dir(registry: Registry, keypair: tuple[Path, Path], tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "p.yaml").write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
        "spec": {"images": [{"glob": f"{registry.host}/**"}],
                 "authorities": [{"key": {"data": keypair[1].read_text()}}]}}))
    return d


@pytest.fixture
def provider(policy_dir: Path) -> Iterator[Provider]:
    settings = AdmissionSettings(registry=RegistryOptions(timeout=2.0, attempts=1))
    with RegistryClient(settings.registry) as client:
        yield Provider(PolicyFiles([str(policy_dir)], settings).engine, client)


def test_verify_answers_each_key(provider: Provider, images: dict[str, str]) -> None:
    out = provider.verify(request(**images))
    assert out["apiVersion"] == "externaldata.gatekeeper.sh/v1beta1" and out["kind"] == "ProviderResponse"
    resp = out["response"]
    assert resp["idempotent"] is True and resp["systemError"] == ""
    signed, unsigned, tagged = images["IMAGE_SIGNED"], images["IMAGE_UNSIGNED"], images["IMAGE_TAGGED"]
    digest = signed.partition("@")[2]
    assert resp["items"] == [
        {"key": signed, "value": {"digest": digest, "policies": ["signed"], "warnings": []}},
        {"key": unsigned, "error": f"failed policy: signed: signature key validation failed for authority "
                                   f"authority-0 for {unsigned}: no signatures found"},
        {"key": tagged, "value": {"digest": digest, "policies": ["signed"], "warnings": []}},
    ]


def test_resolve_gives_digest_references(provider: Provider, images: dict[str, str], registry: Registry) -> None:
    missing = f"{registry.host}/test/absent:v1"
    out = provider.resolve({"apiVersion": "externaldata.gatekeeper.sh/v1alpha1", "kind": "ProviderRequest",
                            "request": {"keys": [images["IMAGE_TAGGED"], images["IMAGE_SIGNED"], missing, "Bad Ref"]}})
    assert out["apiVersion"] == "externaldata.gatekeeper.sh/v1alpha1"
    items = out["response"]["items"]
    assert items[0] == {"key": images["IMAGE_TAGGED"], "value": images["IMAGE_SIGNED"]}
    assert items[1] == {"key": images["IMAGE_SIGNED"], "value": images["IMAGE_SIGNED"]}
    assert items[2]["key"] == missing and items[2]["error"].startswith("image not found: ")
    assert items[3] == {"key": "Bad Ref", "error": "could not parse reference: Bad Ref"}


def test_an_unreachable_registry_is_a_system_error(provider: Provider) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    img = f"127.0.0.1:{port}/app:v1"
    out = provider.verify(request(IMAGE_SIGNED=img, IMAGE_UNSIGNED=img, IMAGE_TAGGED=img))
    assert out["response"]["items"] == []
    assert out["response"]["systemError"].startswith(f"{img}: registry unavailable: cannot reach registry")


@pytest.mark.parametrize("body,message", [
    ([], "the request body is not a JSON object"),
    ({"apiVersion": "v1", "kind": "ProviderRequest"},
     "expected an externaldata.gatekeeper.sh/v1beta1 ProviderRequest, got apiVersion 'v1' kind 'ProviderRequest'"),
    ({"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest", "request": {"keys": [1]}},
     "request.keys must be a list of strings"),
])
def test_bad_provider_requests(provider: Provider, body: Any, message: str) -> None:
    with pytest.raises(BadProviderRequest) as info:
        provider.verify(body)
    assert info.value.message == message


@pytest.fixture
def server(policy_dir: Path, tls: Tls, tmp_path: Path) -> Iterator[str]:
    slow_resource("sigstack gatekeeper serve")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", "gatekeeper", "serve", "--policy",
                             str(policy_dir), "--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", verify=ctx, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"gatekeeper serve did not start: {proc.communicate()[1].decode()}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_served_over_tls13_only(server: str, tls: Tls, images: dict[str, str]) -> None:
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    r = httpx.post(f"{server}/verify", json=request(**images), verify=ctx, timeout=30)
    assert r.status_code == 200
    assert [("value" in i) for i in r.json()["response"]["items"]] == [True, False, True]
    assert httpx.post(f"{server}/verify", content=b"nope", verify=ctx).status_code == 400
    old = ssl.create_default_context(cafile=str(tls.ca_file))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server}/healthz", verify=old, timeout=5)
