"""attach sbom|signature, download, clean and copy, checked against the real cosign."""

from __future__ import annotations

from pathlib import Path

import pytest
from ocihelpers import Registry, push_image, push_index
from tests.helpers import assert_clean_error, run_peer, sigstack

from sigstack.errors import NotFoundError
from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference
from sigstack.payload import simplesigning

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


def fresh(registry: Registry) -> tuple[str, str]:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}", digest


def test_attach_sbom_matches_cosign_byte_for_byte(cosign_v2, registry, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_text('{"spdxVersion":"SPDX-2.3","name":"x"}')
    ours, d1 = fresh(registry)
    theirs, d2 = fresh(registry)
    r = sigstack("attach", "sbom", "--sbom", str(sbom), ours)
    assert r.code == 0, r.err
    assert "SBOM attachments are deprecated" in r.err
    assert run_peer(cosign_v2, "attach", "sbom", "--sbom", str(sbom), theirs, env=PW).code == 0
    with RegistryClient() as client:
        a = client.get_manifest(parse_reference(ours).repository.tag(layout.attachment_tag(d1, "sbom")))
        b = client.get_manifest(parse_reference(theirs).repository.tag(layout.attachment_tag(d2, "sbom")))
    assert a.data == b.data
    for img in (ours, theirs):
        dl = sigstack("download", "sbom", img)
        assert dl.code == 0 and dl.out == sbom.read_bytes()
        assert "Found SBOM of media type: text/spdx+json" in dl.err
        assert run_peer(cosign_v2, "download", "sbom", img, env=PW).out == sbom.read_bytes()


def test_download_matches_cosign(cosign, registry, keypair, tmp_path: Path) -> None:
    img, _ = fresh(registry)
    pred = tmp_path / "p.json"
    pred.write_text('{"a":1}')
    assert sigstack("sign", "--key", str(keypair[0]), "-a", "x=<&>", img, env=PW).code == 0
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(pred), "--type", "vuln", img,
                    env=PW).code == 0
    for kind in ("signature", "attestation"):
        ours = sigstack("download", kind, img)
        theirs = run_peer(cosign, "download", kind, img, env=PW)
        assert ours.code == 0 and ours.out == theirs.out, (kind, ours.err)
    only = sigstack("download", "attestation", "--predicate-type", "vuln", img)
    assert only.code == 0 and len(only.out.splitlines()) == 1
    none = sigstack("download", "attestation", "--predicate-type", "spdx", img)
    assert none.code == 0 and none.out == b""


@pytest.mark.parametrize("kind", ["signature", "attestation", "sbom"])
def test_download_nothing_attached_like_cosign(cosign, registry, kind) -> None:
    img, _ = fresh(registry)
    ours, theirs = sigstack("download", kind, img), run_peer(cosign, "download", kind, img, env=PW)
    assert ours.code == theirs.code and ours.out == theirs.out
    expected = [x for x in theirs.err.splitlines() if not x.startswith("error during")]
    assert ours.err.splitlines() == expected


def test_attach_signature_then_cosign_verifies(cosign, registry, keypair, tmp_path: Path) -> None:
    img, digest = fresh(registry)
    payload = tmp_path / "payload.json"
    payload.write_bytes(simplesigning.make(img.split("@")[0], digest))
    sig = tmp_path / "sig.b64"
    r = sigstack("sign-blob", "--tlog-upload=false", "--key", str(keypair[0]), "--output-signature", str(sig),
                 str(payload), env=PW, offline=None)
    assert r.code == 0, r.err
    r = sigstack("attach", "signature", "--signature", str(sig), "--payload", str(payload), img)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    assert ok.code == 0, ok.err
    implied = sigstack("attach", "signature", "--signature", str(sig), img)
    assert implied.code == 0
    assert "WARNING: using obsolete implied signature payload data" in implied.err


def test_clean_then_nothing_left(cosign, registry, keypair) -> None:
    img, digest = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).code == 0
    for kind, what in (("all", "signatures, SBOMs and attestations"), ("signature", "signatures")):
        refused = sigstack("clean", "--type", kind, img, input=b"n\n")
        assert refused.code == 1
        assert refused.err == (f"WARNING: this will remove all {what} from the image\n"
                                           "Are you sure you would like to continue? [y/N] "
                                           "Error: user declined the prompt\n")
    r = sigstack("clean", "-f", img)
    assert r.code == 0, r.err
    repo = img.split("@")[0]
    assert f"Removed {repo}:{layout.attachment_tag(digest, 'sig')} from {img}" in r.err
    assert sigstack("verify", "--key", str(keypair[1]), img).code == 10
    gone = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    assert_clean_error(gone, "no signatures found", 10)


def test_copy_image_with_signatures_to_another_repository(cosign, registry, keypair) -> None:
    src = registry.repo() + ":multi"
    with RegistryClient() as client:
        index, _children = push_index(client, parse_reference(src))
    assert sigstack("sign", "--key", str(keypair[0]), src, env=PW).code == 0
    dst = registry.repo("mirror/copy")
    r = sigstack("copy", src, dst)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", f"{dst}:multi", env=PW)
    assert ok.code == 0, ok.err
    strict = sigstack("verify", "--key", str(keypair[1]), f"{dst}@{index}")
    assert strict.code == 12 and "--check-reference=false" in strict.err
    assert sigstack("verify", "--check-reference=false", "--key", str(keypair[1]),
                    f"{dst}@{index}").code == 0
    with RegistryClient() as client:
        other = parse_reference(f"{dst}:other")
        push_image(client, other)
    clash = sigstack("copy", src, f"{dst}:other")
    assert clash.code == 1
    assert f'image "{dst}:other" already exists. Use `-f` to overwrite' in clash.err
    assert sigstack("copy", "-f", src, f"{dst}:other").code == 0


def test_sign_without_upload_then_attach(cosign, registry, keypair, tmp_path: Path) -> None:
    img, digest = fresh(registry)
    sig, payload = tmp_path / "sig", tmp_path / "payload"
    r = sigstack("sign", "--upload=false", "--key", str(keypair[0]), "--output-signature", str(sig),
                 "--output-payload", str(payload), img, env=PW)
    assert r.code == 0, r.err
    assert sigstack("verify", "--key", str(keypair[1]), img).code == 10  # nothing was pushed
    assert payload.read_bytes() == simplesigning.make(img.split("@")[0], digest)
    assert sigstack("attach", "signature", "--signature", str(sig), "--payload", str(payload),
                    img).code == 0
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    assert ok.code == 0, ok.err
    refused = sigstack("sign", "--upload=false", "--key", str(keypair[0]), img, env=PW)
    assert refused.code == 1 and "--upload=false needs --output-signature" in refused.err


def test_copy_carries_bundles(cosign, registry, keypair) -> None:
    img, digest = fresh(registry)
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).code == 0
    dst = registry.repo("mirror/bundles")
    r = sigstack("copy", img, f"{dst}:v1")
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", f"{dst}@{digest}", env=PW)
    assert ok.code == 0, ok.err
    bare = registry.repo("mirror/bare")
    assert sigstack("copy", "--referrers=false", img, f"{bare}:v1").code == 0
    assert sigstack("verify", "--key", str(keypair[1]), f"{bare}@{digest}").code == 10


def test_copy_of_bundles_to_an_untagged_destination_is_refused(registry, keypair) -> None:
    """distribution 2.8 has no referrers API: the referrers then live in an index tagged
    sha256-<hex>, the very tag a digest copied to an untagged destination would get, so
    the copy would leave the image untagged. Refused before anything is written."""
    img, digest = fresh(registry)
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).code == 0
    dst = registry.repo("mirror/untagged")
    r = sigstack("copy", img, dst)
    assert r.code == 1
    errors = [line for line in r.err.splitlines() if line.startswith("Error: ")]
    assert errors == [f"Error: {dst}:{digest.replace(':', '-')}: without the OCI 1.1 referrers API the "
                      f"destination keeps referrers in an index tagged {digest.replace(':', '-')}, the tag "
                      "the copied image would get; give the destination a tag (DST:TAG), or skip the "
                      "referrers with --referrers=false"], r.err
    with RegistryClient() as client, pytest.raises(NotFoundError):
        client.head_manifest(parse_reference(f"{dst}@{digest}"))
    assert sigstack("copy", "--referrers=false", img, dst).code == 0


def test_attach_attestation_then_cosign_verifies(cosign, registry, keypair, tmp_path: Path) -> None:
    from sigstack import keys
    from sigstack.payload import dsse, intoto

    img, digest = fresh(registry)
    statement = intoto.statement("https://example.com/pred/v1", {"ok": True}, digest, name=img.split("@")[0])
    env = dsse.sign(keys.load_signer(str(keypair[0]), b"pw"), statement)
    good = tmp_path / "att.json"
    good.write_bytes(env.to_json() + b"\n")
    r = sigstack("attach", "attestation", "--attestation", str(good), img)
    assert r.code == 0, r.err
    ok = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog",
             "--type", "https://example.com/pred/v1", img, env=PW)
    assert ok.code == 0, ok.err
    pretty = tmp_path / "pretty.json"
    pretty.write_text(__import__("json").dumps(__import__("json").loads(env.to_json()), indent=2))
    two = tmp_path / "two.jsonl"
    two.write_bytes(env.to_json() + b"\n" + env.to_json() + b"\n")
    assert sigstack("attach", "attestation", "--attestation", str(pretty), "--attestation", str(two),
                    img).code == 0
    bad = tmp_path / "bad.json"
    bad.write_bytes(dsse.Envelope(statement, "text/plain", env.signatures).to_json())
    r = sigstack("attach", "attestation", "--attestation", str(bad), img)
    assert r.code == 1
    assert r.err.strip() == ("Error: invalid payloadType text/plain on envelope. "
                                         "Expected application/vnd.in-toto+json")
