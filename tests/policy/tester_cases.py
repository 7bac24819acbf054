"""The table of policy cases run through policy-controller's own ``policy-tester`` and
through ``sigstack policy test`` (tests/policy/test_tester_table.py), and the world they
run in: a registry holding images signed and attested by sigstack, by cosign v3 and by
cosign v2, unsigned ones, and two key pairs.

Outputs are compared after :func:`normalise`, which writes the run's random parts
(registry port, repository names, digests) as ``{registry}``, ``{image}`` and
``{digest}``, so the verdicts recorded from the real tester
(tests/policy/data/policy_tester_verdicts.json, made by
``python -m tests.policy.record_policy_tester``) compare across runs.

A case whose ``divergence`` is set is one where sigstack deliberately goes past
policy-controller (an open upstream issue): its sigstack outcome is given separately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import sigstack
from tests.oci.ocihelpers import Registry, fresh

PW = {"COSIGN_PASSWORD": "pw"}
ALLOW_SLSA = """package sigstore
default isCompliant = false
isCompliant {
  input.predicate.builder.id == "https://example.com/builder"
}
"""
DENY_SLSA = """package sigstore
default isCompliant = false
isCompliant {
  input.predicate.builder.id == "someone-else"
}
"""
RESULTS_DENY = """package sigstore
isCompliant[response] {
  response := {"result": false, "warning": "", "error": "builder is not trusted"}
}
"""
CIP_ONE_AUTHORITY = """package sigstore
default isCompliant = false
isCompliant {
  count(input.authorityMatches) >= 1
}
"""
CIP_TWO_AUTHORITIES = """package sigstore
default isCompliant = false
isCompliant {
  count(input.authorityMatches) == 2
}
"""
SLSA = {"builder": {"id": "https://example.com/builder"}, "buildType": "https://example.com/type"}


@dataclass
class KeylessServices:
    """A development OIDC issuer, our CA (with its CT log) and ``sigstack tlog serve``,
    and TrustRoot resources naming all three: ``sigstoreKeys``, and a TUF repository
    (built with python-tuf, tests/trust/tufrepo.py) holding them both as a
    trusted_root.json and as targets named by ``custom.sigstore.usage`` (what
    policy-tester reads), served on 127.0.0.1 (``remote``) and serialized
    (``repository``'s mirrorFS)."""

    issuer: str
    ca_url: str
    tlog_url: str
    trustroot: Path
    trusted_root: Path
    token: Any  # (email) -> an identity token from the issuer
    trustroot_remote: Path
    trustroot_repository: Path

    def trustroot_file(self, form: str) -> Path:
        return {"sigstoreKeys": self.trustroot, "remote": self.trustroot_remote,
                "repository": self.trustroot_repository}[form]


@contextmanager
def keyless_services(work: Path) -> Iterator[KeylessServices]:
    import base64
    import subprocess

    import yaml

    from tests.ca._support import Stack, ca_server, oidc_server
    from tests.tlog._support import SIGSTACK, TlogServer, write_key
    from tests.tuf_repo import Repo, mirror_fs, serve

    oidc = oidc_server(work, work / "oidc")
    ca = ca_server(work, work / "ca", oidc.url)
    tlog = TlogServer(str(work / "log.db"), write_key(work / "log.key"), work).start()
    try:
        stack = Stack(oidc, ca, work / "oidc", work / "ca")
        root = work / "trusted_root.json"
        start = "start-time=2020-01-01T00:00:00Z"
        subprocess.run([SIGSTACK, "trusted-root", "create",
                        "--fulcio", f"url={ca.url},certificate-chain={stack.ca_state / 'chain.pem'}",
                        "--rekor", f"url={tlog.url},public-key={tlog.public_key},{start}",
                        "--ctfe", f"url={ca.url},public-key={stack.ca_state / 'ct.pub'},{start}",
                        "--out", str(root)], check=True, capture_output=True)

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        crd = work / "trustroot.yaml"
        crd.write_text(yaml.safe_dump({
            "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
            "spec": {"sigstoreKeys": {
                "certificateAuthorities": [{"subject": {"organization": "sigstack", "commonName": "test"},
                                            "uri": ca.url, "certChain": b64(stack.ca_state / "chain.pem")}],
                "tLogs": [{"baseURL": tlog.url, "hashAlgorithm": "sha-256", "publicKey": b64(tlog.public_key)}],
                "ctLogs": [{"baseURL": ca.url, "hashAlgorithm": "sha-256",
                            "publicKey": b64(stack.ca_state / "ct.pub")}]}}}))
        tuf = Repo(work / "tuf")
        tuf.add_target("trusted_root.json", root.read_bytes())
        for target, path, usage, uri in (("fulcio.crt.pem", stack.ca_state / "chain.pem", "Fulcio", ca.url),
                                         ("ctfe.pub", stack.ca_state / "ct.pub", "CTFE", ca.url),
                                         ("rekor.pub", Path(tlog.public_key), "Rekor", tlog.url)):
            tuf.add_target(target, path.read_bytes(), {"sigstore": {"usage": usage, "status": "Active", "uri": uri}})
        tuf.publish()
        with serve(tuf.path) as mirror:
            remote = work / "trustroot-remote.yaml"
            tuf_root = base64.b64encode(tuf.initial_root()).decode()
            remote.write_text(yaml.safe_dump({
                "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
                "spec": {"remote": {"mirror": mirror, "root": tuf_root, "targets": "targets"}}}))
            repository = work / "trustroot-repository.yaml"
            repository.write_text(yaml.safe_dump({
                "apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot", "metadata": {"name": "ours"},
                "spec": {"repository": {"root": tuf_root, "targets": "targets",
                                        "mirrorFS": base64.b64encode(mirror_fs(tuf.path)).decode()}}}))
            yield KeylessServices(stack.issuer, ca.url, tlog.url, crd, root, stack.token, remote, repository)
    finally:
        tlog.stop()
        ca.stop()
        oidc.stop()


@dataclass
class World:
    registry: Registry
    pub_a: str
    pub_b: str
    images: dict[str, str] = field(default_factory=dict)  # variant -> repo@digest
    keyless: KeylessServices | None = None



def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    r = sigstack(*cmd, env=env or PW)
    assert r.code == 0, r.err


def build_world(registry: Registry, tmp: Path, cosign: str | None, cosign_v2: str | None,
                keyless: KeylessServices | None = None) -> World:
    """Keys A and B; images: unsigned, signed (sigstack, cosign v3, cosign v2, key B,
    cosign v3 bundle format), attested (sigstack, cosign), signed and attested, and
    signed keylessly by cosign v3 as img@example.com against ``keyless``."""
    from tests.helpers import run_peer

    keys = {}
    for name in ("a", "b"):
        d = tmp / f"key-{name}"
        d.mkdir()
        r = sigstack("generate-key-pair", env=PW, cwd=d)
        assert r.code == 0, r.err
        keys[name] = d
    world = World(registry, (keys["a"] / "cosign.pub").read_text(), (keys["b"] / "cosign.pub").read_text(),
                  keyless=keyless)
    if keyless is not None:
        assert cosign is not None
        img = fresh(registry)
        world.images["keyless"] = img
        r = run_peer(cosign, "sign", "--identity-token", keyless.token("img@example.com"), "--fulcio-url",
                     keyless.ca_url, "--rekor-url", keyless.tlog_url, "--use-signing-config=false",
                     "--new-bundle-format=false", "--trusted-root", str(keyless.trusted_root), "--yes", img)
        assert r.code == 0, r.err
        img = fresh(registry)
        world.images["keyless_attested"] = img
        pred = tmp / "slsa-keyless.json"
        pred.write_text(json.dumps(SLSA))
        r = run_peer(cosign, "attest", "--identity-token", keyless.token("img@example.com"), "--fulcio-url",
                     keyless.ca_url, "--rekor-url", keyless.tlog_url, "--use-signing-config=false",
                     "--new-bundle-format=false", "--trusted-root", str(keyless.trusted_root), "--yes",
                     "--predicate", str(pred), "--type", "slsaprovenance", img)
        assert r.code == 0, r.err
        # cosign v3's default layout: a Sigstore bundle referrer per signature / attestation
        img = fresh(registry)
        world.images["keyless_bundle"] = img
        r = run_peer(cosign, "sign", "--identity-token", keyless.token("img@example.com"), "--fulcio-url",
                     keyless.ca_url, "--rekor-url", keyless.tlog_url, "--use-signing-config=false",
                     "--new-bundle-format=true", "--trusted-root", str(keyless.trusted_root), "--yes", img)
        assert r.code == 0, r.err
        img = fresh(registry)
        world.images["keyless_bundle_attested"] = img
        r = run_peer(cosign, "attest", "--identity-token", keyless.token("img@example.com"), "--fulcio-url",
                     keyless.ca_url, "--rekor-url", keyless.tlog_url, "--use-signing-config=false",
                     "--new-bundle-format=true", "--trusted-root", str(keyless.trusted_root), "--yes",
                     "--predicate", str(pred), "--type", "slsaprovenance", img)
        assert r.code == 0, r.err
    key_a, key_b = str(keys["a"] / "cosign.key"), str(keys["b"] / "cosign.key")
    pred = tmp / "slsa.json"
    pred.write_text(json.dumps(SLSA))
    peer_flags = ["--tlog-upload=false", "-y", "--use-signing-config=false"]
    for variant in ("unsigned", "signed", "signed_cosign", "signed_cosign_v2", "signed_b", "bundle_cosign",
                    "attested", "attested_cosign", "signed_attested"):
        img = fresh(registry)
        world.images[variant] = img
        if variant in ("signed", "signed_attested"):
            _run(["sign", "--key", key_a, "--tlog-upload=false", img])
        if variant == "signed_b":
            _run(["sign", "--key", key_b, "--tlog-upload=false", img])
        if variant in ("attested", "signed_attested"):
            _run(["attest", "--key", key_a, "--tlog-upload=false", "--predicate", str(pred), "--type",
                  "slsaprovenance", img])
        for peer, want in ((cosign, "signed_cosign"), (cosign_v2, "signed_cosign_v2")):
            if variant == want:
                assert peer is not None
                extra = ["--new-bundle-format=false"] if want == "signed_cosign" else []
                flags = peer_flags if want == "signed_cosign" else ["--tlog-upload=false", "-y"]
                r = run_peer(peer, "sign", "--key", key_a, *flags, *extra, img, env=PW)
                assert r.code == 0, r.err
        if variant == "bundle_cosign":
            assert cosign is not None
            r = run_peer(cosign, "sign", "--key", key_a, *peer_flags, "--new-bundle-format=true", img, env=PW)
            assert r.code == 0, r.err
        if variant == "attested_cosign":
            assert cosign is not None
            r = run_peer(cosign, "attest", "--key", key_a, *peer_flags, "--new-bundle-format=false", "--predicate",
                         str(pred), "--type", "slsaprovenance", img, env=PW)
            assert r.code == 0, r.err
    return world


def normalise(text: str, world: World) -> str:
    """The run's random parts as placeholders (longest first, so a digest inside an
    image reference becomes part of ``{image}``)."""
    for img in sorted(world.images.values(), key=len, reverse=True):
        repo, _, digest = img.partition("@")
        tag_ref = f"{repo}:v1"
        text = text.replace(img, "{image}").replace(tag_ref, "{image_tag}").replace(digest, "{digest}")
        text = text.replace(repo, "{repo}")
    if world.keyless is not None:
        k = world.keyless
        text = text.replace(k.issuer, "{issuer}").replace(k.ca_url, "{ca_url}").replace(k.tlog_url, "{tlog_url}")
    text = text.replace(world.registry.host, "{registry}")
    return re.sub(r"sha256:[0-9a-f]{64}", "{sha256}", text)


def _key(pub: str = "{pub_a}", **extra: Any) -> dict[str, Any]:
    return {"key": {"data": pub, **extra}}


def _cip(name: str, authorities: list[dict[str, Any]], globs: tuple[str, ...] = ("{registry}/**",),
         version: str = "v1beta1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"policy.sigstore.dev/{version}", "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"images": [{"glob": g} for g in globs], "authorities": authorities, **spec}}


def _keyless(**identity: str) -> dict[str, Any]:
    ident = {"issuer": "{issuer}", "subject": "img@example.com", **identity}
    if "subjectRegExp" in ident:
        del ident["subject"]
    return {"keyless": {"url": "{ca_url}", "trustRootRef": "ours", "identities": [ident]},
            "ctlog": {"url": "{tlog_url}", "trustRootRef": "ours"}}


def _att(name: str, ptype: str, policy: str | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"name": name, "predicateType": ptype}
    if policy is not None:
        a["policy"] = {"type": "rego", "data": policy}
    return a


SLSA02 = "https://slsa.dev/provenance/v0.2"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop",
                                                       "labels": {"app": "web", "tier": "front"}},
       "spec": {"containers": [{"name": "web", "image": "IMAGE"}]}}


@dataclass(frozen=True)
class Case:
    name: str
    image: str  # a World.images variant; "tag:<variant>" for its :v1 tag; anything else as written
    policies: tuple[dict[str, Any], ...]
    resource: dict[str, Any] | None = None
    divergence: str = ""  # why sigstack differs (an upstream issue), when it does
    sigstack_code: int | None = None  # sigstack's exit code when it differs
    sigstack_out: str = ""  # sigstack's (normalised) output when it differs, if checked
    # the tester visits policies in Go's random map order and stops at the first error,
    # so the warnings it prints beside that error vary from run to run
    random_order: bool = False
    trustroot: bool = False  # pass the world's TrustRoot resource (-trustroot)
    trustroot_form: str = "sigstoreKeys"  # which of them: sigstoreKeys, remote (TUF mirror) or repository


def _a(*authorities: dict[str, Any]) -> list[dict[str, Any]]:
    return list(authorities)


def _errors(*errors: str) -> str:
    """``policy test``'s output line for these (normalised) errors."""
    return json.dumps({"errors": list(errors)}, separators=(",", ":"))


_NO_BUNDLE_SIGNATURES = ("policy-controller v0.15.1 cannot verify bundle-format image signatures (\"bundle support "
                         "for image signatures is not yet implemented\"); sigstack verifies them")
_BUNDLE_LOG_IDS = ("policy-controller v0.15.1 finds no trusted log for a bundle's entry (its sigstoreKeys "
                   "conversion stores the log ID as hex text); sigstack verifies the entry against the TrustRoot's log")


CASES: tuple[Case, ...] = (
    Case("key-signed-by-sigstack", "signed", (_cip("p", _a(_key())),)),
    Case("key-signed-by-cosign-v3", "signed_cosign", (_cip("p", _a(_key())),)),
    Case("key-signed-by-cosign-v2", "signed_cosign_v2", (_cip("p", _a(_key())),)),
    Case("key-v1alpha1", "signed", (_cip("p", _a(_key()), version="v1alpha1"),)),
    Case("key-sha256-explicit", "signed", (_cip("p", _a(_key(hashAlgorithm="sha256"))),)),
    Case("key-unsigned", "unsigned", (_cip("p", _a(_key())),)),
    Case("key-wrong-key", "signed_b", (_cip("p", _a(_key())),)),
    Case("key-by-tag", "tag:signed", (_cip("p", _a(_key())),)),
    Case("key-unsigned-by-tag", "tag:unsigned", (_cip("p", _a(_key())),)),
    Case("key-second-authority-passes", "signed", (_cip("p", _a(_key("{pub_b}"), _key())),)),
    Case("key-cosign-v3-bundle-format", "bundle_cosign", (_cip("p", _a(_key())),)),
    Case("key-bundle-format-authority", "bundle_cosign", (_cip("p", _a({**_key(), "signatureFormat": "bundle"})),),
         divergence="policy-controller#1958: key authorities cannot read cosign v3 bundles", sigstack_code=0),
    Case("static-pass", "unsigned", (_cip("p", _a({"static": {"action": "pass"}})),)),
    Case("static-fail-message", "unsigned", (_cip("p", _a({"static": {"action": "fail", "message": "frozen"}})),)),
    Case("static-fail-no-message", "unsigned", (_cip("p", _a({"static": {"action": "fail"}})),)),
    Case("warn-mode-unsigned", "unsigned", (_cip("p", _a(_key()), mode="warn"),)),
    Case("warn-mode-static-fail", "unsigned", (_cip("p", _a({"static": {"action": "fail", "message": "x"}}),
                                                    mode="warn"),)),
    Case("warn-and-enforce", "unsigned", (_cip("a-warn", _a(_key()), mode="warn"),
                                          _cip("b-enforce", _a({"static": {"action": "fail", "message": "no"}}))),
         random_order=True),
    Case("no-match", "signed", (_cip("p", _a(_key()), globs=("ghcr.io/org/**",)),)),
    Case("no-match-docker-hub-star", "signed", (_cip("p", _a(_key()), globs=("*",)),)),
    Case("glob-double-star", "unsigned", (_cip("p", _a({"static": {"action": "pass"}}), globs=("**",)),)),
    Case("glob-single-star-segment", "signed", (_cip("p", _a(_key()), globs=("{registry}/test/*",)),)),
    Case("glob-bare-repository-no-match", "signed", (_cip("p", _a(_key()), globs=("{registry}/test",)),)),
    Case("two-cips-both-pass", "signed", (_cip("a", _a(_key())), _cip("b", _a({"static": {"action": "pass"}})))),
    Case("two-cips-one-fails", "signed", (_cip("a", _a(_key())), _cip("b", _a(_key("{pub_b}"))))),
    Case("two-cips-one-matches", "signed", (_cip("a", _a(_key())),
                                            _cip("b", _a(_key("{pub_b}")), globs=("ghcr.io/**",)))),
    Case("attestation-rego-pass", "attested", (_cip("p", _a({**_key(), "attestations": [
        _att("slsa", SLSA02, ALLOW_SLSA)]})),)),
    Case("attestation-rego-deny", "attested", (_cip("p", _a({**_key(), "attestations": [
        _att("slsa", SLSA02, DENY_SLSA)]})),)),
    Case("attestation-rego-results-deny", "attested", (_cip("p", _a({**_key(), "attestations": [
        _att("slsa", SLSA02, RESULTS_DENY)]})),)),
    Case("attestation-no-policy", "attested", (_cip("p", _a({**_key(), "attestations": [_att("slsa", SLSA02)]})),)),
    Case("attestation-wrong-type", "attested", (_cip("p", _a({**_key(), "attestations": [
        _att("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1")]})),)),
    Case("attestation-missing", "signed", (_cip("p", _a({**_key(), "attestations": [_att("slsa", SLSA02)]})),)),
    Case("attestation-by-cosign", "attested_cosign", (_cip("p", _a({**_key(), "attestations": [
        _att("slsa", SLSA02, ALLOW_SLSA)]})),)),
    Case("attestation-and-signature-authorities", "signed_attested", (_cip("p", _a(
        {**_key(), "name": "sig"}, {**_key(), "name": "att", "attestations": [_att("slsa", SLSA02, ALLOW_SLSA)]}),
        policy={"type": "rego", "data": CIP_TWO_AUTHORITIES}),)),
    Case("cip-policy-pass", "signed", (_cip("p", _a(_key()), policy={"type": "rego", "data": CIP_ONE_AUTHORITY}),)),
    Case("cip-policy-deny", "signed", (_cip("p", _a(_key()), policy={"type": "rego", "data": CIP_TWO_AUTHORITIES}),)),
    Case("match-pod-selector", "signed", (_cip("p", _a(_key()), match=[
        {"group": "", "version": "v1", "resource": "pods", "selector": {"matchLabels": {"app": "web"}}}]),),
         resource=POD),
    Case("match-pod-selector-miss", "signed", (_cip("p", _a(_key()), match=[
        {"group": "", "version": "v1", "resource": "pods", "selector": {"matchLabels": {"app": "db"}}}]),),
         resource=POD),
    Case("match-without-resource", "signed", (_cip("p", _a(_key()), match=[
        {"group": "", "version": "v1", "resource": "pods"}]),)),
    Case("invalid-missing-images", "signed", ({**_cip("p", _a(_key())), "spec": {"authorities": [_key()]}},)),
    Case("invalid-glob", "signed", (_cip("p", _a(_key()), globs=("reg istry/**",)),)),
    Case("invalid-unknown-field", "signed", (_cip("p", _a({**_key(), "colour": "blue"})),)),
    Case("invalid-static-with-source", "signed", (_cip("p", _a({"static": {"action": "pass"},
                                                                "source": [{"oci": "{registry}/sigs"}]})),)),
    Case("invalid-mode", "signed", (_cip("p", _a(_key()), mode="audit"),)),
    Case("invalid-no-authority-kind", "signed", (_cip("p", _a({"name": "empty"})),)),
    Case("keyless-identity", "keyless", (_cip("p", _a(_keyless())),), trustroot=True),
    Case("keyless-subject-regexp", "keyless", (_cip("p", _a(_keyless(subjectRegExp=".*@example.com"))),),
         trustroot=True),
    Case("keyless-wrong-subject", "keyless", (_cip("p", _a(_keyless(subject="mallory@example.com"))),),
         trustroot=True),
    Case("keyless-wrong-issuer", "keyless", (_cip("p", _a(_keyless(issuer="https://accounts.example.com"))),),
         trustroot=True),
    Case("keyless-unsigned", "unsigned", (_cip("p", _a(_keyless())),), trustroot=True),
    Case("keyless-or-key", "signed", (_cip("p", _a(_keyless(), _key())),), trustroot=True),
    Case("keyless-warn", "unsigned", (_cip("p", _a(_keyless()), mode="warn"),), trustroot=True),
    Case("keyless-attestation-rego-pass", "keyless_attested", (_cip("p", _a({**_keyless(), "attestations": [
        _att("slsa", SLSA02, ALLOW_SLSA)]})),), trustroot=True),
    Case("keyless-attestation-rego-deny", "keyless_attested", (_cip("p", _a({**_keyless(), "attestations": [
        _att("slsa", SLSA02, DENY_SLSA)]})),), trustroot=True),
    Case("keyless-attestation-wrong-subject", "keyless_attested", (_cip("p", _a({
        **_keyless(subject="mallory@example.com"), "attestations": [_att("slsa", SLSA02)]})),), trustroot=True),
    Case("keyless-attestation-missing", "keyless", (_cip("p", _a({**_keyless(), "attestations": [
        _att("slsa", SLSA02)]})),), trustroot=True),
    # cosign v3 keyless signatures and attestations in the bundle format (signatureFormat: bundle).
    # policy-controller v0.15.1 verifies neither: its cosign refuses bundle image signatures, and
    # its sigstoreKeys -> TrustedRoot conversion stores each log's ID as hex text, so no bundle's
    # log entry matches a trusted log. sigstack verifies both (the divergences below).
    Case("keyless-bundle-signature", "keyless_bundle", (_cip("p", _a({**_keyless(), "signatureFormat": "bundle"})),),
         trustroot=True, divergence=_NO_BUNDLE_SIGNATURES, sigstack_code=0),
    Case("keyless-bundle-wrong-subject", "keyless_bundle", (_cip("p", _a({
        **_keyless(subject="mallory@example.com"), "signatureFormat": "bundle"})),), trustroot=True,
        divergence=_NO_BUNDLE_SIGNATURES, sigstack_code=1, sigstack_out=_errors(
            "signature keyless validation failed for authority authority-0 for {image}: no matching signatures: "
            "none of the expected identities matched what was in the certificate, got subjects [img@example.com] "
            "with issuer {issuer}: ")),
    Case("keyless-bundle-legacy-authority", "keyless_bundle", (_cip("p", _a(_keyless())),), trustroot=True),
    Case("keyless-bundle-unsigned", "unsigned", (_cip("p", _a({**_keyless(), "signatureFormat": "bundle"})),),
         trustroot=True, divergence=_NO_BUNDLE_SIGNATURES, sigstack_code=1, sigstack_out=_errors(
             "signature keyless validation failed for authority authority-0 for {image}: no signatures found: ")),
    Case("keyless-bundle-attestation-rego-pass", "keyless_bundle_attested", (_cip("p", _a({
        **_keyless(), "signatureFormat": "bundle", "attestations": [_att("slsa", SLSA02, ALLOW_SLSA)]})),),
        trustroot=True, divergence=_BUNDLE_LOG_IDS, sigstack_code=0),
    Case("keyless-bundle-attestation-rego-deny", "keyless_bundle_attested", (_cip("p", _a({
        **_keyless(), "signatureFormat": "bundle", "attestations": [_att("slsa", SLSA02, DENY_SLSA)]})),),
        trustroot=True, divergence=_BUNDLE_LOG_IDS, sigstack_code=1, sigstack_out=_errors(
            "failed evaluating rego policy for type slsa: policy is not compliant for query "
            "'isCompliant = data.sigstore.isCompliant': ")),
    Case("keyless-bundle-attestation-wrong-subject", "keyless_bundle_attested", (_cip("p", _a({
        **_keyless(subject="mallory@example.com"), "signatureFormat": "bundle",
        "attestations": [_att("slsa", SLSA02)]})),), trustroot=True, divergence=_BUNDLE_LOG_IDS, sigstack_code=1,
        sigstack_out=_errors(
            "attestation keyless validation failed for authority authority-0 for {image}: no matching "
            "attestations: none of the expected identities matched what was in the certificate, got subjects "
            "[img@example.com] with issuer {issuer}: ")),
    # the TrustRoot as a TUF repository: served (remote) and serialized (repository's mirrorFS)
    Case("keyless-trustroot-remote", "keyless", (_cip("p", _a(_keyless())),), trustroot=True,
         trustroot_form="remote"),
    Case("keyless-trustroot-remote-wrong-subject", "keyless", (_cip("p", _a(_keyless(
        subject="mallory@example.com"))),), trustroot=True, trustroot_form="remote"),
    Case("keyless-trustroot-remote-attestation", "keyless_attested", (_cip("p", _a({**_keyless(), "attestations": [
        _att("slsa", SLSA02, ALLOW_SLSA)]})),), trustroot=True, trustroot_form="remote"),
    Case("keyless-trustroot-remote-bundle", "keyless_bundle", (_cip("p", _a({
        **_keyless(), "signatureFormat": "bundle"})),), trustroot=True, trustroot_form="remote",
        divergence="policy-tester reads a TUF TrustRoot's custom-metadata targets only, into keys without the "
        "TrustedRoot media type bundle verification needs; sigstack reads trusted_root.json", sigstack_code=0),
    Case("keyless-trustroot-repository", "keyless", (_cip("p", _a(_keyless())),), trustroot=True,
         trustroot_form="repository"),
    Case("keyless-trustroot-repository-wrong-subject", "keyless", (_cip("p", _a(_keyless(
        subject="mallory@example.com"))),), trustroot=True, trustroot_form="repository"),
)


def _deep(value: Any, world: World) -> Any:
    if isinstance(value, dict):
        return {k: _deep(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v, world) for v in value]
    if isinstance(value, str):
        value = value.replace("{pub_a}", world.pub_a).replace("{pub_b}", world.pub_b)
        if world.keyless is not None:
            k = world.keyless
            value = value.replace("{issuer}", k.issuer).replace("{ca_url}", k.ca_url).replace("{tlog_url}",
                                                                                               k.tlog_url)
        return value.replace("{registry}", world.registry.host)
    return value


def policy_text(case: Case, world: World) -> str:
    import yaml

    docs = [yaml.safe_dump(_deep(p, world), sort_keys=False) for p in case.policies]
    return "\n---\n".join(docs)


def image_of(case: Case, world: World) -> str:
    if case.image.startswith("tag:"):
        return world.images[case.image[4:]].partition("@")[0] + ":v1"
    return world.images.get(case.image, case.image)


def resource_text(case: Case, world: World) -> str | None:
    if case.resource is None:
        return None
    doc = json.loads(json.dumps(case.resource).replace("IMAGE", image_of(case, world)))
    return json.dumps(doc)


@dataclass(frozen=True)
class Outcome:
    """One run, normalised: exit code, stdout (the JSON line) and the fatal message
    (the tester's ``log.Fatal`` text after its timestamp; sigstack's ``Error:`` line)."""

    code: int
    out: str
    fatal: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "out": self.out, "fatal": self.fatal}


def _files(case: Case, world: World, tmp: Path) -> tuple[Path, Path | None]:
    pol = tmp / f"{case.name}.yaml"
    pol.write_text(policy_text(case, world))
    res = None
    text = resource_text(case, world)
    if text is not None:
        res = tmp / f"{case.name}-resource.json"
        res.write_text(text)
    return pol, res


def run_policy_tester(exe: str, case: Case, world: World, tmp: Path) -> Outcome:
    from tests.helpers import run_peer

    pol, res = _files(case, world, tmp)
    args = ["-policy", str(pol), "-image", image_of(case, world), "-log-level", "error"]
    if res is not None:
        args += ["-resource", str(res)]
    if case.trustroot and world.keyless is not None:
        args += ["-trustroot", str(world.keyless.trustroot_file(case.trustroot_form))]
    r = run_peer(exe, *args)
    fatal = ""
    if r.code != 0 and not r.stdout.strip():
        # log.Fatal: the last "YYYY/MM/DD HH:MM:SS " entry (the tester's log has no
        # timestamps, so usually all of stderr), to the end: it may span lines
        stamp = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
        lines = r.err.splitlines()
        start = max((i for i, line in enumerate(lines) if stamp.match(line)), default=0)
        fatal = "; ".join(line for line in [stamp.sub("", lines[start]), *lines[start + 1:]] if line.strip())
    return Outcome(r.code, normalise(r.stdout.strip(), world), normalise(fatal, world))


def run_sigstack(case: Case, world: World, tmp: Path) -> Outcome:
    pol, res = _files(case, world, tmp)
    args = ["policy", "test", "--policy", str(pol), "--image", image_of(case, world)]
    if res is not None:
        args += ["--resource", str(res)]
    if case.trustroot and world.keyless is not None:
        args += ["--trustroot", str(world.keyless.trustroot_file(case.trustroot_form))]
    r = sigstack(*args)
    fatal = ""
    errors = [line for line in r.err.splitlines() if line.startswith("Error: ")]
    if errors:
        fatal = errors[0].removeprefix("Error: ")
    out = r.out.decode() if isinstance(r.out, bytes) else r.out
    return Outcome(r.code, normalise(out.strip(), world), normalise(fatal, world))


RECORDING = Path(__file__).resolve().parent / "data" / "policy_tester_verdicts.json"
