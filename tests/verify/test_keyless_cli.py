"""Keyless ``sigstack verify-blob`` end to end: all 70 sigstore-conformance cases through
the CLI (artifact path and ``sha256:<hex>`` digest mode), each ``_fail`` case rejected
with one ``Error:`` line naming the reason its README gives; the stock sigstore-python
``Verifier`` run on the same cases in the same test run (its agreement is asserted,
with its two known misses); the four public-good bundles of ``vectors/bundles``
through sigstack, the PyPI ``sigstore`` client and the real cosign, which must agree;
and the CLI's keyless rules (identity and issuer required, ``--key`` refuses a bundle
that carries a certificate, as cosign does)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_clean_error, sigstack
from tests.verify._vectors import BUNDLES, CONFORMANCE, case, cases

# case -> words the one Error: line must contain (the README's reason)
REASON: dict[str, str] = {
    "bundle-empty-certificate-chain_fail": "empty certificate chain",
    "bundle-from-wrong-instance_fail": "does not chain to a trusted CA",
    "bundle-invalid-base64-signature_fail": "signature is not valid base64",
    "bundle-malformed-json_fail": "not JSON",
    "bundle-negative-log-index_fail": "logIndex must be a non-negative integer",
    "bundle-unknown-version_fail": "unsupported bundle media type",
    "bundle-with-root-cert_fail": "certificate chain contains a root certificate",
    "checkpoint-bad-keyhint_fail": "checkpoint carries no signature by the log that provided the entry",
    "checkpoint-wrong-roothash_fail": "inclusion proof does not lead to the expected root hash",
    "dsse-invalid-sig_fail": "invalid signature",
    "dsse-mismatch-envelope_fail": "log entry is for a different attestation payload",
    "dsse-mismatch-sig_fail": "log entry is for a different signature",
    "inclusion-proof-corrupted-hash_fail": "inclusion proof does not lead to the expected root hash",
    "incorrect-public-key_fail": "signed entry timestamp does not verify",
    "integrated-time-in-future_fail": "signing certificate is not valid at",
    "intoto-expired-certificate_fail": "signing certificate is not valid at",
    "intoto-log-entry-mismatch_fail": "log entry is for a different signature",
    "intoto-missing-inclusion-proof_fail": "no inclusion proof",
    "intoto-set-outside-signing-cert-validity_fail": "signing certificate is not valid at",
    "intoto-tsa-timestamp-outside-cert-validity_fail": "outside the signing certificate's validity",
    "invalid-checkpoint-signature_fail": "checkpoint signature does not verify",
    "invalid-ct-key_fail": "SCT",
    "invalid-inclusion-proof_fail": "no inclusion proof with a checkpoint",
    "managed-key-no-key_fail": "no signing certificate (it was made with a key",
    "managed-key-wrong-key_fail": "parsing public key",
    "message-digest-mismatch_fail": "message digest does not match the artifact",
    "rekor2-checkpoint-missing-log-signature_fail": "signed note",
    "rekor2-checkpoint-missing-origin_fail": "checkpoint signature does not verify",
    "rekor2-checkpoint-missing-root-hash_fail": "checkpoint signature does not verify",
    "rekor2-checkpoint-missing-size_fail": "checkpoint signature does not verify",
    "rekor2-checkpoint-no-matching-signature_fail": "checkpoint signature does not verify",
    "rekor2-dsse-invalid-sig_fail": "invalid signature",
    "rekor2-dsse-mismatch-envelope_fail": "log entry does not match the signed artifact",
    "rekor2-dsse-mismatch-sig_fail": "log entry does not match the bundle: the logged signature differs",
    "rekor2-no-inclusion-proof_fail": "no inclusion proof",
    "rekor2-no-timestamp_fail": "no verified time",
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": "does not verify against a timestamp authority",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": "does not verify against a timestamp authority",
    "rekor2-timestamp-payload-mismatch_fail": "does not verify against a timestamp authority",
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": "timestamp",
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": "does not verify against a timestamp authority",
    "rekor2-timestamp-with-incorrect-time_fail": "outside the signing certificate's validity",
    "set-invalid-signature_fail": "signed entry timestamp does not verify",
    "signature-mismatch_fail": "invalid signature",
    "trust-root-tlog-missing-validity-start_fail": "validFor is missing its start",
    "wrong-hashedrekord-artifact_fail": "log entry is for a different artifact digest",
    "wrong-hashedrekord-cert-and-sig_fail": "log entry is for a different signature",
    "wrong-hashedrekord-entry_fail": "log entry is for a different artifact digest",
    "wrong-material_fail": "message digest does not match the artifact",
}
# sigstore-python 4.5.1 rejects these two passing cases (an intoto entry's integrated
# time; a timestamp exactly at its TSA's validity end): the upstream suite lists them
SIGSTORE_PYTHON_MISSES = {"intoto-with-custom-trust-root", "trust-root-tsa-validity-end-inclusive"}
NAMES = sorted(c["case"] for c in cases())


def _argv(c: dict[str, Any], digest_mode: bool) -> list[str | Path]:
    artifact = CONFORMANCE / c["artifact"]
    target: str | Path = artifact
    if digest_mode:
        target = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    argv: list[str | Path] = ["verify-blob", "--bundle", CONFORMANCE / c["bundle"],
                              "--trusted-root", CONFORMANCE / c["trusted_root"]]
    if c["verify_mode"] == "key":
        argv += ["--key", CONFORMANCE / c["key"]]
    else:
        argv += ["--certificate-identity", c["certificate_identity"],
                 "--certificate-oidc-issuer", c["certificate_oidc_issuer"]]
    return [*argv, target]


def test_every_fail_case_has_its_reason() -> None:
    assert len(NAMES) == 70
    assert {n for n in NAMES if n.endswith("_fail")} == set(REASON)


@pytest.mark.parametrize("digest_mode", [False, True], ids=["path", "digest"])
@pytest.mark.parametrize("name", NAMES)
def test_conformance_case(name: str, digest_mode: bool) -> None:
    c = case(name)
    result = sigstack(*_argv(c, digest_mode), offline=None)
    if c["expected"] == "pass":
        assert result.code == 0, result.err
        assert "Verified OK" in result.err
    else:
        assert_clean_error(result, REASON[name])


def test_sigstore_python_agrees_on_the_identity_cases() -> None:
    """The stock sigstore-python Verifier, in process, on the same 67 identity cases."""
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier, policy

    disagree = set()
    identity_cases = [c for c in cases() if c["verify_mode"] == "identity"]
    for c in identity_cases:
        try:
            verifier = Verifier(trusted_root=TrustedRoot.from_file(str(CONFORMANCE / c["trusted_root"])))
            bundle = Bundle.from_json((CONFORMANCE / c["bundle"]).read_bytes())
            pol = policy.Identity(identity=c["certificate_identity"], issuer=c["certificate_oidc_issuer"])
            if bundle._dsse_envelope is not None:
                verifier.verify_dsse(bundle, pol)
            else:
                verifier.verify_artifact((CONFORMANCE / c["artifact"]).read_bytes(), bundle, pol)
            got = "pass"
        except Exception:  # any of its error types: a rejection
            got = "fail"
        if got != c["expected"]:
            disagree.add(c["case"])
    assert len(identity_cases) == 67
    assert disagree == SIGSTORE_PYTHON_MISSES  # 65 of 67; sigstack agrees on all (above)


# ---- the four public-good bundles, through sigstack, the sigstore client and cosign -------

PUBLIC_GOOD = {  # bundle file -> (trusted root, identity, issuer, words of the expected error or None)
    "bundle_v3.txt": ("staging", "william@yossarian.net", "https://github.com/login/oauth", None),
    "bundle_v3_github.whl": ("production", "https://github.com/trailofbits/rfc8785.py/.github/workflows/"
                             "release.yml@refs/tags/v0.1.2", "https://token.actions.githubusercontent.com", None),
    "bundle_cve_2022_36056.txt": ("staging", "william@yossarian.net", "https://github.com/login/oauth",
                                  "the log entry is for a different signature"),
    "bundle_no_log_entry.txt": ("staging", "alex.cameron@trailofbits.com", "https://accounts.google.com",
                                "no verified time"),
}


def _trust_config(root: Path, out: Path) -> Path:
    """A ClientTrustConfig around ``root`` for ``sigstore --trust-config`` (its signing
    config is a placeholder: verification never contacts a service)."""
    service = {"url": "https://ca.invalid", "majorApiVersion": 1,
               "validFor": {"start": "1970-01-01T00:00:00Z"}, "operator": ""}
    out.write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(root.read_bytes()),
        "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                          "caUrls": [service], "oidcUrls": [], "rekorTlogUrls": [service], "tsaUrls": [],
                          "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}}))
    return out


def _peer(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=120)


def _cosign() -> str:
    path = shutil.which("cosign") or str(Path.home() / "go" / "bin" / "cosign")
    assert Path(path).exists(), "cosign is missing: run scripts/install-peers"
    return path


@pytest.mark.parametrize("name", sorted(PUBLIC_GOOD))
def test_public_good_bundle_agrees_with_sigstore_and_cosign(name: str, tmp_path: Path) -> None:
    import sys

    which, identity, issuer, error = PUBLIC_GOOD[name]
    root = BUNDLES / "trust" / f"{which}.trusted_root.json"
    artifact, bundle = BUNDLES / name, BUNDLES / f"{name}.sigstore"
    ours = sigstack("verify-blob", "--bundle", bundle, "--trusted-root", root, "--certificate-identity", identity,
                    "--certificate-oidc-issuer", issuer, artifact, offline=None)
    sigstore_cli = Path(sys.executable).parent / "sigstore"
    theirs = _peer([sigstore_cli, "--trust-config", _trust_config(root, tmp_path / "cfg.json"), "verify", "identity",
                    "--offline", "--cert-identity", identity, "--cert-oidc-issuer", issuer, "--bundle", bundle,
                    artifact])
    cosign = _peer([_cosign(), "verify-blob", "--bundle", bundle, "--trusted-root", root, "--certificate-identity",
                    identity, "--certificate-oidc-issuer", issuer, artifact])
    if error is None:
        assert ours.code == 0 and "Verified OK" in ours.err, ours.err
        assert theirs.returncode == 0, theirs.stderr
        assert cosign.returncode == 0, cosign.stderr
    else:
        assert_clean_error(ours, error)
        assert theirs.returncode == 1, theirs.stdout  # the peers refuse it too (each exits 1)
        assert cosign.returncode == 1, cosign.stderr


# ---- the CLI's keyless rules -------------------------------------------------------------------

HAPPY = case("happy-path-v0.3")


def _happy(*extra: str | Path) -> list[str | Path]:
    return ["verify-blob", "--bundle", CONFORMANCE / HAPPY["bundle"], "--trusted-root",
            CONFORMANCE / HAPPY["trusted_root"], *extra, CONFORMANCE / HAPPY["artifact"]]


def test_key_with_a_certificate_bundle_is_refused_as_cosign_refuses_it() -> None:
    key = CONFORMANCE / case("managed-key-happy-path")["key"]
    result = sigstack(*_happy("--key", key), offline=None)
    assert_clean_error(result, "expected key signature, not certificate")
    assert "--certificate-identity" in result.err  # the hint, in flag terms
    cosign = _peer([_cosign(), *_happy("--key", key)])
    assert cosign.returncode == 1 and "expected key signature, not certificate" in cosign.stderr


@pytest.mark.parametrize(("flags", "words"), [
    (("--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"),
     "--certificate-identity or --certificate-identity-regexp is required for verification in keyless mode"),
    (("--certificate-identity", HAPPY["certificate_identity"]),
     "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required for verification in keyless mode"),
])
def test_identity_and_issuer_are_both_required(flags: tuple[str, str], words: str) -> None:
    assert_clean_error(sigstack(*_happy(*flags), offline=None), words)


@pytest.mark.parametrize(("flags", "words"), [
    (("--certificate-identity", "someone@example.com", "--certificate-oidc-issuer",
      "https://token.actions.githubusercontent.com"), "is the expected identity 'someone@example.com'"),
    (("--certificate-identity", HAPPY["certificate_identity"], "--certificate-oidc-issuer",
      "https://accounts.google.com"), "does not match the expected 'https://accounts.google.com'"),
    (("--certificate-identity-regexp", "^https://github.com/other/", "--certificate-oidc-issuer-regexp",
      "githubusercontent"), "matches the regexp '^https://github.com/other/'"),
    (("--certificate-identity", HAPPY["certificate_identity"], "--certificate-oidc-issuer",
      "https://token.actions.githubusercontent.com", "--certificate-github-workflow-trigger", "release"),
     "GitHub Workflow Trigger"),
])
def test_identity_policy_mismatch_is_one_error(flags: tuple[str, ...], words: str) -> None:
    assert_clean_error(sigstack(*_happy(*flags), offline=None), words)


def test_identity_regexps_pass() -> None:
    result = sigstack(*_happy("--certificate-identity-regexp", "^https://github.com/sigstore-conformance/",
                              "--certificate-oidc-issuer-regexp", r"^https://token\.actions\."), offline=None)
    assert result.code == 0, result.err


def test_insecure_ignore_tlog_has_no_verified_time_without_a_timestamp() -> None:
    """With the log skipped its integrated time is not verified, so a Rekor v1 bundle
    without an RFC 3161 timestamp has no verified time (the SET is never trusted unread)."""
    result = sigstack(*_happy("--certificate-identity", HAPPY["certificate_identity"], "--certificate-oidc-issuer",
                              HAPPY["certificate_oidc_issuer"], "--insecure-ignore-tlog"), offline=None)
    assert_clean_error(result, "no verified time")


# ---- verify-blob-attestation: DSSE bundles, keyless, next to cosign ----------------------------

@pytest.mark.parametrize(("name", "type_", "words"), [
    ("happy-path-intoto-in-dsse-v3", "slsaprovenance1", None),
    ("rekor2-dsse-happy-path", None, None),
    ("happy-path-intoto-in-dsse-v3", None, "invalid predicate type, expected custom got https://slsa.dev/provenance/v1"),
    ("dsse-mismatch-envelope_fail", None, "log entry is for a different attestation payload"),
])
def test_verify_blob_attestation_agrees_with_cosign(name: str, type_: str | None, words: str | None) -> None:
    import base64

    c = case(name)
    payload = json.loads(base64.b64decode(json.loads((CONFORMANCE / c["bundle"]).read_bytes())["dsseEnvelope"]
                                          ["payload"]))
    kind = type_ or ("custom" if words and "predicate" in words else payload["predicateType"])
    argv: list[str | Path] = ["verify-blob-attestation", "--bundle", CONFORMANCE / c["bundle"], "--trusted-root",
                              CONFORMANCE / c["trusted_root"], "--type", kind,
                              "--certificate-identity", c["certificate_identity"],
                              "--certificate-oidc-issuer", c["certificate_oidc_issuer"], CONFORMANCE / c["artifact"]]
    ours = sigstack(*argv, offline=None)
    theirs = _peer([_cosign(), *argv])
    if words is None:
        assert ours.code == 0 and "Verified OK" in ours.err, ours.err
        assert theirs.returncode == 0, theirs.stderr
    else:
        assert_clean_error(ours, words)
        assert theirs.returncode == 1, theirs.stderr


def test_key_refuses_a_certificate_bundle_in_every_flow() -> None:
    """The library pipeline refuses it for DSSE bundles too (image bundle referrers and
    attestations go through ``verify_envelope``)."""
    from sigstack.bundle.models import Bundle
    from sigstack.errors import VerificationError
    from sigstack.keys import load_verifier
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.verifier import Verifier

    key = load_verifier(str(CONFORMANCE / case("managed-key-happy-path")["key"]))
    bundle = Bundle.from_json((CONFORMANCE / case("happy-path-intoto-in-dsse-v3")["bundle"]).read_bytes())
    with pytest.raises(VerificationError, match="expected key signature, not certificate"):
        Verifier(key, LogPolicy(insecure_ignore_tlog=True)).verify_envelope(bundle.envelope, bundle=bundle)


# ---- malformed keyless input: one Error: line, never a traceback --------------------------------

def _bad_file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("flags", "env", "words"), [
    (("--trusted-root", "{tmp}/missing.json"), {}, "--trusted-root: reading"),
    (("--trusted-root", "{tmp}/garbage"), {}, "trusted root"),
    (("--certificate", "{tmp}/garbage"), {}, "--certificate: "),
    (("--certificate-chain", "{tmp}/garbage"), {}, "--certificate-chain: "),
    (("--sct", "{tmp}/garbage"), {}, "SCT: the detached SCT is not JSON"),
    (("--rfc3161-timestamp", "{tmp}/brace"), {}, "--rfc3161-timestamp: "),
    (("--rfc3161-timestamp", "{tmp}/garbage"), {}, "timestamp"),
    (("--ca-roots", "{tmp}/garbage"), {}, "--ca-roots: "),
    (("--ca-intermediates", "{tmp}/garbage"), {}, "--ca-intermediates needs --ca-roots"),
    (("--timestamp-certificate-chain", "{tmp}/garbage"), {}, "--timestamp-certificate-chain: "),
    ((), {"SIGSTORE_REKOR_PUBLIC_KEY": "{tmp}/garbage"}, "$SIGSTORE_REKOR_PUBLIC_KEY: "),
    ((), {"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": "{tmp}/missing.pem"}, "$SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: reading"),
    ((), {"SIGSTORE_ROOT_FILE": "{tmp}/garbage"}, "$SIGSTORE_ROOT_FILE: "),
    (("--certificate-identity-regexp", "(", "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com"),
     {}, "malformed identity regexp"),
])
def test_malformed_keyless_input_is_one_error(flags: tuple[str, ...], env: dict[str, str], words: str,
                                              tmp_path: Path) -> None:
    _bad_file(tmp_path, "garbage", b"\x00\x01 not a certificate, key or JSON")
    _bad_file(tmp_path, "brace", b"{not json")
    flags = tuple(f.replace("{tmp}", str(tmp_path)) for f in flags)
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    argv = list(_happy(*flags))
    if "--certificate-identity-regexp" not in flags:
        argv[-1:-1] = ["--certificate-identity", HAPPY["certificate_identity"], "--certificate-oidc-issuer",
                       HAPPY["certificate_oidc_issuer"]]
    if "--trusted-root" in flags:  # the flag under test replaces the case's trusted root
        i = argv.index("--trusted-root")
        del argv[i:i + 2]
        argv[1:1] = ["--trusted-root", flags[flags.index("--trusted-root") + 1]]
    # (the variables replace parts of --trusted-root: no test ever reaches the TUF default online)
    assert_clean_error(sigstack(*argv, env=env, offline=None), words)
