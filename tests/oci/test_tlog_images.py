"""Image signatures and attestations through the transparency log, as cosign does them:
a real registry (docker-registry), a real `sigstack tlog serve` (SQLite, ECDSA P-256
log key) on loopback, the real cosign v3 and v2 and rekor-cli.

Signing uploads (cosign's default ``--tlog-upload=true``); the evidence lives in the
layer's ``dev.sigstore.cosign/bundle`` annotation (SET form) or the bundle's tlog entry,
and verification checks it offline against the log key. Every way of tampering with
that evidence is its own case.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ocihelpers import Registry, fresh
from tests.helpers import Result, assert_clean_error, run_peer, sigstack
from tests.tlog._support import TlogServer, write_key

from sigstack.bundle import trusted_root_for_log
from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.layouts.referrers import list_referrers, push_referrer
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One log for the module; ``env`` points cosign and sigstack at its key."""
    d = tmp_path_factory.mktemp("tlog")
    server = TlogServer(str(d / "log.db"), write_key(d / "log.key"), d).start()
    root = d / "trusted_root.json"
    root.write_bytes(trusted_root_for_log(server.public_key.read_bytes(), server.url))
    yield {"url": server.url, "pub": str(server.public_key), "root": str(root),
           "env": {**PW, "SIGSTORE_REKOR_PUBLIC_KEY": str(server.public_key)}}
    server.stop()


def logged(*args: str, log: dict[str, Any]) -> Result:
    """sigstack with the log: signing commands upload to it, verifying ones trust its key
    (and look signatures without evidence up in it)."""
    return sigstack(args[0], "--rekor-url", log["url"], *args[1:], env=log["env"], offline=None)


def stored_layer(img: str, suffix: str) -> tuple[dict[str, Any], str]:
    """The manifest of the image's ``.sig``/``.att`` tag, and that tag."""
    ref = parse_reference(img)
    tag = ref.repository.tag(layout.attachment_tag(ref.digest or "", suffix))
    with RegistryClient() as client:
        return json.loads(client.get_manifest(tag).data), tag.name


def put_manifest(tag: str, manifest: dict[str, Any]) -> None:
    from sigstack.payload import gojson

    ref = parse_reference(tag)
    with RegistryClient() as client:
        client.put_manifest(ref, gojson.dumps(manifest), manifest["mediaType"])


def annotation(img: str, suffix: str = "sig") -> dict[str, Any]:
    manifest, _ = stored_layer(img, suffix)
    doc: dict[str, Any] = json.loads(manifest["layers"][0]["annotations"][layout.BUNDLE_ANNOTATION])
    return doc


def one_error(r: Result, code: int, text: str) -> None:
    err = r.err
    assert r.code == code, err
    assert "Traceback" not in err
    assert text in err, err


# ---- sigstack both ways -----------------------------------------------------------------


def test_sign_uploads_and_verify_checks_offline(registry, keypair, log) -> None:
    img = fresh(registry)
    r = logged("sign", "--key", str(keypair[0]), img, log=log)
    assert r.code == 0, r.err
    assert "tlog entry created with index: " in r.err
    index = int(r.err.split("tlog entry created with index: ")[1].split()[0])
    rb = annotation(img)
    assert list(rb) == ["SignedEntryTimestamp", "Payload"]
    assert list(rb["Payload"]) == ["body", "integratedTime", "logIndex", "logID"]
    assert rb["Payload"]["logIndex"] == index
    for how in (["--trusted-root", log["root"]], []):  # a trusted root, or $SIGSTORE_REKOR_PUBLIC_KEY
        v = logged("verify", "--key", str(keypair[1]), *how, img, log=log)
        assert v.code == 0, v.err
        assert "Existence of the claims in the transparency log was verified offline" in v.err
        assert json.loads(v.out)[0]["optional"]["Bundle"] == rb
    got = sigstack("tlog", "get", "--rekor-url", log["url"], "--log-index", str(index),
                   "--public-key", log["pub"])
    assert got.code == 0, got.err
    assert str(index) in got.stdout + got.err


def test_bundle_format_carries_the_whole_entry(registry, keypair, log) -> None:
    img = fresh(registry)
    r = logged("sign", "--new-bundle-format", "--key", str(keypair[0]), img, log=log)
    assert r.code == 0, r.err
    v = logged("verify", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err
    a = logged("attest", "--new-bundle-format", "--key", str(keypair[0]), "--predicate",
               _predicate(registry), img, log=log)
    assert a.code == 0, a.err
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err


def _predicate(registry: Registry) -> str:
    path = registry.root / "predicate.json"
    path.write_text('{"builder":{"id":"me"}}')
    return str(path)


def test_attestation_logged_as_dsse(registry, keypair, log) -> None:
    img = fresh(registry)
    r = logged("attest", "--key", str(keypair[0]), "--predicate", _predicate(registry), img, log=log)
    assert r.code == 0, r.err
    body = json.loads(base64.b64decode(annotation(img, "att")["Payload"]["body"]))
    assert (body["kind"], body["apiVersion"]) == ("dsse", "0.0.1")
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err


def test_signature_without_evidence_fails_unless_ignored(registry, keypair, log) -> None:
    img = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", img, env=PW).code == 0
    v = logged("verify", "--key", str(keypair[1]), img, log=log)
    one_error(v, 12, "signature not found in transparency log")
    v = logged("verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, log=log)
    assert v.code == 0, v.err
    assert "WARNING: Skipping tlog verification is an insecure practice" in v.err


def test_no_log_key_is_an_error(registry, keypair, log) -> None:
    img = fresh(registry)
    r = sigstack("verify", "--key", str(keypair[1]), img, unset=("SIGSTORE_REKOR_PUBLIC_KEY",), offline=None,
                 timeout=60)
    one_error(r, 1, "Error: no trusted transparency log key")


# ---- tampering ------------------------------------------------------------------------


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _payload(key: str, fn: Callable[[Any], Any]) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    def mutate(rb: dict[str, Any], other: dict[str, Any]) -> str:
        rb["Payload"][key] = fn(rb["Payload"][key])
        return json.dumps(rb)
    return mutate


def _set(rb: dict[str, Any], other: dict[str, Any]) -> str:
    rb["SignedEntryTimestamp"] = _flip(rb["SignedEntryTimestamp"])
    return json.dumps(rb)


def _body(rb: dict[str, Any], other: dict[str, Any]) -> str:
    body = base64.b64decode(rb["Payload"]["body"]).replace(b'"sha256"', b'"sha256" ')
    rb["Payload"]["body"] = base64.b64encode(body).decode()
    return json.dumps(rb)


# Messages are cosign's (same cases run against cosign v3/v2 print the same words), except
# the unknown field, which cosign's encoding/json ignores and our strict parser refuses.
TAMPER: dict[str, tuple[Callable[[dict[str, Any], dict[str, Any]], str], str]] = {
    "annotation-not-json": (lambda rb, o: "{not json", "no matching signatures: unmarshaling bundle"),
    "annotation-unknown-field": (lambda rb, o: json.dumps({**rb, "Extra": 1}), "unknown field"),
    "set": (_set, "error verifying bundle: unable to verify SET"),
    "body": (_body, "error verifying bundle: unable to verify SET"),
    "log-index": (_payload("logIndex", lambda v: v + 1), "error verifying bundle: unable to verify SET"),
    "integrated-time": (_payload("integratedTime", lambda v: v + 1), "unable to verify SET"),
    "log-id": (_payload("logID", lambda v: "00" + v[2:]), "rekor log public key not found for payload"),
    "other-entry-pasted": (lambda rb, o: json.dumps(o),
                           "signature in bundle does not match signature being verified"),
}


@pytest.fixture(scope="module")
def two_signed(registry, keypair, log) -> tuple[str, str]:
    imgs = (fresh(registry), fresh(registry))
    for img in imgs:
        r = logged("sign", "--key", str(keypair[0]), img, log=log)
        assert r.code == 0, r.err
    return imgs


@pytest.mark.parametrize("case", list(TAMPER), ids=list(TAMPER))
def test_tampered_evidence_rejected(case, two_signed, keypair, log) -> None:
    img, other = two_signed
    manifest, tag = stored_layer(img, "sig")
    original = json.loads(json.dumps(manifest))
    ann = manifest["layers"][0]["annotations"]
    mutate, message = TAMPER[case]
    ann[layout.BUNDLE_ANNOTATION] = mutate(json.loads(ann[layout.BUNDLE_ANNOTATION]), annotation(other))
    put_manifest(tag, manifest)
    try:
        v = logged("verify", "--key", str(keypair[1]), img, log=log)
        one_error(v, 12, message)
    finally:
        put_manifest(tag, original)
    assert logged("verify", "--key", str(keypair[1]), img, log=log).code == 0


def test_evidence_removed_is_looked_up_in_the_log(two_signed, keypair, log) -> None:
    """As cosign: no annotation -> the entry is searched at --rekor-url and verified offline."""
    img, _ = two_signed
    manifest, tag = stored_layer(img, "sig")
    original = json.loads(json.dumps(manifest))
    del manifest["layers"][0]["annotations"][layout.BUNDLE_ANNOTATION]
    put_manifest(tag, manifest)
    try:
        v = logged("verify", "--key", str(keypair[1]), img, log=log)
        assert v.code == 0, v.err
        other_log = write_key(Path(log["root"]).parent / "other-log.key")
        v = logged("verify", "--key", str(keypair[1]), img, log={**log, "env": {
            **log["env"], "SIGSTORE_REKOR_PUBLIC_KEY": str(other_log.with_suffix(".pub"))}})
        one_error(v, 12, "not trusted")
    finally:
        put_manifest(tag, original)


@pytest.mark.parametrize("entry_type", ["dsse", "intoto"])
def test_attestation_evidence_removed_is_looked_up_in_the_log(registry, keypair, log, entry_type) -> None:
    """As cosign: an .att layer without the annotation is searched at --rekor-url (the dsse,
    then the intoto entry this envelope and key would make) and verified offline."""
    img = fresh(registry)
    assert logged("attest", "--key", str(keypair[0]), "--rekor-entry-type", entry_type, "--predicate",
                  _predicate(registry), img, log=log).code == 0
    manifest, tag = stored_layer(img, "att")
    del manifest["layers"][0]["annotations"][layout.BUNDLE_ANNOTATION]
    put_manifest(tag, manifest)
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err
    other_log = write_key(Path(log["root"]).parent / f"other-att-log-{entry_type}.key")
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log={**log, "env": {
        **log["env"], "SIGSTORE_REKOR_PUBLIC_KEY": str(other_log.with_suffix(".pub"))}})
    one_error(v, 12, "not trusted")


def test_unlogged_attestation_is_not_found_unless_ignored(registry, keypair, log) -> None:
    img = fresh(registry)
    assert logged("attest", "--key", str(keypair[0]), "--tlog-upload=false", "--predicate",
                  _predicate(registry), img, log=log).code == 0
    one_error(logged("verify-attestation", "--key", str(keypair[1]), img, log=log), 12,
              "attestation not found in transparency log")
    ok = logged("verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, log=log)
    assert ok.code == 0, ok.err


def test_signature_evidence_pasted_onto_attestation_rejected(registry, keypair, log) -> None:
    img = fresh(registry)
    assert logged("sign", "--key", str(keypair[0]), img, log=log).code == 0
    assert logged("attest", "--key", str(keypair[0]), "--predicate", _predicate(registry), img,
                  log=log).code == 0
    manifest, tag = stored_layer(img, "att")
    manifest["layers"][0]["annotations"][layout.BUNDLE_ANNOTATION] = json.dumps(annotation(img, "sig"))
    put_manifest(tag, manifest)
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    one_error(v, 12, "not dsse 0.0.1 or intoto")


def test_tampered_bundle_entry_rejected(registry, keypair, log) -> None:
    """A bundle's inclusion proof is checked too: a wrong tree size breaks it. (The tampered
    bundle is pushed as a new referrer and the genuine one deleted.)"""
    img = fresh(registry)
    assert logged("sign", "--key", str(keypair[0]), fresh(registry), log=log).code == 0  # tree grows
    assert logged("sign", "--new-bundle-format", "--key", str(keypair[0]), img, log=log).code == 0
    ref = parse_reference(img)
    with RegistryClient() as client:
        descs = list_referrers(client, ref.repository, ref.digest or "")
        manifest = client.get_manifest(ref.repository.digest(descs[0].digest))
        blob_desc = json.loads(manifest.data)["layers"][0]
        doc = json.loads(client.get_blob(ref.repository, blob_desc["digest"]))
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["treeSize"] = str(int(proof["treeSize"]) + 3)
    data = json.dumps(doc).encode()
    from sigstack.oci.client import sha256_digest

    m = json.loads(manifest.data)
    m["layers"][0].update(digest=sha256_digest(data), size=len(data))
    with RegistryClient() as client:
        client.upload_blob(ref.repository, data, sha256_digest(data))
        from sigstack.payload import gojson

        push_referrer(client, ref.repository, gojson.dumps(m), m["mediaType"], ref.digest or "",
                             layout.BUNDLE_MEDIA)
        client.delete_manifest(ref.repository.digest(descs[0].digest))  # only the tampered one is left
    v = logged("verify", "--key", str(keypair[1]), img, log=log)
    # the proof's length depends on where the module's shared log stands: any size, but refused
    assert_clean_error(v, "no matching attestations: wrong inclusion proof size ")
    assert re.search(r"wrong inclusion proof size \d+ for leaf \d+ in a tree of size \d+; want \d+", v.err), v.err
    assert "inclusion proof" in v.err or "checkpoint" in v.err, v.err


# ---- the real cosign ----------------------------------------------------------------------

COSIGN_SIGN = {
    "cosign": ("--use-signing-config=false", "--new-bundle-format=false", "-y"),
    "cosign_v2": ("-y",),
}


@pytest.mark.interop
@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_cosign_signature_through_our_log_verified_by_sigstack(peer, request, registry, keypair, log,
                                                               rekor_cli) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    r = run_peer(exe, "sign", "--key", str(keypair[0]), "--rekor-url", log["url"], *COSIGN_SIGN[peer], img, env=PW)
    assert r.code == 0, r.err
    rb = annotation(img)
    # our writer reproduces cosign's annotation byte for byte
    from sigstack.bundle import parse_rekor_bundle
    from sigstack.sign.image import bundle_annotation

    manifest, _ = stored_layer(img, "sig")
    written = manifest["layers"][0]["annotations"][layout.BUNDLE_ANNOTATION]
    assert bundle_annotation(parse_rekor_bundle(json.loads(written))) == written
    v = logged("verify", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err
    assert json.loads(v.out)[0]["optional"]["Bundle"] == rb
    v = logged("verify", "--key", str(keypair[1]), "--trusted-root", log["root"], img, log=log)
    assert v.code == 0, v.err
    got = run_peer(rekor_cli, "get", "--rekor_server", log["url"], "--log-index", str(rb["Payload"]["logIndex"]),
              "--format", "json", env=PW)
    assert got.code == 0, got.err
    entry = json.loads(got.out)
    assert entry["LogIndex"] == rb["Payload"]["logIndex"]
    assert entry["Body"]["HashedRekordObj"]["signature"]["content"] == \
        manifest["layers"][0]["annotations"][layout.SIGNATURE_ANNOTATION]


@pytest.mark.interop
def test_bundles_through_our_log_both_ways(cosign, registry, keypair, log) -> None:
    """cosign v3's default layout: a bundle v0.3 referrer with the whole log entry."""
    img = fresh(registry)
    r = run_peer(cosign, "sign", "--key", str(keypair[0]), "--rekor-url", log["url"], "--use-signing-config=false",
            "-y", img, env=PW)
    assert r.code == 0, r.err
    v = logged("verify", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err
    assert json.loads(v.out)[0]["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
    img = fresh(registry)
    r = logged("sign", "--new-bundle-format", "--key", str(keypair[0]), img, log=log)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--trusted-root", log["root"], img, env=PW)
    assert ok.code == 0, ok.err
    # attestations as bundles, both ways
    pred = _predicate(registry)
    r = logged("attest", "--new-bundle-format", "--key", str(keypair[0]), "--predicate", pred, img, log=log)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--trusted-root", log["root"], img, env=PW)
    assert ok.code == 0, ok.err
    img = fresh(registry)
    r = run_peer(cosign, "attest", "--key", str(keypair[0]), "--rekor-url", log["url"], "--use-signing-config=false",
            "--predicate", pred, "-y", img, env=PW)
    assert r.code == 0, r.err
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err


@pytest.mark.interop
@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_signature_through_our_log_verified_by_cosign(peer, request, registry, keypair, log) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    r = logged("sign", "--key", str(keypair[0]), img, log=log)
    assert r.code == 0, r.err
    ok = run_peer(exe, "verify", "--key", str(keypair[1]), img, env={**PW, **log["env"]})
    assert ok.code == 0, ok.err
    assert "Existence of the claims in the transparency log was verified offline" in ok.err
    ours = logged("verify", "--key", str(keypair[1]), img, log=log)
    assert json.loads(ours.out) == json.loads(ok.out)
    if peer == "cosign":
        ok = run_peer(exe, "verify", "--key", str(keypair[1]), "--trusted-root", log["root"], img, env=PW)
        assert ok.code == 0, ok.err


@pytest.mark.interop
@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_attestations_through_our_log_both_ways(peer, request, registry, keypair, log) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    pred = _predicate(registry)
    r = logged("attest", "--key", str(keypair[0]), "--predicate", pred, img, log=log)
    assert r.code == 0, r.err
    ok = run_peer(exe, "verify-attestation", "--key", str(keypair[1]), img, env={**PW, **log["env"]})
    assert ok.code == 0, ok.err
    img = fresh(registry)
    r = run_peer(exe, "attest", "--key", str(keypair[0]), "--rekor-url", log["url"], "--predicate", pred,
            *COSIGN_SIGN[peer], img, env=PW)
    assert r.code == 0, r.err
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err


@pytest.mark.interop
def test_cosign_v2_intoto_attestation_verified_by_sigstack(cosign_v2, registry, keypair, log) -> None:
    """cosign v2 can log attestations as intoto 0.0.1 (--rekor-entry-type intoto): our log
    takes the upload, and our verifier matches the entry to the .att layer."""
    img = fresh(registry)
    r = run_peer(cosign_v2, "attest", "--key", str(keypair[0]), "--rekor-url", log["url"], "--rekor-entry-type",
            "intoto", "--predicate", _predicate(registry), "-y", img, env=PW)
    assert r.code == 0, r.err
    body = json.loads(base64.b64decode(annotation(img, "att")["Payload"]["body"]))
    assert (body["kind"], body["apiVersion"]) == ("intoto", "0.0.1")
    v = logged("verify-attestation", "--key", str(keypair[1]), img, log=log)
    assert v.code == 0, v.err


@pytest.mark.interop
@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_intoto_attestation_verified_by_cosign(peer, request, registry, keypair, log) -> None:
    """sigstack attest --rekor-entry-type intoto (cosign v2's flag) writes what cosign verifies."""
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    r = logged("attest", "--key", str(keypair[0]), "--rekor-entry-type", "intoto", "--predicate",
               _predicate(registry), img, log=log)
    assert r.code == 0, r.err
    body = json.loads(base64.b64decode(annotation(img, "att")["Payload"]["body"]))
    assert (body["kind"], body["apiVersion"]) == ("intoto", "0.0.1")
    ok = run_peer(exe, "verify-attestation", "--key", str(keypair[1]), img, env={**PW, **log["env"]})
    assert ok.code == 0, ok.err
    assert logged("verify-attestation", "--key", str(keypair[1]), img, log=log).code == 0


def test_intoto_attestation_swapped_envelope_is_refused(registry, keypair, other_keypair, log) -> None:
    """An intoto 0.0.1 entry keeps no signature: the envelope hash is what binds it, so an
    envelope re-signed by another key under the old evidence must fail."""
    img = fresh(registry)
    assert logged("attest", "--key", str(keypair[0]), "--rekor-entry-type", "intoto", "--predicate",
                  _predicate(registry), img, log=log).code == 0
    from sigstack import keys
    from sigstack.oci.client import sha256_digest
    from sigstack.payload import dsse

    manifest, tag = stored_layer(img, "att")
    repo = parse_reference(img).repository
    with RegistryClient() as client:
        logged_envelope = dsse.parse(client.get_blob(repo, manifest["layers"][0]["digest"]))
        # the same statement, signed by another key: only the signature differs
        forged = dsse.sign(keys.load_signer(str(other_keypair[0]), b"pw"), logged_envelope.payload).to_json()
        client.upload_blob(repo, forged, sha256_digest(forged))
    manifest["layers"][0].update(digest=sha256_digest(forged), size=len(forged))
    put_manifest(tag, manifest)
    v = logged("verify-attestation", "--key", str(other_keypair[1]), img, log=log)
    assert v.code == 12, v.err
    assert "the log entry is for a different envelope" in v.err and "Traceback" not in v.err


def test_intoto_entry_type_refused_with_bundles(registry, keypair, log) -> None:
    r = logged("attest", "--key", str(keypair[0]), "--rekor-entry-type", "intoto", "--new-bundle-format",
               "--predicate", _predicate(registry), fresh(registry), log=log)
    assert r.code == 1
    assert r.err.strip().splitlines()[-1] == (
        "Error: --rekor-entry-type intoto cannot be used with --new-bundle-format (a bundle's log entry "
        "must record the signature: use dsse)")


