"""Concurrent writers of one attachment image lose nothing (issue 15).

Registries have no conditional PUT, so two ``sign`` runs that read the ``.sig`` manifest
at the same time each re-PUT it with only their own layer added: one signature is lost
(cosign#2432). sigstack reads the manifest back after writing and re-merges what is
missing (oci/layouts/legacy.py); these tests start 6 and 20 real ``sigstack`` processes
against the real docker-registry at once and count what is left.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ocihelpers import Registry, fresh
from tests.helpers import Result, sigstack

from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}


def _run_all(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Result]:
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: sigstack(*argv, env={**PW, **(env or {})}, timeout=300), commands))


def _layers(image: str, suffix: str) -> list[dict]:
    ref = parse_reference(image)
    assert ref.digest is not None
    with RegistryClient() as client:
        tag = ref.repository.tag(layout.attachment_tag(ref.digest, suffix))
        return json.loads(client.get_manifest(tag).data)["layers"]


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_signers_keep_every_signature(registry: Registry, keypair, writers: int) -> None:
    key, pub = keypair
    image = fresh(registry)
    results = _run_all([["sign", "--key", str(key), "-a", f"n={i}", image] for i in range(writers)])
    for r in results:
        assert r.code == 0, r.err
    layers = _layers(image, "sig")
    assert len(layers) == writers, [x["annotations"] for x in layers]
    signatures = {x["annotations"][layout.SIGNATURE_ANNOTATION] for x in layers}
    assert len(signatures) == writers
    for x in layers:
        assert base64.b64decode(x["annotations"][layout.SIGNATURE_ANNOTATION])
    for i in (0, writers - 1):  # every writer's own claims verify
        v = sigstack("verify", "--key", str(pub), "-a", f"n={i}", image)
        assert v.code == 0, v.err


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_attesters_keep_every_attestation(registry: Registry, keypair, tmp_path: Path,
                                                     writers: int) -> None:
    key, pub = keypair
    image = fresh(registry)
    commands = []
    for i in range(writers):
        predicate = tmp_path / f"p{i}.json"
        predicate.write_text(json.dumps({"builder": {"id": f"writer-{i}"}}))
        commands.append(["attest", "--key", str(key), "--predicate", str(predicate), "--type", "slsaprovenance",
                         image])
    for r in _run_all(commands):
        assert r.code == 0, r.err
    layers = _layers(image, "att")
    assert len(layers) == writers
    assert len({x["digest"] for x in layers}) == writers
    v = sigstack("verify-attestation", "--key", str(pub), "--type", "slsaprovenance", image)
    assert v.code == 0, v.err
    builders = {json.loads(base64.b64decode(json.loads(line)["payload"]))["predicate"]["builder"]["id"]
                for line in v.out.decode().splitlines() if line.strip()}
    assert builders == {f"writer-{i}" for i in range(writers)}


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_referrers_keep_every_entry_of_the_fallback_index(registry: Registry, keypair,
                                                                     writers: int) -> None:
    """distribution 2.8 has no referrers API: every referrer goes into one
    ``sha256-<hex>`` index tag, rewritten whole by each writer."""
    key, pub = keypair
    image = fresh(registry)
    results = _run_all([["sign", "--key", str(key), "--registry-referrers-mode=oci-1-1", "-a", f"n={i}", image]
                        for i in range(writers)], env={"COSIGN_EXPERIMENTAL": "1"})
    for r in results:
        assert r.code == 0, r.err
    ref = parse_reference(image)
    assert ref.digest is not None
    with RegistryClient() as client:
        index = json.loads(client.get_manifest(ref.repository.tag(layout.referrers_tag(ref.digest))).data)
    digests = [m["digest"] for m in index["manifests"]]
    assert len(set(digests)) == writers
    assert digests == sorted(digests)  # still ggcr's order
    # readers take the last referrer listed, as cosign's verify --experimental-oci11 does
    v = sigstack("verify", "--key", str(pub), "--experimental-oci11", image,
                 env={"COSIGN_EXPERIMENTAL": "1"})
    assert v.code == 0, v.err


def test_a_layer_always_overwritten_is_an_error_not_a_success() -> None:
    """A registry where another writer always wins (the double serves the same empty
    image whatever was PUT): after ``write_attempts`` writes the append fails with
    ConcurrentUpdateError instead of reporting a signature that is not stored."""
    import hashlib

    from hostile import HostileRegistry

    from sigstack.errors import ConcurrentUpdateError
    from sigstack.oci.client import RegistryOptions
    from sigstack.oci.layouts.base import SignedEntity
    from sigstack.oci.layouts.legacy import LEGACY

    h = HostileRegistry()
    try:
        empty = layout.build_image([]).manifest
        digest = "sha256:" + "ab" * 32
        tag = f"/v2/x/manifests/{layout.attachment_tag(digest, 'sig')}"
        puts: list[bytes] = []
        served = {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                  "Docker-Content-Digest": "sha256:" + hashlib.sha256(empty).hexdigest()}
        h.route("GET", tag, lambda _r: (200, served, empty))
        h.route("HEAD", tag, lambda _r: (200, {**served, "Content-Length": str(len(empty))}, b""))

        def put(req):
            puts.append(req.rfile.read(int(req.headers["Content-Length"])))
            return 201, {}, b""

        h.route("PUT", tag, put)
        h.route("HEAD", "*", lambda _r: (200, {}, b""))  # every blob "exists": no uploads
        with RegistryClient(RegistryOptions(write_attempts=3, write_settle=0.01)) as client:
            entity = SignedEntity.at(client, parse_reference(f"{h.host}/x:v1").repository, digest)
            layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}", {layout.SIGNATURE_ANNOTATION: "QQ=="})
            with pytest.raises(ConcurrentUpdateError, match="overwritten by concurrent writers"):
                LEGACY.append(entity, "sig", [layer])
        assert len(puts) == 3 and all(b"QQ==" in p for p in puts)
    finally:
        h.close()
