"""Both directions against the real cosign (v3 and v2 lines) on the loopback registry.

cosign reaches a loopback registry over plain HTTP by itself (ggcr's ping falls
back from HTTPS for 127.0.0.1). Neither side uses a transparency log here, so
cosign runs with --tlog-upload=false / --insecure-ignore-tlog; v3 also needs
--use-signing-config=false (its default reads service URLs from TUF, which is
unreachable offline) and --new-bundle-format=false for the legacy .sig layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocihelpers import fresh, push_image, stderr_without_tlog_warning
from tests.helpers import assert_clean_error, run_peer, sigstack

from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


@pytest.fixture(scope="module")
def cosign_keypair(cosign: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cosign-keys")
    r = run_peer(cosign, "generate-key-pair", cwd=d, env=PW)
    assert r.code == 0, r.err
    return d / "cosign.key", d / "cosign.pub"


@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_legacy_signature_verified_by_cosign(peer, request, registry, keypair,
                                                     other_keypair) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", img, env=PW).code == 0
    ok = run_peer(exe, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    assert ok.code == 0, ok.err
    ours = sigstack("verify", "--key", str(keypair[1]), img)
    assert json.loads(ok.out) == json.loads(ours.out)
    bad = run_peer(exe, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    assert bad.code == 12, bad.err
    assert "no matching signatures" in bad.err


@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_bundle_verified_by_cosign(peer, request, registry, keypair, other_keypair,
                                            tmp_path: Path) -> None:
    """cosign v2 needs --new-bundle-format and a trusted root; an empty one suffices for a key."""
    exe = request.getfixturevalue(peer)
    extra: list[str] = []
    if peer == "cosign_v2":
        root = tmp_path / "trusted_root.json"
        root.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                                    "tlogs": [], "certificateAuthorities": [], "ctlogs": [],
                                    "timestampAuthorities": []}))
        extra = ["--new-bundle-format", "--trusted-root", str(root)]
    img = fresh(registry)
    r = sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(exe, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", *extra, img, env=PW)
    assert ok.code == 0, ok.err
    ours = json.loads(sigstack("verify", "--key", str(keypair[1]), img).out)
    theirs = json.loads(ok.out)
    if peer == "cosign_v2":  # v2 prints "optional": null where v3 prints {}
        theirs[0]["optional"] = theirs[0]["optional"] or {}
    assert theirs == ours
    bad = run_peer(exe, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", *extra, img, env=PW)
    assert_clean_error(bad, "no matching attestations: failed to verify signature: could not verify envelope: "
                            "accepted signatures do not match threshold, Found: 0, Expected 1")


V3_LEGACY = ("--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "-y")
V3_BUNDLE = ("--use-signing-config=false", "--tlog-upload=false", "-y")
V2_LEGACY = ("--tlog-upload=false", "-y")
V2_BUNDLE = ("--new-bundle-format", "--tlog-upload=false", "-y")


@pytest.mark.parametrize("peer,flags,layout", [
    ("cosign", V3_LEGACY, "legacy"),
    ("cosign", V3_BUNDLE, "bundle"),
    ("cosign_v2", V2_LEGACY, "legacy"),
    ("cosign_v2", V2_BUNDLE, "bundle"),
])
@pytest.mark.parametrize("keys", ["sigstack", "cosign"])
def test_cosign_signature_verified_by_sigstack(peer, flags, layout, keys, request, registry, keypair,
                                               other_keypair, cosign_keypair) -> None:
    exe = request.getfixturevalue(peer)
    key, pub = keypair if keys == "sigstack" else cosign_keypair
    img = fresh(registry)
    # cosign v2 leaves -a annotations out of the bundle statement (and cosign v3 then
    # rejects -a on verify, as we do), so that case signs and checks no annotations.
    ann = [] if (peer, layout) == ("cosign_v2", "bundle") else ["-a", "team=qa"]
    r = run_peer(exe, "sign", "--key", str(key), *flags, *ann, img, env=PW)
    assert r.code == 0, r.err
    v = sigstack("verify", "--key", str(pub), *ann, img)
    assert v.code == 0, v.err
    out = json.loads(v.out)
    kind = "https://sigstore.dev/cosign/sign/v1" if layout == "bundle" else "cosign container image signature"
    assert [o["critical"]["type"] for o in out] == [kind]
    assert out[0]["optional"] == ({"team": "qa"} if ann else {})
    bad = sigstack("verify", "--key", str(other_keypair[1]), img)
    assert bad.code == (1 if layout == "bundle" else 12), bad.err


def test_tree_and_triangulate_agree_with_cosign(cosign, registry, keypair) -> None:
    img = fresh(registry)
    empty = sigstack("tree", img)
    assert empty.code == 0 and empty.out == run_peer(cosign, "tree", img, env=PW).out
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).code == 0
    for kind in ("signature", "attestation", "sbom", "digest"):
        theirs = run_peer(cosign, "triangulate", "--type", kind, img, env=PW)
        ours = sigstack("triangulate", "--type", kind, img)
        assert ours.code == 0 and ours.out == theirs.out, (kind, ours.err)
    theirs = run_peer(cosign, "tree", img, env=PW)
    ours = sigstack("tree", img)
    assert ours.code == 0
    assert sorted(ours.out.splitlines()) == sorted(theirs.out.splitlines())


@pytest.mark.parametrize("signer", ["sigstack", "cosign"])
def test_recursive_index_both_ways(signer, cosign, registry, keypair) -> None:
    from ocihelpers import push_index

    ref = registry.repo() + ":multi"
    with RegistryClient() as client:
        index, children = push_index(client, parse_reference(ref))
    if signer == "sigstack":
        r = sigstack("sign", "--key", str(keypair[0]), "-r", ref, env=PW)
    else:
        r = run_peer(cosign, "sign", "--key", str(keypair[0]), *V3_LEGACY, "-r", ref, env=PW)
    assert r.code == 0, r.err
    repo = ref.rsplit(":", 1)[0]
    for d in [index, *children]:
        img = f"{repo}@{d}"
        assert sigstack("verify", "--key", str(keypair[1]), img).code == 0, img
        ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=PW)
        assert ok.code == 0, ok.err


def test_bundle_wrong_key_message_matches_cosign(cosign, registry, keypair, other_keypair) -> None:
    img = fresh(registry)
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).code == 0
    ours = sigstack("verify", "--key", str(other_keypair[1]), img)
    theirs = run_peer(cosign, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", img, env=PW)
    line = next(x for x in theirs.err.splitlines() if x.startswith("Error: "))
    assert ours.code == theirs.code == 1
    assert stderr_without_tlog_warning(ours.err) == line


def test_verify_output_identical_to_cosign(cosign, registry, keypair) -> None:
    """Same stdout and stderr, byte for byte, for a tag reference with -a and text output."""
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        push_image(client, parse_reference(ref))
    assert sigstack("sign", "--key", str(keypair[0]), "-a", "env=prod", ref, env=PW).code == 0
    for extra in ([], ["-a", "env=prod"], ["-o", "text"]):
        args = ["verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", *extra, ref]
        theirs, ours = run_peer(cosign, *args, env=PW), sigstack(*args)
        assert ours.code == theirs.code == 0
        assert ours.out == theirs.out, extra
        assert ours.err == theirs.err, extra
