"""``--attachment-tag-prefix`` (and ``COSIGN_ATTACHMENT_TAG_PREFIX``) on every
registry command, against the real registry and the real cosign v3 (and v2).

What cosign does, read from its code and checked here: the legacy tags become
``[prefix]sha256-<hex>.sig|att|sbom`` in the target repository; OCI 1.1 referrers
and their ``sha256-<hex>`` fallback index tag are never prefixed (ggcr computes that
tag); the flag prints pflag's deprecation notice when typed, not when it comes from
the environment. Two deliberate differences are pinned too: ``triangulate --type
digest`` prints a real digest reference (cosign prints ``repo@<prefix>sha256:<hex>``),
and a prefix that cannot make a valid tag is refused before anything is written
(cosign uploads the blobs, then fails on the manifest PUT).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ocihelpers import Registry, push_image
from tests.helpers import Result, run_peer, sigstack

from sigstack.cli.main import exit_code_for
from sigstack.errors import SigstackError
from sigstack.oci import attach, layout, tools
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import MAX_TAG_PREFIX, Reference, ReferenceError, parse_reference

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}
PREFIX = "p-"
NOTICE = "Flag --attachment-tag-prefix has been deprecated, please use OCI referrers"
V3_LEGACY = ("--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "-y")
V3_BUNDLE = ("--use-signing-config=false", "--tlog-upload=false", "-y")
V2_LEGACY = ("--tlog-upload=false", "-y")


def fresh(registry: Registry) -> tuple[str, str]:
    ref = registry.repo() + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}", digest


def tags(img: str) -> set[str]:
    with RegistryClient() as client:
        return set(client.list_tags(parse_reference(img).repository))


def tag(digest: str, suffix: str, prefix: str = PREFIX) -> str:
    return layout.attachment_tag(digest, suffix, prefix)


def prefix_form(form: str) -> tuple[list[str], dict[str, str]]:
    """The prefix as a typed flag, or as the environment variable."""
    if form == "flag":
        return ["--attachment-tag-prefix", PREFIX], {}
    return [], {"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX}


@pytest.mark.parametrize("form", ["flag", "env"])
def test_sigstack_prefixed_signature_verified_by_cosign(form, cosign, registry, keypair) -> None:
    img, digest = fresh(registry)
    flag, env = prefix_form(form)
    r = sigstack("sign", "--key", str(keypair[0]), *flag, img, env={**PW, **env})
    assert r.code == 0, r.err
    # pflag's notice when typed, as cosign prints it; none from the environment (viper).
    assert (NOTICE in r.err.splitlines()) == (form == "flag")
    found = tags(img)
    assert tag(digest, "sig") in found and tag(digest, "sig", "") not in found
    theirs = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", *flag, img,
                      env={**PW, **env})
    assert theirs.code == 0, theirs.err
    ours = sigstack("verify", "--key", str(keypair[1]), *flag, img, env=env)
    assert ours.code == 0, ours.err
    assert json.loads(ours.out) == json.loads(theirs.out)
    assert ours.err == theirs.err  # the notice (when typed), the warning, the header
    bare = sigstack("verify", "--key", str(keypair[1]), img)
    assert bare.code == 10 and "Error: no signatures found" in bare.err
    other = sigstack("verify", "--key", str(keypair[1]), "--attachment-tag-prefix", "q-", img)
    assert other.code == 10


@pytest.mark.parametrize("peer,flags", [("cosign", V3_LEGACY), ("cosign_v2", V2_LEGACY)])
def test_cosign_prefixed_signature_verified_by_sigstack(peer, flags, request, registry, keypair) -> None:
    exe = request.getfixturevalue(peer)
    img, digest = fresh(registry)
    r = run_peer(exe, "sign", "--key", str(keypair[0]), *flags, "--attachment-tag-prefix", PREFIX, img, env=PW)
    assert r.code == 0, r.err
    assert (NOTICE in r.err) == (peer == "cosign")  # v2 had not deprecated it yet
    assert tag(digest, "sig") in tags(img)
    ok = sigstack("verify", "--key", str(keypair[1]), "--attachment-tag-prefix", PREFIX, img)
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)[0]["critical"]["image"]["docker-manifest-digest"] == digest
    env_ok = sigstack("verify", "--key", str(keypair[1]), img, env={"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX})
    assert env_ok.code == 0, env_ok.err
    assert sigstack("verify", "--key", str(keypair[1]), img).code == 10


def test_prefix_applies_in_cosign_repository(cosign, registry, keypair) -> None:
    """With ``COSIGN_REPOSITORY`` the prefixed tags go to that repository, both ways."""
    img, digest = fresh(registry)
    target = registry.repo("sigs/" + img.split("/")[-1].split("@")[0])
    env = {"COSIGN_REPOSITORY": target, "COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX}
    r = sigstack("sign", "--key", str(keypair[0]), img, env={**PW, **env})
    assert r.code == 0, r.err
    assert tags(f"{target}:x") == {tag(digest, "sig")}
    assert tags(img) == {"v1"}
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env={**PW, **env})
    assert ok.code == 0, ok.err
    for kind in ("signature", "attestation", "sbom"):
        theirs = run_peer(cosign, "triangulate", "--type", kind, img, env={**PW, **env})
        ours = sigstack("triangulate", "--type", kind, img, env=env)
        assert ours.code == 0 and ours.out == theirs.out, (kind, ours.err)
    # --type digest names the target repository too (the prefix left out: see the module docstring)
    theirs = run_peer(cosign, "triangulate", "--type", "digest", img, env={**PW, **{"COSIGN_REPOSITORY": target}})
    ours = sigstack("triangulate", "--type", "digest", img, env={"COSIGN_REPOSITORY": target})
    assert ours.code == 0 and ours.out == theirs.out == f"{target}@{digest}\n".encode()
    other, d2 = fresh(registry)
    r = run_peer(cosign, "sign", "--key", str(keypair[0]), *V3_LEGACY, other, env={**PW, **env})
    assert r.code == 0, r.err
    assert tag(d2, "sig") in tags(f"{target}:x")
    v = sigstack("verify", "--key", str(keypair[1]), other, env=env)
    assert v.code == 0, v.err
    bare = sigstack("verify", "--key", str(keypair[1]), other, env={"COSIGN_REPOSITORY": target})
    assert bare.code == 10


def test_referrers_fallback_tag_is_never_prefixed(cosign, registry, keypair) -> None:
    """Bundles are referrers: with a prefix, both tools still write the bare
    ``sha256-<hex>`` fallback index (distribution 2.8 has no referrers API) and find
    the bundle whatever prefix the reader passes."""
    ours, d1 = fresh(registry)
    r = sigstack("sign", "--new-bundle-format", "--key", str(keypair[0]), "--attachment-tag-prefix", PREFIX,
                 ours, env=PW)
    assert r.code == 0, r.err
    theirs, d2 = fresh(registry)
    r = run_peer(cosign, "sign", "--key", str(keypair[0]), *V3_BUNDLE, "--attachment-tag-prefix", PREFIX, theirs,
                 env=PW)
    assert r.code == 0, r.err
    for img, digest in ((ours, d1), (theirs, d2)):
        found = tags(img)
        assert layout.referrers_tag(digest) in found
        assert not any(t.startswith(PREFIX) for t in found), found
        for prefix in ("", PREFIX, "other-"):
            v = sigstack("verify", "--key", str(keypair[1]), "--attachment-tag-prefix", prefix, img)
            assert v.code == 0, (img, prefix, v.err)
            c = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog",
                    "--attachment-tag-prefix", prefix, img, env=PW)
            assert c.code == 0, (img, prefix, c.err)


def test_attest_and_verify_attestation(cosign, registry, keypair, tmp_path: Path) -> None:
    img, digest = fresh(registry)
    pred = tmp_path / "pred.json"
    pred.write_text('{"builder":{"id":"me"}}')
    env = {"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX}
    r = sigstack("attest", "--key", str(keypair[0]), "--predicate", str(pred), "--type", "slsaprovenance",
                 img, env={**PW, **env})
    assert r.code == 0, r.err
    assert tag(digest, "att") in tags(img) and tag(digest, "att", "") not in tags(img)
    theirs = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog",
                 "--type", "slsaprovenance", "--attachment-tag-prefix", PREFIX, img, env=PW)
    assert theirs.code == 0, theirs.err
    ours = sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "slsaprovenance", img, env=env)
    assert ours.code == 0, ours.err
    assert ours.out == theirs.out
    assert sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "slsaprovenance",
                    img).code == 10
    # --replace rebuilds the prefixed .att image, not a bare one.
    r = sigstack("attest", "--replace", "--key", str(keypair[0]), "--predicate", str(pred), "--type",
                 "slsaprovenance", "--attachment-tag-prefix", PREFIX, img, env=PW)
    assert r.code == 0, r.err
    assert tag(digest, "att", "") not in tags(img)
    # cosign's attestation, read by us through the same prefix; download agrees byte for byte.
    r = run_peer(cosign, "attest", "--key", str(keypair[0]), *V3_LEGACY, "--predicate", str(pred),
            "--type", "vuln", "--attachment-tag-prefix", PREFIX, img, env=PW)
    assert r.code == 0, r.err
    v = sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "vuln",
                 "--attachment-tag-prefix", PREFIX, img)
    assert v.code == 0, v.err
    ours_dl = sigstack("download", "attestation", "--attachment-tag-prefix", PREFIX, img)
    theirs_dl = run_peer(cosign, "download", "attestation", "--attachment-tag-prefix", PREFIX, img, env=PW)
    assert ours_dl.code == 0 and len(ours_dl.out.splitlines()) == 2
    # cosign fetches the layers concurrently and prints them in the order they arrive
    assert sorted(ours_dl.out.splitlines()) == sorted(theirs_dl.out.splitlines())


def test_attach_and_download_sbom_and_signature(cosign, registry, keypair, tmp_path: Path) -> None:
    img, digest = fresh(registry)
    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_text('{"spdxVersion":"SPDX-2.3","name":"x"}')
    r = sigstack("attach", "sbom", "--sbom", str(sbom), "--attachment-tag-prefix", PREFIX, img)
    assert r.code == 0, r.err
    repo = img.split("@")[0]
    assert f"to [{repo}:{tag(digest, 'sbom')}]" in r.err
    assert tag(digest, "sbom") in tags(img) and tag(digest, "sbom", "") not in tags(img)
    env = {"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX}
    for out in (sigstack("download", "sbom", img, env=env), run_peer(cosign, "download", "sbom", img,
                                                                     env={**PW, **env})):
        assert out.code == 0 and out.out == sbom.read_bytes(), out.err
    missing = sigstack("download", "sbom", img)
    assert missing.code == 1 and "Error: no sbom attached to reference" in missing.err
    # attach signature into the prefixed .sig; download signature agrees with cosign.
    sig, payload = tmp_path / "sig", tmp_path / "payload"
    r = sigstack("sign", "--upload=false", "--key", str(keypair[0]), "--output-signature", str(sig),
                 "--output-payload", str(payload), img, env=PW)
    assert r.code == 0, r.err
    r = sigstack("attach", "signature", "--signature", str(sig), "--payload", str(payload), img, env=env)
    assert r.code == 0, r.err
    assert tag(digest, "sig") in tags(img) and tag(digest, "sig", "") not in tags(img)
    ours = sigstack("download", "signature", img, env=env)
    theirs = run_peer(cosign, "download", "signature", img, env={**PW, **env})
    assert ours.code == 0 and ours.out == theirs.out and ours.out
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env={**PW, **env})
    assert ok.code == 0, ok.err


def test_longest_prefix_makes_a_128_character_tag(cosign, registry, tmp_path: Path) -> None:
    """52 characters is the most a prefix can be: ``.sbom`` then makes a tag of exactly
    128 characters, which the registry and cosign accept."""
    img, digest = fresh(registry)
    longest = "x" * MAX_TAG_PREFIX
    assert len(tag(digest, "sbom", longest)) == 128
    sbom = tmp_path / "s.spdx.json"
    sbom.write_text('{"spdxVersion":"SPDX-2.3"}')
    r = sigstack("attach", "sbom", "--sbom", str(sbom), "--attachment-tag-prefix", longest, img)
    assert r.code == 0, r.err
    assert tag(digest, "sbom", longest) in tags(img)
    got = run_peer(cosign, "download", "sbom", "--attachment-tag-prefix", longest, img, env=PW)
    assert got.code == 0 and got.out == sbom.read_bytes(), got.err


def test_tree_and_triangulate_agree_with_cosign(cosign, registry, keypair, tmp_path: Path) -> None:
    img, digest = fresh(registry)
    pred = tmp_path / "pred.json"
    pred.write_text('{"a":1}')
    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_text('{"spdxVersion":"SPDX-2.3"}')
    flag = ["--attachment-tag-prefix", PREFIX]
    for args in (["sign", "--key", str(keypair[0]), *flag, img],
                 ["sign", "--key", str(keypair[0]), img],  # a bare .sig beside it, not shown
                 ["sign", "--new-bundle-format", "--key", str(keypair[0]), *flag, img],
                 ["attest", "--key", str(keypair[0]), "--predicate", str(pred), *flag, img],
                 ["attach", "sbom", "--sbom", str(sbom), *flag, img]):
        r = sigstack(*args, env=PW)
        assert r.code == 0, (args, r.err)
    for kind in ("signature", "attestation", "sbom"):
        theirs = run_peer(cosign, "triangulate", "--type", kind, *flag, img, env=PW)
        ours = sigstack("triangulate", "--type", kind, *flag, img)
        assert ours.code == 0 and ours.out == theirs.out, (kind, ours.err)
        suffix = {"signature": "sig", "attestation": "att", "sbom": "sbom"}[kind]
        assert ours.out.decode() == f"{img.split('@')[0]}:{tag(digest, suffix)}\n"
    # --type digest: cosign prints repo@<prefix>sha256:<hex>, not a reference; we print the digest's.
    theirs = run_peer(cosign, "triangulate", "--type", "digest", *flag, img, env=PW).out.decode()
    ours = sigstack("triangulate", "--type", "digest", *flag, img).out.decode()
    assert theirs == ours.replace("@sha256:", f"@{PREFIX}sha256:") and ours == img + "\n"
    theirs_tree = run_peer(cosign, "tree", *flag, img, env=PW)
    ours_tree = sigstack("tree", *flag, img, env={"COSIGN_ATTACHMENT_TAG_PREFIX": "ignored-"})
    assert theirs_tree.code == 0 and ours_tree.code == 0, ours_tree.err
    assert sorted(ours_tree.out.splitlines()) == sorted(theirs_tree.out.splitlines())
    text = ours_tree.out.decode()
    assert f":{tag(digest, 'sig')}" in text and f":{tag(digest, 'sig', '')}" not in text
    assert "via OCI referrer" in text  # found through the bare fallback tag
    env_tree = sigstack("tree", img, env={"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX})
    assert env_tree.out == ours_tree.out


def test_clean_removes_the_prefixed_tags(registry, keypair) -> None:
    """cosign v3's ``clean`` accepts the flag and ignores it; ours removes what ``sign``
    with the same prefix wrote, and leaves the bare tags alone."""
    img, digest = fresh(registry)
    assert sigstack("sign", "--key", str(keypair[0]), "--attachment-tag-prefix", PREFIX, img,
                    env=PW).code == 0
    assert sigstack("sign", "--key", str(keypair[0]), img, env=PW).code == 0
    r = sigstack("clean", "-f", "--type", "signature", img, env={"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX})
    assert r.code == 0, r.err
    repo = img.split("@")[0]
    assert f"Removed {repo}:{tag(digest, 'sig')} from {img}" in r.err
    assert tag(digest, "sig") not in tags(img) and tag(digest, "sig", "") in tags(img)
    assert sigstack("verify", "--key", str(keypair[1]), "--attachment-tag-prefix", PREFIX,
                    img).code == 10
    assert sigstack("verify", "--key", str(keypair[1]), img).code == 0


def test_copy_keeps_the_prefixed_tags(cosign, registry, keypair) -> None:
    img, digest = fresh(registry)
    env = {"COSIGN_ATTACHMENT_TAG_PREFIX": PREFIX}
    assert sigstack("sign", "--key", str(keypair[0]), img, env={**PW, **env}).code == 0
    dst = registry.repo("mirror/prefixed")
    r = sigstack("copy", img, dst, env=env)
    assert r.code == 0, r.err
    # the image itself is tagged [prefix]sha256-<hex>, as cosign's copy tags it
    assert tags(f"{dst}:x") == {tag(digest, ""), tag(digest, "sig")}
    ok = run_peer(cosign, "verify", "--key", str(keypair[1]), "--insecure-ignore-tlog", f"{dst}@{digest}",
                  env={**PW, **env})
    assert ok.code == 0, ok.err
    # cosign's copy of the same, into another repository, gives the same attachment tags
    theirs = registry.repo("mirror/cosign")
    r = run_peer(cosign, "copy", "--attachment-tag-prefix", PREFIX, img, f"{theirs}:v1", env=PW)
    assert r.code == 0, r.err
    assert tags(f"{theirs}:x") == {"v1", tag(digest, ""), tag(digest, "sig")}


# ---- bad input -------------------------------------------------------------------------

BAD = {
    "slash": ("a/b-", "a tag may only contain letters, digits, '_', '.' and '-' (found '/')"),
    "at": ("a@b", "(found '@')"),
    "colon": ("v1:", "(found ':')"),
    "space": ("a b", "(found ' ')"),
    "non-ascii": ("é-", "(found 'é')"),
    "leading-dash": ("-x", "a tag cannot start with '-'"),
    "leading-dot": (".x", "a tag cannot start with '.'"),
    "too-long": ("x" * (MAX_TAG_PREFIX + 1),
                 f"{MAX_TAG_PREFIX + 1} characters, at most {MAX_TAG_PREFIX} fit"),
}


def repo_state(registry: Registry, img: str) -> tuple[set[str], set[str]]:
    """The repository's tags and the blobs linked into it (the registry's own store)."""
    path = parse_reference(img).repository.path
    links = registry.root / "data" / "docker" / "registry" / "v2" / "repositories" / path / "_layers"
    return tags(img), {str(p.relative_to(links)) for p in links.rglob("link")}


def one_error(r: Result, text: str) -> None:
    err = r.err
    assert r.code == 1, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    assert "invalid attachment tag prefix" in errors[0] and text in errors[0], err


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_prefix_on_sign_writes_nothing(case, registry, keypair) -> None:
    prefix, text = BAD[case]
    img, _ = fresh(registry)
    before = repo_state(registry, img)
    one_error(sigstack("sign", "--key", str(keypair[0]), f"--attachment-tag-prefix={prefix}", img, env=PW), text)
    one_error(sigstack("sign", "--key", str(keypair[0]), img,
                       env={**PW, "COSIGN_ATTACHMENT_TAG_PREFIX": prefix}), text)
    assert repo_state(registry, img) == before


COMMANDS = {
    "verify": lambda k, img, f: ["verify", "--key", str(k[1]), img],
    "attest": lambda k, img, f: ["attest", "--key", str(k[0]), "--predicate", str(f), img],
    "verify-attestation": lambda k, img, f: ["verify-attestation", "--key", str(k[1]), img],
    "attach-sbom": lambda k, img, f: ["attach", "sbom", "--sbom", str(f), img],
    "attach-signature": lambda k, img, f: ["attach", "signature", "--signature", str(f), img],
    "attach-attestation": lambda k, img, f: ["attach", "attestation", "--attestation", str(f), img],
    "download-signature": lambda k, img, f: ["download", "signature", img],
    "download-attestation": lambda k, img, f: ["download", "attestation", img],
    "download-sbom": lambda k, img, f: ["download", "sbom", img],
    "tree": lambda k, img, f: ["tree", img],
    "triangulate": lambda k, img, f: ["triangulate", img],
    "clean": lambda k, img, f: ["clean", img],  # refused before the confirmation prompt
    "copy": lambda k, img, f: ["copy", img, img.split("@")[0] + "-copy:v1"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_prefix_on_every_command(command, registry, keypair, tmp_path: Path) -> None:
    img, _ = fresh(registry)
    f = tmp_path / "input.json"
    f.write_text("{}")
    before = repo_state(registry, img)
    prefix, text = BAD["slash"]
    r = sigstack(*COMMANDS[command](keypair, img, f), "--attachment-tag-prefix", prefix, env=PW, input=b"y\n")
    one_error(r, text)
    assert "Are you sure" not in r.err
    assert repo_state(registry, img) == before


def _library_calls(ref: Reference, prefix: str) -> dict[str, object]:
    from sigstack import keys
    from sigstack.sign.attest import AttestOptions, attest_image
    from sigstack.sign.image import ImageSignOptions, sign_image
    from sigstack.verify.attestation import AttestationVerifyOptions, verify_attestations
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.image import ImageVerifyOptions, verify_image

    return {
        "sign_image": lambda c, k: sign_image(c, keys.load_signer(str(k[0]), b"pw"), ref,
                                              ImageSignOptions(tag_prefix=prefix)),
        "attest_image": lambda c, k: attest_image(c, keys.load_signer(str(k[0]), b"pw"), ref, b"{}", "custom",
                                                  AttestOptions(tag_prefix=prefix)),
        "verify_image": lambda c, k: verify_image(c, keys.load_verifier(str(k[1])), ref,
                                                  ImageVerifyOptions(tag_prefix=prefix,
                                                                     log=LogPolicy(insecure_ignore_tlog=True))),
        "verify_attestations": lambda c, k: verify_attestations(
            c, keys.load_verifier(str(k[1])), ref,
            AttestationVerifyOptions(log=LogPolicy(insecure_ignore_tlog=True), tag_prefix=prefix)),
        "attach_sbom": lambda c, k: attach.attach_sbom(c, ref, b"{}", "text/spdx+json", tag_prefix=prefix),
        "attach_signature": lambda c, k: attach.attach_signature(c, ref, "c2ln", tag_prefix=prefix),
        "attach_attestations": lambda c, k: attach.attach_attestations(c, ref, [], tag_prefix=prefix),
        "download_signatures": lambda c, k: attach.download_signatures(c, ref, tag_prefix=prefix),
        "download_attestations": lambda c, k: attach.download_attestations(c, ref, tag_prefix=prefix),
        "download_sbom": lambda c, k: attach.download_sbom(c, ref, tag_prefix=prefix),
        "clean": lambda c, k: attach.clean(c, ref, tag_prefix=prefix),
        "copy": lambda c, k: attach.copy(c, c, ref, ref.repository.tag("copied"), tag_prefix=prefix),
        "triangulate": lambda c, k: tools.triangulate(c, ref, tag_prefix=prefix),
        "tree": lambda c, k: tools.tree(c, ref, tag_prefix=prefix),
    }


LIBRARY = sorted(_library_calls(parse_reference("r.example/x:v1"), ""))


@pytest.mark.parametrize("entry", LIBRARY)
def test_library_refuses_a_bad_prefix_before_any_request(entry, registry, keypair) -> None:
    """Library callers get the same check as the CLI, as a ReferenceError (exit 1),
    before the first request: nothing changes in the registry."""
    img, _ = fresh(registry)
    before = repo_state(registry, img)
    call = _library_calls(parse_reference(img), BAD["at"][0])[entry]
    with RegistryClient() as client, pytest.raises(ReferenceError) as err:
        call(client, keypair)  # type: ignore[operator]
    assert isinstance(err.value, SigstackError) and exit_code_for(err.value) == 1
    assert "invalid attachment tag prefix 'a@b'" in err.value.message
    assert repo_state(registry, img) == before


@pytest.mark.parametrize("command", ["sign", "attest"])
def test_bad_prefix_refused_before_the_password_prompt(command, registry, keypair, tmp_path: Path) -> None:
    """On a terminal without COSIGN_PASSWORD the key would be loaded after a password
    prompt: the prefix is checked first, so the user is never asked for nothing."""
    import pty
    import select
    import sys

    img, _ = fresh(registry)
    pred = tmp_path / "pred.json"
    pred.write_text("{}")
    extra = ["--predicate", str(pred)] if command == "attest" else []
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    proc = subprocess.Popen([sys.executable, "-m", "sigstack.cli.main", command, "--tlog-upload=false",
                             "--key", str(keypair[0]), *extra, "--attachment-tag-prefix", "a/b", img],
                            stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    try:
        while b"Enter password" not in seen and select.select([master], [], [], 20)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            seen += chunk
    finally:
        proc.kill() if proc.poll() is None else None
        code = proc.wait(10)
        os.close(master)
    text = seen.decode(errors="replace")
    assert "Enter password" not in text
    assert code == 1 and "Error: invalid attachment tag prefix 'a/b'" in text, text
