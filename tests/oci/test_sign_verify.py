"""sign/verify against the real docker-registry (plain HTTP), legacy ``.sig`` layout."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from ocihelpers import Registry, push_image, push_index
from tests.helpers import sigstack

from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.layouts.legacy import read_attachment
from sigstack.oci.reference import parse_reference
from sigstack.payload import simplesigning

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture
def image(registry: Registry) -> tuple[str, str]:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return ref, digest


def test_sign_writes_cosign_sig_layout(registry: Registry, keypair, image) -> None:
    ref, digest = image
    key, pub = keypair
    r = sigstack("sign", "--key", str(key), "--tlog-upload=false", ref, env=PW)
    assert r.code == 0, r.err
    repo = ref.rsplit(":", 1)[0]
    assert f"Pushing signature to: {repo}" in r.err
    assert "uses a tag, not a digest" in r.err
    with RegistryClient() as client:
        parsed = parse_reference(ref)
        assert f"sha256-{digest[7:]}.sig" in client.list_tags(parsed.repository)
        m = client.get_manifest(parsed.repository.tag(f"sha256-{digest[7:]}.sig"))
        doc = json.loads(m.data)
        assert list(doc) == ["schemaVersion", "mediaType", "config", "layers"]
        assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        layer = doc["layers"][0]
        assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
        payload = client.get_blob(parsed.repository, layer["digest"])
        config = client.get_blob(parsed.repository, doc["config"]["digest"])
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"' + repo.encode() + b'"},"image":'
        b'{"docker-manifest-digest":"' + digest.encode() + b'"},"type":"cosign container image signature"},'
        b'"optional":null}')
    diff = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert config == (b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":'
                      b'"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["'
                      + diff.encode() + b'"]},"config":{}}')
    assert len(config) == 233
    assert base64.b64decode(layer["annotations"][layout.SIGNATURE_ANNOTATION])

    v = sigstack("verify", "--key", str(pub), "--insecure-ignore-tlog", ref)
    assert v.code == 0, v.err
    err = v.err
    assert f"Verification for {ref} --" in err
    assert "The following checks were performed on each of these signatures:" in err
    assert "  - The cosign claims were validated" in err
    assert "  - The signatures were verified against the specified public key" in err
    out = json.loads(v.out)
    assert v.out.startswith(b"\n") and v.out.endswith(b"\n")
    assert out == [json.loads(payload)]
    t = sigstack("verify", "--key", str(pub), "-o", "text", ref)
    assert t.code == 0 and t.out == payload + b"\n"


def test_sign_twice_deduplicates_and_appends_new(registry: Registry, keypair, other_keypair, image) -> None:
    ref, digest = image
    for _ in range(2):
        assert sigstack("sign", "--key", str(keypair[0]), ref, env=PW).code == 0
    parsed = parse_reference(ref)
    with RegistryClient() as client:
        assert len(read_attachment(client, parsed.repository, digest, "sig")) == 1
    assert sigstack("sign", "--key", str(other_keypair[0]), ref, env=PW).code == 0
    signed = sigstack("sign", "--key", str(keypair[0]), "-a", "a=1,b=2", "-a", "c=x=y", ref, env=PW)
    assert signed.code == 0
    with RegistryClient() as client:
        layers = read_attachment(client, parsed.repository, digest, "sig")
    assert len(layers) == 3
    assert simplesigning.parse(layers[2].data).optional == {"a": "1", "b": "2", "c": "x=y"}
    for pub in (keypair[1], other_keypair[1]):
        assert sigstack("verify", "--key", str(pub), ref).code == 0
    ok = sigstack("verify", "--key", str(keypair[1]), "-a", "b=2", ref)
    assert ok.code == 0 and "The specified annotations were verified." in ok.err
    assert len(json.loads(ok.out)) == 1
    bad = sigstack("verify", "--key", str(keypair[1]), "-a", "b=3", ref)
    assert bad.code == 12
    assert "no matching signatures: " in bad.err


def test_recursive_signs_index_and_children(registry: Registry, keypair) -> None:
    ref = registry.repo() + ":multi"
    with RegistryClient() as client:
        index, children = push_index(client, parse_reference(ref))
    r = sigstack("sign", "--key", str(keypair[0]), "-r", ref, env=PW)
    assert r.code == 0, r.err
    repo = ref.rsplit(":", 1)[0]
    for d in [index, *children]:
        v = sigstack("verify", "--key", str(keypair[1]), f"{repo}@{d}")
        assert v.code == 0, v.err
    with RegistryClient() as client:
        digest_only = parse_reference(ref)
        assert len(read_attachment(client, digest_only.repository, children[0], "sig")) == 1


def test_docker_list_and_docker_media_types(registry: Registry, keypair) -> None:
    ref = registry.repo() + ":dockerlist"
    with RegistryClient() as client:
        index, _children = push_index(client, parse_reference(ref), docker=True)
    r = sigstack("sign", "--key", str(keypair[0]), ref, env={**PW, "COSIGN_DOCKER_MEDIA_TYPES": "1"})
    assert r.code == 0, r.err
    parsed = parse_reference(ref)
    with RegistryClient() as client:
        m = client.get_manifest(parsed.repository.tag(f"sha256-{index[7:]}.sig"))
    doc = json.loads(m.data)
    assert doc["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert doc["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert sigstack("verify", "--key", str(keypair[1]), ref).code == 0
    # appending later without the variable keeps the Docker media types of the existing image
    assert sigstack("sign", "--key", str(keypair[0]), "-a", "more=1", ref, env=PW).code == 0
    with RegistryClient() as client:
        m = client.get_manifest(parsed.repository.tag(f"sha256-{index[7:]}.sig"))
    assert m.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert len(json.loads(m.data)["layers"]) == 2


def test_cosign_repository_keeps_signatures_elsewhere(registry: Registry, keypair, image) -> None:
    ref, digest = image
    other = registry.repo("sigs/elsewhere")
    env = {**PW, "COSIGN_REPOSITORY": other}
    r = sigstack("sign", "--key", str(keypair[0]), ref, env=env)
    assert r.code == 0, r.err
    assert f"Pushing signature to: {other}" in r.err
    with RegistryClient() as client:
        assert f"sha256-{digest[7:]}.sig" in client.list_tags(parse_reference(other + ":x").repository)
    assert sigstack("verify", "--key", str(keypair[1]), ref, env=env).code == 0
    miss = sigstack("verify", "--key", str(keypair[1]), ref)
    assert miss.code == 10 and "Error: no signatures found" in miss.err


def test_tag_list_pagination(registry) -> None:
    ref = parse_reference(registry.repo() + ":t0")
    with RegistryClient() as client:
        digest = push_image(client, ref)
        manifest = client.get_manifest(ref.with_digest(digest))
        for i in range(1, 5):
            client.put_manifest(ref.repository.tag(f"t{i}"), manifest.data, manifest.media_type)
        assert sorted(client.list_tags(ref.repository, page_size=2)) == [f"t{i}" for i in range(5)]
