"""``save`` / ``load`` / ``verify --local-image`` against the real registry and the real
cosign v3, in both directions: a directory written by either tool is read by the other.

Signing is key-only in the legacy layout (``--tlog-upload=false``; cosign v3 also
``--new-bundle-format=false --use-signing-config=false``), except where a test asks
for cosign's Sigstore bundle (an OCI 1.1 referrer, saved as orphan blobs by cosign).
A signature loaded into another repository names the repository it was made in, so
sigstack's own registry verify there needs ``--check-reference=false`` (cosign does not
compare the name at all).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from ocihelpers import fresh, push_index
from tests.helpers import Result, assert_clean_error, run_peer, sigstack

from sigstack.errors import NotFoundError
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}
COSIGN_LEGACY = ("--tlog-upload=false", "--new-bundle-format=false", "--use-signing-config=false", "-y")


@pytest.fixture(scope="module")
def predicate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("pred") / "predicate.json"
    p.write_text(json.dumps({"builder": {"id": "me"}}))
    return p


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def saved_kinds(directory: Path) -> list[str]:
    index = json.loads((directory / "index.json").read_text())
    return [m["annotations"]["kind"] for m in index["manifests"]]


def test_sigstack_save_read_by_cosign(registry, keypair, other_keypair, cosign, predicate,
                                      tmp_path: Path) -> None:
    img = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    r = sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate), img, env=PW)
    assert r.code == 0, r.err
    out = tmp_path / "saved"
    r = sigstack("save", "--dir", str(out), img)
    assert r.code == 0, r.err
    assert saved_kinds(out) == ["dev.cosignproject.cosign/image", "dev.cosignproject.cosign/sigs",
                                "dev.cosignproject.cosign/atts"]

    # cosign reads our directory straight from disk...
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", "--local-image", str(out),
                  env=PW)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)[0]["critical"]["image"]["docker-manifest-digest"] == img.split("@")[1]
    ok = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog",
             "--local-image", str(out), env=PW)
    assert ok.code == 0, ok.err
    bad = run_peer(cosign, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog",
              "--local-image", str(out), env=PW)
    # cosign's local path exits 1 here, not 12
    assert_clean_error(bad, "no matching signatures: invalid signature when validating ASN.1 encoded signature")

    # ...and loads it into another repository, where its own verify accepts.
    moved = registry.repo() + ":moved"
    r = run_peer(cosign, "load", "--dir", str(out), moved, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", moved, env=PW)
    assert ok.code == 0, ok.err
    ok = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog", moved, env=PW)
    assert ok.code == 0, ok.err


@pytest.mark.parametrize("bundle", [False, True], ids=["legacy", "bundle"])
def test_cosign_save_read_by_sigstack(registry, keypair, other_keypair, cosign, predicate, tmp_path: Path,
                                      bundle: bool) -> None:
    img = fresh(registry)
    sign_flags = ("--tlog-upload=false", "--use-signing-config=false", "-y") if bundle else COSIGN_LEGACY
    r = run_peer(cosign, "sign", "--key", str(keypair[0]), *sign_flags, img, env=PW)
    assert r.code == 0, r.err
    r = run_peer(cosign, "attest", "--key", str(keypair[0]), *sign_flags, "--predicate", str(predicate), img, env=PW)
    assert r.code == 0, r.err
    out = tmp_path / "cosign-saved"
    r = run_peer(cosign, "save", "--dir", str(out), img, env=PW)
    assert r.code == 0, r.err
    ours = tmp_path / "sigstack-saved"  # the same image saved by us: the same files, byte for byte
    assert sigstack("save", "--dir", str(ours), img).code == 0
    assert _files(ours) == _files(out)

    ok = sigstack("verify", "--key", str(keypair[1]), "--local-image", str(out))
    assert ok.code == 0, ok.err
    found = json.loads(ok.out)
    assert found[0]["critical"]["image"]["docker-manifest-digest"] == img.split("@")[1]
    assert found[0]["critical"]["type"] == ("https://sigstore.dev/cosign/sign/v1" if bundle
                                            else "cosign container image signature")
    assert f"Verification for {out}" in ok.err
    att = sigstack("verify-attestation", "--key", str(keypair[1]), "--local-image", str(out))
    assert att.code == 0, att.err
    wrong = sigstack("verify", "--key", str(other_keypair[1]), "--local-image", str(out))
    # as for a registry (and cosign): no matching signatures is 12, no matching bundle is 1
    assert wrong.code == 1, wrong.err  # cosign's local path exits 1, bundle or not
    assert "Error: no matching " in wrong.err

    moved = registry.repo() + ":moved"
    r = sigstack("load", "--dir", str(out), moved)
    assert r.code == 0, r.err
    ok = sigstack("verify", "--key", str(keypair[1]), "--check-reference=false", moved)
    assert ok.code == 0, ok.err
    ok = sigstack("verify-attestation", "--key", str(keypair[1]), moved)
    assert ok.code == 0, ok.err
    theirs = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", moved, env=PW)
    assert theirs.code == 0, theirs.err
    if not bundle:  # the payload names the first repository: our default check says so
        named = sigstack("verify", "--key", str(keypair[1]), moved)
        assert named.code == 12
        assert "--check-reference=false" in named.err


def test_index_round_trip(registry, keypair, cosign, tmp_path: Path) -> None:
    src = registry.repo() + ":multi"
    with RegistryClient() as client:
        index, children = push_index(client, parse_reference(src))
    img = f"{src.rsplit(':', 1)[0]}@{index}"
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    out = tmp_path / "index-saved"
    r = sigstack("save", "--dir", str(out), img)
    assert r.code == 0, r.err
    assert saved_kinds(out) == ["dev.cosignproject.cosign/imageIndex", "dev.cosignproject.cosign/sigs"]
    for child in children:
        assert (out / "blobs" / "sha256" / child.split(":")[1]).is_file()
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", "--local-image", str(out),
                  env=PW)
    assert ok.code == 0, ok.err
    ours = sigstack("verify", "--key", str(keypair[1]), "--local-image", str(out))
    assert ours.code == 0, ours.err
    assert json.loads(ours.out)[0]["critical"]["image"]["docker-manifest-digest"] == index
    theirs = tmp_path / "cosign-saved"
    assert run_peer(cosign, "save", "--dir", str(theirs), img, env=PW).code == 0
    assert _files(theirs) == _files(out)

    dst = registry.repo() + ":copied"
    r = sigstack("load", "--dir", str(out), dst)
    assert r.code == 0, r.err
    with RegistryClient() as client:
        ref = parse_reference(dst)
        got = client.get_manifest(ref)
        assert got.digest == index
        for child in children:  # every platform image, with its blobs
            m = client.get_manifest(ref.repository.digest(child))
            for layer in m.json()["layers"]:
                assert client.blob_exists(ref.repository, layer["digest"])
    ok = sigstack("verify", "--key", str(keypair[1]), "--check-reference=false", dst)
    assert ok.code == 0, ok.err
    again = tmp_path / "again"
    assert sigstack("save", "--dir", str(again), dst).code == 0
    assert (again / "index.json").read_bytes() == (out / "index.json").read_bytes()


# ---- bad input -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed_dir(registry, keypair, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    img = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    out = tmp_path_factory.mktemp("signed") / "layout"
    r = sigstack("save", "--dir", str(out), img)
    assert r.code == 0, r.err
    return out, img


def _sig_blobs(d: Path) -> tuple[Path, Path]:
    """(the .sig manifest blob, its signature layer blob)."""
    index = json.loads((d / "index.json").read_text())
    sig = next(m for m in index["manifests"] if m["annotations"]["kind"].endswith("/sigs"))
    manifest = d / "blobs" / "sha256" / sig["digest"].split(":")[1]
    layer = json.loads(manifest.read_text())["layers"][0]["digest"]
    return manifest, d / "blobs" / "sha256" / layer.split(":")[1]


def _damage(case: str, d: Path) -> Path:
    if case == "not-a-directory":
        f = d.parent / "plain-file"
        f.write_text("x")
        return f
    if case == "missing-directory":
        return d.parent / "nowhere"
    if case == "no-oci-layout":
        (d / "oci-layout").unlink()
    elif case == "malformed-index":
        (d / "index.json").write_text("{not json")
    elif case == "index-without-image":
        (d / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": []}))
    elif case == "bad-digest-in-index":
        (d / "index.json").write_text((d / "index.json").read_text().replace("sha256:", "sha256:../", 1))
    elif case == "blob-content-mismatch":
        manifest, _ = _sig_blobs(d)
        manifest.write_bytes(manifest.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":3'))
    elif case == "layer-content-mismatch":
        _, layer = _sig_blobs(d)
        layer.write_bytes(layer.read_bytes() + b" ")
    elif case == "missing-blob":
        _, layer = _sig_blobs(d)
        layer.unlink()
    return d


BAD = [  # case, words of the one error line
    ("not-a-directory", "is not a directory"),
    ("missing-directory", "no such directory"),
    ("no-oci-layout", "has no oci-layout file"),
    ("malformed-index", "index.json is not valid JSON"),
    ("index-without-image", "names no image"),
    ("bad-digest-in-index", "malformed digest"),
    ("blob-content-mismatch", "does not match its digest"),
    ("layer-content-mismatch", "does not match its digest"),
    ("missing-blob", "is missing"),
]


def _one_error_line(r: Result, words: str) -> None:
    lines = [x for x in r.err.splitlines() if not x.startswith("WARNING: Skipping tlog")]
    assert len(lines) == 1, r.err
    assert lines[0].startswith("Error: ") and words in lines[0], lines[0]
    assert "Traceback" not in r.err


@pytest.mark.parametrize(("case", "words"), BAD, ids=[c for c, _ in BAD])
def test_verify_local_image_bad_directory(case, words, signed_dir, keypair, tmp_path: Path) -> None:
    d = tmp_path / "copy"
    shutil.copytree(signed_dir[0], d)
    target = _damage(case, d)
    r = sigstack("verify", "--key", str(keypair[1]), "--local-image", str(target))
    assert r.code == 1
    _one_error_line(r, words)


@pytest.mark.parametrize(("case", "words"), BAD, ids=[c for c, _ in BAD])
def test_load_bad_directory_pushes_nothing(case, words, signed_dir, registry, tmp_path: Path) -> None:
    d = tmp_path / "copy"
    shutil.copytree(signed_dir[0], d)
    target = _damage(case, d)
    dst = registry.repo() + ":v1"
    r = sigstack("load", "--dir", str(target), dst)
    assert r.code == 1
    _one_error_line(r, words)
    with RegistryClient() as client, pytest.raises(NotFoundError):
        client.get_manifest(parse_reference(dst))


def test_verify_local_image_without_signatures(registry, keypair, cosign, tmp_path: Path) -> None:
    """cosign's local path exits 1 here (not 10 as for a registry); so does ours."""
    out = tmp_path / "unsigned"
    assert sigstack("save", "--dir", str(out), fresh(registry)).code == 0
    assert saved_kinds(out) == ["dev.cosignproject.cosign/image"]
    theirs = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", "--local-image", str(out),
                      env=PW)
    r = sigstack("verify", "--key", str(keypair[1]), "--local-image", str(out))
    assert r.code == theirs.code == 1
    _one_error_line(r, f"no signatures associated with the image saved in {out}")
    r = sigstack("verify-attestation", "--key", str(keypair[1]), "--local-image", str(out))
    assert r.code == 1
    _one_error_line(r, f"no attestations associated with the image saved in {out}")


def test_save_refuses_a_file_and_a_non_empty_directory(registry, tmp_path: Path) -> None:
    img = fresh(registry)
    f = tmp_path / "file"
    f.write_text("keep me")
    r = sigstack("save", "--dir", str(f), img)
    assert r.code == 1
    _one_error_line(r, "exists and is not a directory")
    assert f.read_text() == "keep me"
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    r = sigstack("save", "--dir", str(full), img)
    assert r.code == 1
    _one_error_line(r, "exists and is not empty")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert sigstack("save", "--dir", str(empty), img).code == 0
    assert (empty / "index.json").is_file()


def test_failed_save_leaves_nothing(registry, tmp_path: Path) -> None:
    """The registry loses the image's layer: save fails mid-way (the manifest and config
    were fetched) and leaves neither the directory nor its partial build behind."""
    img = fresh(registry)
    ref = parse_reference(img)
    with RegistryClient() as client:
        layer = client.get_manifest(ref).json()["layers"][0]["digest"]
        client.request("DELETE", ref.repository, f"/v2/{ref.repository.path}/blobs/{layer}", push=True,
                       ok=(202,)).close()
    out = tmp_path / "saved"
    r = sigstack("save", "--dir", str(out), img)
    assert r.code == 1
    _one_error_line(r, layer)
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_load_refuses_another_digest(signed_dir, registry) -> None:
    other = fresh(registry)
    r = sigstack("load", "--dir", str(signed_dir[0]), other)
    assert r.code == 1
    _one_error_line(r, f"holds {signed_dir[1].split('@')[1]}, not {other.split('@')[1]}")


def test_sigstack_bundle_saved_and_verified_by_cosign(registry, keypair, cosign, tmp_path: Path) -> None:
    """A --new-bundle-format signature travels as a referrer blob (not in index.json, as
    cosign writes it) and cosign's --local-image finds and verifies it there."""
    img = fresh(registry)
    r = sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW)
    assert r.code == 0, r.err
    out = tmp_path / "bundle-saved"
    assert sigstack("save", "--dir", str(out), img).code == 0
    assert saved_kinds(out) == ["dev.cosignproject.cosign/image"]
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", "--local-image", str(out),
                  env=PW)
    assert ok.code == 0, ok.err
    ours = sigstack("verify", "--key", str(keypair[1]), "--local-image", str(out))
    assert ours.code == 0, ours.err
    assert json.loads(ours.out)[0]["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"
    moved = registry.repo() + ":moved"
    assert sigstack("load", "--dir", str(out), moved).code == 0
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", moved, env=PW)
    assert ok.code == 0, ok.err


def test_load_pushes_referrers_beside_an_att_image(registry, keypair, cosign, predicate,
                                                   tmp_path: Path) -> None:
    """cosign v3.1.3's load returns after the .att image and never pushes the bundle
    referrers then; ours pushes both, so the bundle signature survives the trip."""
    img = fresh(registry)
    r = run_peer(cosign, "sign", "--key", str(keypair[0]), "--tlog-upload=false", "--use-signing-config=false",
            "-y", img, env=PW)
    assert r.code == 0, r.err
    r = run_peer(cosign, "attest", "--key", str(keypair[0]), *COSIGN_LEGACY, "--predicate", str(predicate), img, env=PW)
    assert r.code == 0, r.err
    out = tmp_path / "mixed"
    assert run_peer(cosign, "save", "--dir", str(out), img, env=PW).code == 0
    moved = registry.repo() + ":moved"
    r = sigstack("load", "--dir", str(out), moved)
    assert r.code == 0, r.err
    tree = sigstack("tree", moved).out.decode()
    assert ".att" in tree and "https://sigstore.dev/cosign/sign/v1 artifacts via OCI referrer" in tree
    ok = sigstack("verify", "--key", str(keypair[1]), moved)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)[0]["critical"]["type"] == "https://sigstore.dev/cosign/sign/v1"


def test_cosign_repository_on_both_sides(registry, keypair, tmp_path: Path) -> None:
    """Signatures kept in COSIGN_REPOSITORY are saved from there and loaded into the
    COSIGN_REPOSITORY of the other side."""
    img = fresh(registry)
    sigs_a, sigs_b = registry.repo(), registry.repo()
    assert sigstack("sign", "--key", str(keypair[0]), img, env={**PW, "COSIGN_REPOSITORY": sigs_a}).code == 0
    out = tmp_path / "saved"
    r = sigstack("save", "--dir", str(out), img, env={"COSIGN_REPOSITORY": sigs_a})
    assert r.code == 0, r.err
    assert saved_kinds(out) == ["dev.cosignproject.cosign/image", "dev.cosignproject.cosign/sigs"]
    moved = registry.repo() + ":moved"
    r = sigstack("load", "--dir", str(out), moved, env={"COSIGN_REPOSITORY": sigs_b})
    assert r.code == 0, r.err
    assert sigs_b in r.err
    ok = sigstack("verify", "--key", str(keypair[1]), "--check-reference=false", moved,
                  env={"COSIGN_REPOSITORY": sigs_b})
    assert ok.code == 0, ok.err
    none = sigstack("verify", "--key", str(keypair[1]), "--check-reference=false", moved)
    assert none.code == 10


def test_attachment_tag_prefix_both_sides(registry, keypair, cosign, tmp_path: Path) -> None:
    """Signatures under ``p-sha256-<hex>.sig`` are saved with --attachment-tag-prefix p-, and
    cosign loads them under its own prefix, where cosign verify with that prefix finds them."""
    img = fresh(registry)
    r = sigstack("sign", "--attachment-tag-prefix", "p-", "--key", str(keypair[0]), img, env=PW)
    assert r.code == 0, r.err
    plain = tmp_path / "plain"
    assert sigstack("save", "--dir", str(plain), img).code == 0
    assert saved_kinds(plain) == ["dev.cosignproject.cosign/image"]  # no unprefixed .sig
    out = tmp_path / "prefixed"
    r = sigstack("save", "--attachment-tag-prefix", "p-", "--dir", str(out), img)
    assert r.code == 0, r.err
    assert saved_kinds(out) == ["dev.cosignproject.cosign/image", "dev.cosignproject.cosign/sigs"]
    moved = registry.repo() + ":moved"
    r = run_peer(cosign, "load", "--attachment-tag-prefix", "q-", "--dir", str(out), moved, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--attachment-tag-prefix", "q-", "--key", str(keypair[1]),
             "--insecure-ignore-tlog", moved, env=PW)
    assert ok.code == 0, ok.err
    bad = sigstack("load", "--attachment-tag-prefix", "bad/", "--dir", str(out), registry.repo() + ":x")
    assert bad.code == 1
    lines = bad.err.splitlines()  # cosign's deprecation notice, then the error
    assert lines[-1].startswith("Error: invalid attachment tag prefix 'bad/'"), lines
    assert "Traceback" not in bad.err
