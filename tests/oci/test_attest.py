"""attest / verify-attestation against the real registry, with the real cosign both
ways, and Rego policies evaluated by a real engine (regopy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocihelpers import fresh
from tests.helpers import assert_clean_error, run_peer, sigstack

from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}
ALLOW = 'package signature\n\nallow {\n  input.predicate.builder.id == "me"\n}\n'
DENY = 'package signature\nimport rego.v1\nallow if input.predicate.builder.id == "someone-else"\n'


@pytest.fixture
def predicate(tmp_path: Path) -> Path:
    p = tmp_path / "pred.json"
    p.write_text('{"buildType":"make","builder":{"id":"me"}}')
    return p


@pytest.fixture
def policies(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {"allow.rego": ALLOW, "deny.rego": DENY, "bad.rego": "package signature\nallow {",
                       "p.cue": "predicateType: string", "p.txt": "x"}.items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


@pytest.mark.parametrize("peer", ["cosign", "cosign_v2"])
def test_sigstack_attestation_verified_by_cosign(peer, request, registry, keypair, other_keypair,
                                                 predicate) -> None:
    exe = request.getfixturevalue(peer)
    img = fresh(registry)
    r = sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate),
                 "--type", "slsaprovenance", img, env=PW)
    assert r.code == 0, r.err
    ok = run_peer(exe, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog",
             "--type", "slsaprovenance", img, env=PW)
    assert ok.code == 0, ok.err
    env = json.loads(ok.out.splitlines()[0])
    assert env["payloadType"] == "application/vnd.in-toto+json"
    bad = run_peer(exe, "verify-attestation", "--key", str(other_keypair[1]), "--insecure-ignore-tlog",
              "--type", "slsaprovenance", img, env=PW)
    assert_clean_error(bad, "no matching attestations: accepted signatures do not match threshold, "
                            "Found: 0, Expected 1")


@pytest.mark.interop
@pytest.mark.parametrize("peer,bundle", [("cosign", False), ("cosign", True), ("cosign_v2", False)])
def test_cosign_attestation_verified_by_sigstack(peer, request, registry, keypair, other_keypair, predicate,
                                                 policies, bundle) -> None:
    img = fresh(registry)
    exe = request.getfixturevalue(peer)
    flags = ["--tlog-upload=false", "-y"]
    if peer == "cosign":
        flags.append("--use-signing-config=false")
        if not bundle:
            flags.append("--new-bundle-format=false")
    r = run_peer(exe, "attest", "--key", str(keypair[0]), *flags, "--predicate", str(predicate),
            "--type", "slsaprovenance", img, env=PW)
    assert r.code == 0, r.err
    ok = sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "slsaprovenance",
                  "--policy", str(policies["allow.rego"]), img)
    assert ok.code == 0, ok.err
    statement = json.loads(__import__("base64").b64decode(json.loads(ok.out.splitlines()[0])["payload"]))
    assert statement["predicate"]["builder"]["id"] == "me"
    denied = sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "slsaprovenance",
                      "--policy", str(policies["deny.rego"]), img)
    assert denied.code == 1
    assert "There are 1 number of errors occurred during the validation:" in denied.err
    assert "Error: 1 validation errors occurred" in denied.err
    wrong = sigstack("verify-attestation", "--key", str(other_keypair[1]), "--type", "slsaprovenance", img)
    assert_clean_error(wrong, "no matching signatures: invalid signature when validating ASN.1 encoded signature", 12)


def test_custom_type_roundtrip_and_type_mismatch(registry, keypair, predicate) -> None:
    img = fresh(registry)
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate), img,
                    env=PW).code == 0
    ok = sigstack("verify-attestation", "--key", str(keypair[1]), img)
    assert ok.code == 0, ok.err
    st = json.loads(__import__("base64").b64decode(json.loads(ok.out)["payload"]))
    assert st["predicateType"] == "https://cosign.sigstore.dev/attestation/v1"
    assert st["predicate"]["Data"] == predicate.read_text()
    miss = sigstack("verify-attestation", "--key", str(keypair[1]), "--type", "spdx", img)
    assert miss.code == 1
    assert ("Error: none of the attestations matched the predicate type: spdx, found: "
            "https://cosign.sigstore.dev/attestation/v1") in miss.err


@pytest.mark.parametrize("policy,message", [
    ("p.cue", "CUE policies are not supported by sigstack"),
    ("p.txt", "Error: invalid policy format, expected .cue or .rego"),
    ("bad.rego", "invalid Rego"),
])
def test_bad_policies(registry, keypair, predicate, policies, policy, message) -> None:
    img = fresh(registry)
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate), img,
                    env=PW).code == 0
    r = sigstack("verify-attestation", "--key", str(keypair[1]), "--policy", str(policies[policy]), img)
    assert r.code == 1
    assert message in r.err
    lines = r.err.strip().splitlines()
    assert [x for x in lines if not x.startswith("WARNING: Skipping tlog")] == [lines[-1]]  # one error
    assert r.out == b""


@pytest.mark.parametrize("args,message", [
    ([], "Error: predicate cannot be empty"),
    (["--predicate", "/nonexistent/pred.json"], "Error: reading predicate /nonexistent/pred.json"),
    (["--predicate", "PRED", "--type", "not a uri"], "Error: invalid predicate type"),
])
def test_attest_bad_input(registry, keypair, predicate, args, message) -> None:
    img = fresh(registry)
    args = [str(predicate) if a == "PRED" else a for a in args]
    r = sigstack("attest", "--key", str(keypair[0]), *args, img, env=PW)
    assert r.code == 1 and message in r.err, r.err


def test_replace_drops_same_type(registry, keypair, predicate, tmp_path) -> None:
    from sigstack.oci.layouts.legacy import read_attachment

    img = fresh(registry)
    other = tmp_path / "vuln.json"
    other.write_text('{"scanner":{"uri":"x"}}')
    for args in (["--type", "slsaprovenance", "--predicate", str(predicate)],
                 ["--type", "vuln", "--predicate", str(other)],
                 ["--type", "slsaprovenance", "--predicate", str(predicate), "--replace"]):
        r = sigstack("attest", "--key", str(keypair[0]), *args, img, env=PW)
        assert r.code == 0, r.err
    ref = parse_reference(img)
    with RegistryClient() as client:
        layers = read_attachment(client, ref.repository, ref.digest or "", "att")
    assert [s.annotations["predicateType"] for s in layers] == [
        "https://slsa.dev/provenance/v0.2", "https://cosign.sigstore.dev/attestation/vuln/v1"]


@pytest.mark.interop
@pytest.mark.parametrize("policy,allowed", [("allow.rego", True), ("deny.rego", False)])
def test_rego_verdicts_match_cosign(cosign, registry, keypair, predicate, policies, policy, allowed) -> None:
    img = fresh(registry)
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate),
                    "--type", "slsaprovenance", img, env=PW).code == 0
    args = ["--key", str(keypair[1]), "--type", "slsaprovenance", "--policy", str(policies[policy]), img]
    theirs = run_peer(cosign, "verify-attestation", "--insecure-ignore-tlog", *args, env=PW)
    ours = sigstack("verify-attestation", *args)
    assert (theirs.code == 0) == (ours.code == 0) == allowed, (theirs.err, ours.err)


@pytest.mark.interop
def test_verify_attestation_output_identical_to_cosign(cosign, registry, keypair, predicate) -> None:
    img = fresh(registry)
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate),
                    "--type", "slsaprovenance", img, env=PW).code == 0
    args = ["verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog", "--type",
            "slsaprovenance", img]
    theirs, ours = run_peer(cosign, *args, env=PW), sigstack(*args)
    assert ours.code == theirs.code == 0
    assert (ours.out, ours.err) == (theirs.out, theirs.err)


@pytest.mark.interop
def test_cosign_repository_for_attestations(cosign, registry, keypair, predicate) -> None:
    img = fresh(registry)
    env = {**PW, "COSIGN_REPOSITORY": registry.repo("attestations/elsewhere")}
    assert sigstack("attest", "--key", str(keypair[0]), "--predicate", str(predicate), img,
                    env=env).code == 0
    r = run_peer(cosign, "verify-attestation", "--key", str(keypair[1]), "--insecure-ignore-tlog", img, env=env)
    assert r.code == 0, r.err
    assert sigstack("verify-attestation", "--key", str(keypair[1]), img, env=env).code == 0
    assert sigstack("verify-attestation", "--key", str(keypair[1]), img).code == 10
