"""OCI 1.1 storage: ``--registry-referrers-mode=oci-1-1`` (§2.9) and
``--new-bundle-format`` (§2.10).

Distribution 2.8 has no referrers API, so against it these exercise the
``sha256-<hex>`` fallback index tag, with the real cosign on the other side. The
referrers API itself is exercised against ``ReferrersDouble`` below: a small
in-memory double of the OCI 1.1 distribution API (manifests by digest, blobs,
``GET /v2/<repo>/referrers/<digest>`` with ``artifactType`` filtering), because
no registry with that API is installed here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from hostile import HostileRegistry
from ocihelpers import Registry, push_image
from tests.helpers import run_peer, sigstack

from sigstack.oci import layout
from sigstack.oci.client import OCI_INDEX, OCI_MANIFEST, RegistryClient
from sigstack.oci.layouts.referrers import list_referrers
from sigstack.oci.reference import parse_reference
from sigstack.sign.image import ImageSignOptions, sign_image
from sigstack.verify.evidence import LogPolicy
from sigstack.verify.image import ImageVerifyOptions, verify_image

PW = {"COSIGN_PASSWORD": "pw"}
EXP = {**PW, "COSIGN_EXPERIMENTAL": "1"}


def fresh(registry: Registry) -> tuple[str, str]:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}", digest


@pytest.mark.interop
def test_oci11_mode_fallback_tag_and_cosign(cosign, registry, keypair) -> None:
    img, digest = fresh(registry)
    r = sigstack("sign", "--key", str(keypair[0]), "--registry-referrers-mode=oci-1-1", img, env=EXP)
    assert r.code == 0, r.err
    assert "with config.mediaType [application/vnd.dev.cosign.artifact.sig.v1+json]" in r.err
    parsed = parse_reference(img)
    with RegistryClient() as client:
        tags = client.list_tags(parsed.repository)
        assert layout.attachment_tag(digest, "") in tags and layout.attachment_tag(digest, "sig") not in tags
        found = list_referrers(client, parsed.repository, digest, layout.SIG_ARTIFACT)
        doc = client.get_manifest(parsed.repository.digest(found[0].digest)).json()
    assert list(doc) == ["schemaVersion", "mediaType", "config", "layers", "subject", "artifactType"]
    assert doc["config"]["mediaType"] == doc["artifactType"] == layout.SIG_ARTIFACT
    assert doc["subject"]["digest"] == digest
    # plain verify does not look there (as cosign); --experimental-oci11 does
    assert sigstack("verify", "--key", str(keypair[1]), img).code == 10
    assert sigstack("verify", "--experimental-oci11", "--key", str(keypair[1]), img).code == 0
    ok = run_peer(cosign, "verify", "--experimental-oci11", "--key", str(keypair[1]), "--insecure-ignore-tlog",
             img, env=EXP)
    assert ok.code == 0, ok.err


@pytest.mark.interop
def test_cosign_oci11_signature_read_by_sigstack(cosign, registry, keypair) -> None:
    img, _ = fresh(registry)
    r = run_peer(cosign, "sign", "--registry-referrers-mode=oci-1-1", "--key", str(keypair[0]),
            "--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "-y", img, env=EXP)
    assert r.code == 0, r.err
    v = sigstack("verify", "--experimental-oci11", "--key", str(keypair[1]), img)
    assert v.code == 0, v.err


def test_bundle_and_legacy_both_found(registry, keypair) -> None:
    """A bundle referrer wins over .sig (as cosign v3 verify); tree shows both."""
    img, digest = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), "-a", "k=v", img,
                    env=PW).code == 0
    v = sigstack("verify", "--key", str(keypair[1]), "-a", "k=v", img)
    assert v.code == 0, v.err
    out = json.loads(v.out)
    assert out == [{"critical": {"identity": {"docker-reference": img},
                                 "image": {"docker-manifest-digest": digest},
                                 "type": "https://sigstore.dev/cosign/sign/v1"},
                    "optional": {"k": "v"}}]
    parsed = parse_reference(img)
    with RegistryClient() as client:
        index = client.get_manifest(parsed.repository.tag(layout.attachment_tag(digest, ""))).json()
        entry = index["manifests"][0]
        manifest = client.get_manifest(parsed.repository.digest(entry["digest"])).json()
    assert entry["artifactType"] == layout.BUNDLE_MEDIA and "annotations" not in entry
    empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                                  "digest": empty, "artifactType": layout.BUNDLE_MEDIA}
    assert sorted(manifest["annotations"]) == ["dev.sigstore.bundle.content",
                                               "dev.sigstore.bundle.predicateType",
                                               "org.opencontainers.image.created"]
    legacy = sigstack("verify", "-d", "--new-bundle-format=false", "--key", str(keypair[1]), img)
    assert legacy.code == 0, legacy.err
    assert json.loads(legacy.out)[0]["critical"]["type"] == "cosign container image signature"
    assert f"--> GET http://{img.split('/')[0]}/v2/" in legacy.err
    assert "/referrers/" not in legacy.err
    tree = sigstack("tree", img).out.decode()
    assert "🔐 Signatures for an image tag" in tree and "🔗 https://sigstore.dev/cosign/sign/v1" in tree


class ReferrersDouble:
    """In-memory double of an OCI 1.1 registry with the referrers API."""

    def __init__(self) -> None:
        self.h = HostileRegistry()
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        h = self.h

        def put_manifest(req):
            body = req.rfile.read(int(req.headers["Content-Length"]))
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            ref = req.path.split("/manifests/")[1]
            self.manifests[digest] = self.manifests[ref] = (req.headers["Content-Type"], body)
            return 201, {"Docker-Content-Digest": digest}, b""

        def get_manifest(req):
            ref = req.path.split("/manifests/")[1]
            if ref not in self.manifests:
                return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
            media, body = self.manifests[ref]
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            return 200, {"Content-Type": media, "Docker-Content-Digest": digest}, body

        def referrers(req):
            path, _, query = req.path.partition("?")
            subject = path.rsplit("/", 1)[1]
            want = query.split("artifactType=")[1].replace("%2F", "/").replace("%2B", "+") if query else None
            out = []
            for d, (media, body) in self.manifests.items():
                if not d.startswith("sha256:"):
                    continue
                doc = json.loads(body)
                if doc.get("subject", {}).get("digest") != subject:
                    continue
                at = doc.get("artifactType") or doc.get("config", {}).get("mediaType")
                if want and at != want:
                    continue
                out.append({"mediaType": media, "size": len(body), "digest": d, "artifactType": at,
                            **({"annotations": doc["annotations"]} if doc.get("annotations") else {})})
            return 200, {"Content-Type": OCI_INDEX}, json.dumps(
                {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": out}).encode()

        def blob_head(req):
            return (200 if req.path.rsplit("/", 1)[1] in self.blobs else 404), {}, b""

        def upload_put(req):
            body = req.rfile.read(int(req.headers.get("Content-Length", 0)))
            self.blobs["sha256:" + hashlib.sha256(body).hexdigest()] = body
            return 201, {}, b""

        def dispatch(method):
            def go(req):
                p = req.path
                if "/referrers/" in p:
                    return referrers(req)
                if "/manifests/" in p:
                    return {"GET": get_manifest, "HEAD": get_manifest, "PUT": put_manifest}[method](req)
                if "/blobs/uploads/" in p and method == "POST":
                    return 202, {"Location": "/upload/x"}, b""
                if p.startswith("/upload/") and method == "PUT":
                    return upload_put(req)
                if "/blobs/" in p and method == "HEAD":
                    return blob_head(req)
                if "/blobs/" in p and method == "GET" and p.rsplit("/", 1)[1] in self.blobs:
                    return 200, {}, self.blobs[p.rsplit("/", 1)[1]]
                return 404, {}, b""
            return go

        for m in ("GET", "HEAD", "PUT", "POST"):
            h.route(m, "*", dispatch(m))


@pytest.fixture
def double() -> Iterator[ReferrersDouble]:
    d = ReferrersDouble()
    yield d
    d.h.close()


@pytest.mark.parametrize("bundle", [False, True])
def test_referrers_api_used_without_fallback_tag(double, keypair, bundle) -> None:
    from sigstack import keys

    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    double.manifests[digest] = (OCI_MANIFEST, manifest)
    ref = parse_reference(f"{double.h.host}/app@{digest}")
    signer = keys.load_signer(str(keypair[0]), b"pw")
    with RegistryClient() as client:
        opts = ImageSignOptions(new_bundle_format=bundle, referrers_mode="legacy" if bundle else "oci-1-1")
        sign_image(client, signer, ref, opts)
        assert layout.attachment_tag(digest, "") not in double.manifests  # the API answered
        assert "/v2/app/referrers/" + digest in double.h.hits
        found = list_referrers(client, ref.repository, digest)
        assert len(found) == 1
        result = verify_image(client, keys.load_verifier(str(keypair[1])), ref,
                              ImageVerifyOptions(experimental_oci11=True, log=LogPolicy(insecure_ignore_tlog=True)))
    assert [s.layout for s in result.signatures] == ["bundle" if bundle else "oci-1-1"]
