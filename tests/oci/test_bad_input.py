"""Bad input, each its own case: one clear ``Error:`` line, the right exit code,
never a traceback, and nothing half-written in the registry."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from hostile import HostileRegistry
from ocihelpers import Registry, one_error, push_image
from tests.helpers import sigstack

from sigstack.errors import RegistryError
from sigstack.oci import layout
from sigstack.oci.client import OCI_MANIFEST, RegistryClient, RegistryOptions
from sigstack.oci.layouts.legacy import read_attachment
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture
def signed(registry: Registry, keypair) -> tuple[str, str]:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    assert sigstack("sign", "--key", str(keypair[0]), ref, env=PW).code == 0
    return ref, digest


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    h = HostileRegistry()
    yield h
    h.close()


def test_unknown_image_exit_11(registry, keypair) -> None:
    r = sigstack("verify", "--key", str(keypair[1]), registry.repo("no/such/image") + ":v1")
    one_error(r, 11, "Error: image tag not found: ")


def test_unknown_tag_exit_11(signed, keypair) -> None:
    ref, _ = signed
    r = sigstack("verify", "--key", str(keypair[1]), ref.rsplit(":", 1)[0] + ":nope")
    one_error(r, 11, "image tag not found: ")
    assert "MANIFEST_UNKNOWN" in r.err


def test_no_signatures_exit_10(registry, keypair) -> None:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        push_image(client, parse_reference(ref))
    one_error(sigstack("verify", "--key", str(keypair[1]), ref), 10, "Error: no signatures found")


@pytest.mark.parametrize("what", ["signed", "unsigned", "missing"])
def test_unloadable_key_is_the_error_reported(registry, signed, tmp_path, what: str) -> None:
    """The public key loads when the first signature arrives (keys.background); a key
    that cannot load is still what is reported, whatever the image, as cosign does."""
    image = {"signed": signed[0], "missing": registry.repo("no/such/image") + ":v1"}.get(what)
    if image is None:
        image = registry.repo() + ":v1"
        with RegistryClient() as client:
            push_image(client, parse_reference(image))
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    one_error(sigstack("verify", "--key", str(bad), image), 1, "PEM decoding failed")
    one_error(sigstack("verify", "--key", str(tmp_path / "absent.pub"), image), 1, "no such file")


def test_wrong_key_exit_12(signed, other_keypair) -> None:
    r = sigstack("verify", "--key", str(other_keypair[1]), signed[0])
    one_error(r, 12, "Error: no matching signatures: invalid signature when validating ASN.1 encoded "
              "signature")


def test_replayed_signature_naming_another_digest(registry, signed, keypair) -> None:
    ref, digest = signed
    parsed = parse_reference(ref)
    other = parsed.repository.tag("other")
    with RegistryClient() as client:
        other_digest = push_image(client, other)
        sig = client.get_manifest(parsed.repository.tag(layout.attachment_tag(digest, "sig")))
        client.put_manifest(parsed.repository.tag(layout.attachment_tag(other_digest, "sig")), sig.data,
                            sig.media_type)
    r = sigstack("verify", "--key", str(keypair[1]), str(other))
    one_error(r, 12, f"no matching signatures: invalid or missing digest in claim: {digest}")


def test_tampered_signature_layer(registry, signed, keypair) -> None:
    ref, digest = signed
    repo = parse_reference(ref).repository
    with RegistryClient() as client:
        stored = read_attachment(client, repo, digest, "sig")[0]
        forged = stored.data.replace(b'"optional":null', b'"optional":{"admin":"true"}')
        layer = layout.Layer(stored.media_type, forged, dict(stored.annotations))
        layout.push_image(client, repo.tag(layout.attachment_tag(digest, "sig")), layout.build_image([layer]))
    r = sigstack("verify", "--key", str(keypair[1]), ref)
    one_error(r, 12, "no matching signatures: invalid signature")


@pytest.mark.parametrize("ref", ["UPPER/Case:tag", "example.com/app:caf\u00e9", "example.com/app:.dot",
                                 "example.com/app:" + "t" * 129])
def test_invalid_reference(keypair, ref: str) -> None:
    """Tags use distribution's ASCII grammar: no other letters, no leading dot, <= 128."""
    r = sigstack("verify", "--key", str(keypair[1]), ref)
    one_error(r, 1, f"Error: could not parse reference: {ref}")


def test_bad_annotation_flag(signed, keypair) -> None:
    r = sigstack("sign", "--key", str(keypair[0]), "-a", "novalue", signed[0], env=PW)
    one_error(r, 1, "Error: unable to parse annotation: novalue")


def test_unreachable_log_fails_cleanly(signed, keypair) -> None:
    r = sigstack("sign", "--key", str(keypair[0]), "--rekor-url", "http://127.0.0.1:9", signed[0],
                 env=PW, offline=None)
    one_error(r, 1, "Error: contacting the log at http://127.0.0.1:9")


def test_oci11_mode_needs_experimental(signed, keypair) -> None:
    r = sigstack("sign", "--key", str(keypair[0]), "--registry-referrers-mode=oci-1-1", signed[0], env=PW)
    one_error(r, 1, 'in order to use  mode "oci-1-1", you must set COSIGN_EXPERIMENTAL=1')


# ---- hostile registry double ----------------------------------------------------------

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "x", "size": 2, "digest": "sha256:" + "1" * 64},
                       "layers": []}).encode()
GOOD = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def _serve(body: bytes, media: str = OCI_MANIFEST, extra: dict[str, str] | None = None):
    return lambda _req: (200, {"Content-Type": media, **(extra or {})}, body)


def test_content_not_matching_digest(hostile, keypair) -> None:
    hostile.route("GET", f"/v2/x/manifests/{GOOD}", _serve(MANIFEST + b" "))
    hostile.route("HEAD", f"/v2/x/manifests/{GOOD}", _serve(b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x@{GOOD}")
    one_error(r, 1, f"the registry served content that does not match {GOOD}")


def test_tag_with_lying_content_digest_header(hostile, keypair) -> None:
    lie = {"Docker-Content-Digest": "sha256:" + "2" * 64}
    hostile.route("GET", "/v2/x/manifests/v1", _serve(MANIFEST, extra=lie))
    hostile.route("HEAD", "/v2/x/manifests/v1", _serve(b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "Docker-Content-Digest sha256:2222")


def test_oversized_manifest(hostile, keypair) -> None:
    big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    hostile.route("GET", "/v2/x/manifests/v1", _serve(big))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "over the 4194304-byte limit")


def test_oversized_manifest_without_length(hostile) -> None:
    """The bound holds while streaming, not only from Content-Length."""
    big = b"x" * (5 * 1024 * 1024)
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (200, {"Content-Length": str(len(big))}, big))
    with RegistryClient(RegistryOptions(max_manifest_bytes=1024)) as client, \
            pytest.raises(RegistryError, match="over the 1024-byte limit"):
        client.get_manifest(parse_reference(f"{hostile.host}/x:v1"))


def test_redirect_loop(hostile, keypair) -> None:
    hostile.route("GET", "/v2/x/manifests/v1",
                  lambda _r: (307, {"Location": f"http://{hostile.host}/v2/x/manifests/v1"}, b""))
    hostile.route("HEAD", "/v2/x/manifests/v1",
                  lambda _r: (307, {"Location": f"http://{hostile.host}/v2/x/manifests/v1"}, b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "too many redirects")


def test_forbidden_says_how_to_log_in(hostile, keypair) -> None:
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (403, {}, b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, f"access denied by {hostile.host} (HTTP 403)")
    assert "sigstack login" in r.err


def test_unreachable_registry(keypair) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = sigstack("verify", "--key", str(keypair[1]), f"127.0.0.1:{port}/x:v1")
    one_error(r, 1, f"cannot reach registry 127.0.0.1:{port}")


def test_retries_503_then_succeeds(hostile) -> None:
    calls = {"n": 0}

    def flaky(_req):
        calls["n"] += 1
        if calls["n"] < 3:
            return 503, {"Retry-After": "0"}, b""
        return 200, {"Content-Type": OCI_MANIFEST}, MANIFEST

    hostile.route("GET", f"/v2/x/manifests/{GOOD}", flaky)
    with RegistryClient(RegistryOptions(backoff=0.01)) as client:
        m = client.get_manifest(parse_reference(f"{hostile.host}/x@{GOOD}"))
    assert m.digest == GOOD and calls["n"] == 3


def test_429_forever_gives_one_clear_error(hostile, keypair) -> None:
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (429, {"Retry-After": "0"}, b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "429 Too Many Requests (gave up after 4 attempts)")
    assert hostile.hits["/v2/x/manifests/v1"] == 4


def test_failed_stream_upload_leaves_nothing(registry) -> None:
    """A chunked upload that fails midway is cancelled: no blob, no manifest, no tag."""
    repo = parse_reference(registry.repo() + ":v1").repository
    data = b"a" * 3000

    class Broken(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            if self.tell() >= 1000:
                raise OSError("disk vanished")
            return super().read(n)

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with RegistryClient(RegistryOptions(chunk_bytes=1000)) as client:
        with pytest.raises(OSError):
            client.upload_blob(repo, Broken(data), digest, len(data))
        assert not client.blob_exists(repo, digest)
        with pytest.raises(RegistryError, match="does not match"):
            client.upload_blob(repo, io.BytesIO(data), "sha256:" + "3" * 64, len(data))
        assert not client.blob_exists(repo, "sha256:" + "3" * 64)
        with pytest.raises(RegistryError):
            client.list_tags(repo)  # the repository never came into existence
        client.upload_blob(repo, io.BytesIO(data), digest, len(data))  # chunked, 3 PATCHes
        assert client.get_blob(repo, digest) == data


def test_failed_manifest_put_leaves_old_signatures(hostile, tmp_path, keypair) -> None:
    """The registry accepts blobs but fails the manifest PUT: sign fails in one line
    and the .sig tag (the only thing readers see) is never touched."""
    hostile.route("HEAD", f"/v2/x/manifests/{GOOD}",
                  lambda _r: (200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": GOOD,
                                    "Content-Length": str(len(MANIFEST))}, b""))
    hostile.route("HEAD", "*", lambda _r: (404, {}, b""))
    hostile.route("POST", "/v2/x/blobs/uploads/", lambda _r: (202, {"Location": "/upload/1"}, b""))
    hostile.route("PUT", "/upload/1", lambda _r: (201, {}, b""))
    hostile.route("PUT", "*", lambda _r: (500, {}, b'{"errors":[{"code":"UNKNOWN","message":"disk full"}]}'))
    r = sigstack("sign", "--key", str(keypair[0]), f"{hostile.host}/x@{GOOD}", env=PW)
    one_error(r, 1, "disk full")
    assert hostile.hits[f"/v2/x/manifests/{layout.attachment_tag(GOOD, 'sig')}"] >= 1


def test_attachment_size_bound_from_env(signed, keypair) -> None:
    r = sigstack("verify", "--key", str(keypair[1]), signed[0], env={"COSIGN_MAX_ATTACHMENT_SIZE": "100"})
    one_error(r, 1, "over the 100-byte attachment limit")


def test_invalid_attachment_size_env(signed, keypair) -> None:
    r = sigstack("verify", "--key", str(keypair[1]), signed[0], env={"COSIGN_MAX_ATTACHMENT_SIZE": "lots"})
    one_error(r, 1, "invalid COSIGN_MAX_ATTACHMENT_SIZE: 'lots'")


def test_too_many_signature_layers(registry, signed, keypair) -> None:
    ref, digest = signed
    repo = parse_reference(ref).repository
    layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}", {layout.SIGNATURE_ANNOTATION: "AA=="})
    image = layout.build_image([layer] * 1001)
    with RegistryClient() as client:
        client.upload_blob(repo, layer.data, layer.digest)
        client.upload_blob(repo, image.config, "sha256:" + hashlib.sha256(image.config).hexdigest())
        client.put_manifest(repo.tag(layout.attachment_tag(digest, "sig")), image.manifest, image.media_type)
    r = sigstack("verify", "--key", str(keypair[1]), ref)
    one_error(r, 1, "number of layers (1001) exceeded the limit (1000)")


def test_sign_unknown_tag(registry, keypair) -> None:
    r = sigstack("sign", "--key", str(keypair[0]), registry.repo() + ":missing", env=PW)
    one_error(r, 1, "MANIFEST_UNKNOWN")


def test_wrong_password(signed, keypair) -> None:
    """The key loads while the registry is asked (sigstack.keys.background): the wrong
    password still ends the command with one error line and leaves the .sig as it was."""
    ref, digest = signed
    sig = parse_reference(ref).repository.tag(layout.attachment_tag(digest, "sig"))
    with RegistryClient() as client:
        before = client.get_manifest(sig).digest
        r = sigstack("sign", "--key", str(keypair[0]), f"{ref.rsplit(':', 1)[0]}@{digest}",
                     env={"COSIGN_PASSWORD": "nope"})
        one_error(r, 1, "decryption failed (wrong password?)")
        assert r.err.splitlines()[-1].startswith("Error: ")
        assert client.get_manifest(sig).digest == before


def test_signature_replayed_onto_another_repository(registry, signed, keypair) -> None:
    """Same image bytes in two repositories: a .sig copied across names the first one."""
    ref, digest = signed
    src = parse_reference(ref).repository
    dst = parse_reference(registry.repo("replay/target") + ":v1")
    with RegistryClient() as client:
        from sigstack.oci.attach import copy

        copy(client, client, parse_reference(ref), dst)
    target = f"{dst.repository.name}@{digest}"
    r = sigstack("verify", "--key", str(keypair[1]), target)
    one_error(r, 12, f"no matching signatures: the signed payload names {src.name}, "
              f"not {dst.repository.name}")
    ok = sigstack("verify", "--check-reference=false", "--key", str(keypair[1]), target)
    assert ok.code == 0


def test_plain_http_needs_allow_http_registry_for_non_loopback_hosts(registry, keypair) -> None:
    """0.0.0.0 reaches the loopback registry but, as for ggcr, is not a loopback name:
    plain HTTP to it needs --allow-http-registry."""
    port = registry.host.split(":")[1]
    ref = f"0.0.0.0:{port}/plain/http:v1"
    r = sigstack("sign", "--key", str(keypair[0]), ref, env=PW)
    one_error(r, 1, f"cannot reach registry 0.0.0.0:{port}")
    assert "(a plain-HTTP registry needs --allow-http-registry)" in r.err
    with RegistryClient(RegistryOptions(allow_http=True)) as client:
        push_image(client, parse_reference(ref))
    assert sigstack("sign", "--allow-http-registry", "--key", str(keypair[0]), ref, env=PW).code == 0
    ok = sigstack("verify", "--allow-http-registry", "--key", str(keypair[1]), ref)
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("value", ["soon", "10", "0s"])
def test_bad_timeout(signed, keypair, value) -> None:
    r = sigstack("verify", "-t", value, "--key", str(keypair[1]), signed[0])
    one_error(r, 1, f'invalid argument "{value}" for "-t, --timeout" flag')


def test_timeout_applies(hostile, keypair) -> None:
    """The registry answers only after the command has ended, so only the timeout can end it
    (no clock: a wall-clock bound would flake on a loaded machine)."""
    import threading

    release = threading.Event()

    def slow(_req):
        release.wait(60)
        return 200, {}, b"{}"

    hostile.route("GET", "/v2/x/manifests/v1", slow)
    try:
        r = sigstack("verify", "-t", "500ms", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    finally:
        release.set()
    one_error(r, 1, "timed out")


def test_dropped_connections_are_retried(hostile) -> None:
    calls = {"n": 0}

    def flaky(_req):
        calls["n"] += 1
        return (0, {}, b"") if calls["n"] < 3 else (200, {"Content-Type": OCI_MANIFEST}, MANIFEST)

    hostile.route("GET", f"/v2/x/manifests/{GOOD}", flaky)
    with RegistryClient(RegistryOptions(backoff=0.01)) as client:
        assert client.get_manifest(parse_reference(f"{hostile.host}/x@{GOOD}")).data == MANIFEST
    assert calls["n"] == 3


def test_dropped_connections_forever(hostile, keypair) -> None:
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (0, {}, b""))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "Server disconnected without sending a response")
