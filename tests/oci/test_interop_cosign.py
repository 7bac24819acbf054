"""Both directions against the real cosign (v3 and v2 lines) on the loopback registry.

cosign reaches a loopback registry over plain HTTP by itself (ggcr's ping falls
back from HTTPS for 127.0.0.1). Neither side uses a transparency log here, so
cosign runs with --tlog-upload=false / --insecure-ignore-tlog; v3 also needs
--use-signing-config=false (its default reads service URLs from TUF, which is
unreachable offline) and --new-bundle-format=false for the legacy .sig layout.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ocihelpers import fresh, push_image, sigstack, stderr_without_tlog_warning

from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


def run(*args: str, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(args), env={**os.environ, **PW, **(env or {})}, capture_output=True,
                          timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def cosign_keypair(cosign: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cosign-keys")
    r = run(cosign, "generate-key-pair", cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "cosign.key", d / "cosign.pub"


@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_legacy_signature_verified_by_cosign(peer, request, registry, keypair,
                                                     other_keypair) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--tlog-upload=false", img, env=PW).returncode == 0
    ok = run(exe, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img)
    assert ok.returncode == 0, ok.stderr
    ours = sigstack("verify", "--key", str(keypair[1]), img)
    assert json.loads(ok.stdout) == json.loads(ours.stdout)
    bad = run(exe, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", img)
    assert bad.returncode == 12, bad.stderr
    assert b"no matching signatures" in bad.stderr


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
    assert r.returncode == 0, r.stderr
    ok = run(exe, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", *extra, img)
    assert ok.returncode == 0, ok.stderr
    ours = json.loads(sigstack("verify", "--key", str(keypair[1]), img).stdout)
    theirs = json.loads(ok.stdout)
    if peer == "cosign_v2":  # v2 prints "optional": null where v3 prints {}
        theirs[0]["optional"] = theirs[0]["optional"] or {}
    assert theirs == ours
    bad = run(exe, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", *extra, img)
    assert bad.returncode != 0


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
    r = run(exe, "sign", "--key", str(key), *flags, *ann, img)
    assert r.returncode == 0, r.stderr
    v = sigstack("verify", "--key", str(pub), *ann, img)
    assert v.returncode == 0, v.stderr
    out = json.loads(v.stdout)
    kind = "https://sigstore.dev/cosign/sign/v1" if layout == "bundle" else "cosign container image signature"
    assert [o["critical"]["type"] for o in out] == [kind]
    assert out[0]["optional"] == ({"team": "qa"} if ann else {})
    bad = sigstack("verify", "--key", str(other_keypair[1]), img)
    assert bad.returncode == (1 if layout == "bundle" else 12), bad.stderr


def test_tree_and_triangulate_agree_with_cosign(cosign, registry, keypair) -> None:
    img = fresh(registry)
    empty = sigstack("tree", img)
    assert empty.returncode == 0 and empty.stdout == run(cosign, "tree", img).stdout
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).returncode == 0
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).returncode == 0
    for kind in ("signature", "attestation", "sbom", "digest"):
        theirs = run(cosign, "triangulate", "--type", kind, img)
        ours = sigstack("triangulate", "--type", kind, img)
        assert ours.returncode == 0 and ours.stdout == theirs.stdout, (kind, ours.stderr)
    theirs = run(cosign, "tree", img)
    ours = sigstack("tree", img)
    assert ours.returncode == 0
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())


@pytest.mark.parametrize("signer", ["sigstack", "cosign"])
def test_recursive_index_both_ways(signer, cosign, registry, keypair) -> None:
    from ocihelpers import push_index

    ref = registry.repo() + ":multi"
    with RegistryClient() as client:
        index, children = push_index(client, parse_reference(ref))
    if signer == "sigstack":
        r = sigstack("sign", "--key", str(keypair[0]), "-r", ref, env=PW)
    else:
        r = run(cosign, "sign", "--key", str(keypair[0]), *V3_LEGACY, "-r", ref)
    assert r.returncode == 0, r.stderr
    repo = ref.rsplit(":", 1)[0]
    for d in [index, *children]:
        img = f"{repo}@{d}"
        assert sigstack("verify", "--key", str(keypair[1]), img).returncode == 0, img
        ok = run(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img)
        assert ok.returncode == 0, ok.stderr


def test_bundle_wrong_key_message_matches_cosign(cosign, registry, keypair, other_keypair) -> None:
    img = fresh(registry)
    assert sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), img, env=PW).returncode == 0
    ours = sigstack("verify", "--key", str(other_keypair[1]), img)
    theirs = run(cosign, "verify", "--key", str(other_keypair[1]), "--insecure-ignore-tlog", img)
    line = next(x for x in theirs.stderr.decode().splitlines() if x.startswith("Error: "))
    assert ours.returncode == theirs.returncode == 1
    assert stderr_without_tlog_warning(ours.stderr) == line


def test_verify_output_identical_to_cosign(cosign, registry, keypair) -> None:
    """Same stdout and stderr, byte for byte, for a tag reference with -a and text output."""
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        push_image(client, parse_reference(ref))
    assert sigstack("sign", "--key", str(keypair[0]), "-a", "env=prod", ref, env=PW).returncode == 0
    for extra in ([], ["-a", "env=prod"], ["-o", "text"]):
        args = ["verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", *extra, ref]
        theirs, ours = run(cosign, *args), sigstack(*args)
        assert ours.returncode == theirs.returncode == 0
        assert ours.stdout == theirs.stdout, extra
        assert ours.stderr == theirs.stderr, extra
