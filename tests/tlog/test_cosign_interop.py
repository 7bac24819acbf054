"""Blob round trips between sigstack and the real cosign (v3 and v2) through our log:
cosign's uploads verify under sigstack, sigstack's under cosign, and tampering with any
part of the log evidence is caught."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigstack.bundle import trusted_root_for_log
from tests.helpers import Result, run_peer, sigstack
from tests.tlog._support import TlogServer, write_key

pytestmark = pytest.mark.interop
SIGSTACK = "sigstack"  # marks the calls sh() runs through tests.helpers.sigstack


def sh(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
    """sigstack (``SIGSTACK`` first) or a peer, with the key password; required to succeed
    unless ``ok`` is false."""
    full = {"COSIGN_PASSWORD": "pw", **(env or {})}
    proc = sigstack(*args[1:], env=full, offline=None) if args[0] == SIGSTACK else run_peer(*args, env=full)
    if ok:
        assert proc.code == 0, proc.stdout + proc.err
    return proc


@pytest.fixture
def setup(tmp_path: Path, tlog_server: TlogServer, cosign: str) -> dict[str, Any]:
    sh(cosign, "generate-key-pair", "--output-key-prefix", str(tmp_path / "signer"))
    art = tmp_path / "artifact.txt"
    art.write_bytes(b"blob signed through our log\n")
    root = tmp_path / "trusted_root.json"
    root.write_bytes(trusted_root_for_log(tlog_server.public_key.read_bytes(), tlog_server.url))
    return {"key": str(tmp_path / "signer.key"), "pub": str(tmp_path / "signer.pub"), "art": str(art),
            "root": str(root), "url": tlog_server.url, "dir": tmp_path,
            "env": {"SIGSTORE_REKOR_PUBLIC_KEY": str(tlog_server.public_key)}}


def test_cosign_v3_upload_verifies_under_both(cosign: str, setup: dict[str, Any]) -> None:
    s = setup
    bundle = str(s["dir"] / "cosign.sigstore.json")
    sh(cosign, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--use-signing-config=false",
       "--bundle", bundle, "--yes", s["art"])
    doc = json.loads(Path(bundle).read_text())
    assert doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
    sh(cosign, "verify-blob", "--key", s["pub"], "--bundle", bundle, "--trusted-root", s["root"], s["art"])
    out = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", bundle, "--trusted-root", s["root"],
             s["art"])
    assert "Verified OK" in out.err
    out = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", bundle, s["art"], env=s["env"])
    assert "Verified OK" in out.err


def test_sigstack_upload_verifies_under_cosign(cosign: str, cosign_v2: str, setup: dict[str, Any]) -> None:
    s = setup
    bundle = str(s["dir"] / "sigstack.sigstore.json")
    sig = str(s["dir"] / "artifact.sig")
    out = sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", bundle,
             "--output-signature", sig, s["art"])
    assert "tlog entry created with index: 0" in out.err
    doc = json.loads(Path(bundle).read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    sh(cosign, "verify-blob", "--key", s["pub"], "--bundle", bundle, "--trusted-root", s["root"], s["art"])
    sh(cosign_v2, "verify-blob", "--key", s["pub"], "--bundle", bundle, "--new-bundle-format",
       "--trusted-root", s["root"], s["art"])
    # without a bundle: cosign finds the entry in our log by itself
    sh(cosign, "verify-blob", "--key", s["pub"], "--signature", sig, "--rekor-url", s["url"], s["art"],
       env=s["env"])
    out = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--signature", sig, "--rekor-url", s["url"],
             s["art"], env=s["env"])
    assert "Verified OK" in out.err


def test_cosign_v2_legacy_bundle_verifies_under_sigstack(cosign_v2: str, setup: dict[str, Any]) -> None:
    s = setup
    bundle = str(s["dir"] / "legacy.json")
    sh(cosign_v2, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", bundle, "--yes",
       s["art"])
    legacy = json.loads(Path(bundle).read_text())
    # our SET-form writer reproduces cosign's rekorBundle exactly (the image annotation format)
    from sigstack.bundle import parse_rekor_bundle, rekor_bundle

    assert rekor_bundle(parse_rekor_bundle(legacy["rekorBundle"])) == legacy["rekorBundle"]
    out = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", bundle, s["art"], env=s["env"])
    assert "Verified OK" in out.err


def _b64_flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _entry(doc: dict[str, Any]) -> dict[str, Any]:
    e: dict[str, Any] = doc["verificationMaterial"]["tlogEntries"][0]
    return e


def _checkpoint_sig(doc: dict[str, Any]) -> None:
    cp = _entry(doc)["inclusionProof"]["checkpoint"]
    head, sig = cp["envelope"].rsplit(" ", 1)
    cp["envelope"] = head + " " + _b64_flip(sig.strip()) + "\n"


def _checkpoint_size(doc: dict[str, Any]) -> None:
    cp = _entry(doc)["inclusionProof"]["checkpoint"]
    lines = cp["envelope"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    cp["envelope"] = "\n".join(lines)


def _set(path: str, fn: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        obj = _entry(doc)
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[k]
        obj[keys[-1]] = fn(obj[keys[-1]])
    return mutate


TAMPER: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "checkpoint-signature": (_checkpoint_sig, "checkpoint signature does not verify"),
    "checkpoint-size": (_checkpoint_size, "checkpoint"),
    "proof-hash": (_set("inclusionProof.hashes", lambda hs: [_b64_flip(hs[0]), *hs[1:]]) , "inclusion proof"),
    "tree-size": (_set("inclusionProof.treeSize", lambda v: str(int(v) + 5)), "inclusion proof"),
    "set": (_set("inclusionPromise.signedEntryTimestamp", _b64_flip), "signed entry timestamp"),
    "integrated-time": (_set("integratedTime", lambda v: str(int(v) + 1)), "signed entry timestamp"),
    "log-index": (_set("logIndex", lambda v: str(int(v) + 1)), "signed entry timestamp"),
    "body": (_set("canonicalizedBody", lambda v: base64.b64encode(
        base64.b64decode(v).replace(b'"sha256"', b'"sha256" ')).decode()), "signed entry timestamp"),
    "log-id": (_set("logId.keyId", _b64_flip), "not trusted"),
}


@pytest.mark.parametrize("case", list(TAMPER), ids=list(TAMPER))
def test_tampered_bundle_rejected(setup: dict[str, Any], case: str) -> None:
    s = setup
    bundle = s["dir"] / "b.json"
    first = s["dir"] / "first.txt"
    first.write_bytes(b"an earlier entry, so that the proof has a hash")
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], str(first))
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", str(bundle), s["art"])
    doc = json.loads(bundle.read_text())
    mutate, message = TAMPER[case]
    mutate(doc)
    bundle.write_text(json.dumps(doc))
    proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", str(bundle),
              "--trusted-root", s["root"], s["art"], ok=False)
    assert proc.code == 1
    assert proc.err.startswith("Error: ")
    assert message in proc.err
    assert "Traceback" not in proc.err


def test_entry_for_another_artifact_rejected(setup: dict[str, Any]) -> None:
    """A genuine entry pasted into a bundle for a different signature is refused."""
    s = setup
    first, second = s["dir"] / "1.json", s["dir"] / "2.json"
    other = s["dir"] / "other.txt"
    other.write_bytes(b"something else")
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", str(first), s["art"])
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", str(second), str(other))
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    a["verificationMaterial"]["tlogEntries"] = b["verificationMaterial"]["tlogEntries"]
    first.write_text(json.dumps(a))
    proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", str(first), "--trusted-root", s["root"],
              s["art"], ok=False)
    assert proc.code == 1
    assert "different artifact digest" in proc.err


def _other_root(s: dict[str, Any]) -> list[str]:
    other = write_key(s["dir"] / "other-log.key")
    path = s["dir"] / "other-root.json"
    path.write_bytes(trusted_root_for_log(other.with_suffix(".pub").read_bytes(), s["url"]))
    return ["--trusted-root", str(path)]


BAD_VERIFY: dict[str, tuple[Callable[[dict[str, Any]], list[str]], dict[str, str], str]] = {
    "wrong-log-key": (_other_root, {}, "not trusted"),
    "no-log-key": (lambda s: [], {"SIGSTORE_REKOR_PUBLIC_KEY": ""}, "no trusted transparency log key"),
    "tampered-artifact": (lambda s: ["--trusted-root", s["root"], "--bundle-artifact-tampered"], {},
                          "message digest does not match the artifact"),
    "bundle-not-json": (lambda s: ["--trusted-root", s["root"], "--bundle-garbage"], {},
                        "invalid bundle: not JSON"),
    "root-not-json": (lambda s: ["--trusted-root", s["art"]], {}, "invalid trusted root: not JSON"),
}


@pytest.mark.parametrize("case", list(BAD_VERIFY), ids=list(BAD_VERIFY))
def test_verify_blob_bad_input(setup: dict[str, Any], case: str) -> None:
    s = setup
    bundle = s["dir"] / "b.json"
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--rekor-url", s["url"], "--bundle", str(bundle), s["art"])
    make, env, message = BAD_VERIFY[case]
    extra = make(s)
    art = s["art"]
    if "--bundle-artifact-tampered" in extra:
        extra.remove("--bundle-artifact-tampered")
        art = str(s["dir"] / "tampered.txt")
        Path(art).write_bytes(b"not what was signed")
    if "--bundle-garbage" in extra:
        extra.remove("--bundle-garbage")
        bundle.write_text("{not json")
    proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--bundle", str(bundle), *extra, art,
              env={**env}, ok=False)
    assert proc.code == 1
    assert message in proc.err
    assert "Traceback" not in proc.err


def test_insecure_ignore_tlog_is_loud(setup: dict[str, Any]) -> None:
    s = setup
    sig = s["dir"] / "a.sig"
    sh(SIGSTACK, "sign-blob", "--key", s["key"], "--tlog-upload=false", "--output-signature", str(sig),
       s["art"])
    proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--signature", str(sig), "--insecure-ignore-tlog",
              s["art"])
    assert "WARNING: Skipping tlog verification" in proc.err
    proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], "--signature", str(sig), "--rekor-url", s["url"],
              s["art"], env=s["env"], ok=False)
    assert proc.code == 1
    assert "signature not found in transparency log" in proc.err


BAD_SIGN_FLOW: dict[str, tuple[list[str], list[str], str]] = {
    "log-unreachable": (["--rekor-url", "http://127.0.0.1:9"], [],
                        "contacting the log at http://127.0.0.1:9"),
    "bundle-without-log-entry": (["--tlog-upload=false", "--bundle", "@bundle"], ["--bundle", "@bundle"],
                                 "the bundle has no transparency log entry"),
    "bundle-missing": (["--tlog-upload=false"], ["--bundle", "/nonexistent.json"],
                       "reading bundle /nonexistent.json"),
    "media-type-unknown": (["--tlog-upload=false", "--bundle", "@bundle"], ["--bundle", "@bundle-v9"],
                           "unsupported bundle media type"),
}


@pytest.mark.parametrize("case", list(BAD_SIGN_FLOW), ids=list(BAD_SIGN_FLOW))
def test_sign_verify_flow_bad_input(setup: dict[str, Any], case: str) -> None:
    s = setup
    sign_args, verify_args, message = BAD_SIGN_FLOW[case]
    bundle = s["dir"] / "b.json"
    sub = {"@bundle": str(bundle), "@bundle-v9": str(bundle)}
    proc = sh(SIGSTACK, "sign-blob", "--key", s["key"], *[sub.get(a, a) for a in sign_args], s["art"],
              ok=bool(verify_args))
    if not verify_args:
        assert proc.code == 1
    else:
        if "@bundle-v9" in verify_args:
            doc = json.loads(bundle.read_text())
            doc["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json"
            bundle.write_text(json.dumps(doc))
        proc = sh(SIGSTACK, "verify-blob", "--key", s["pub"], *[sub.get(a, a) for a in verify_args],
                  "--trusted-root", s["root"], s["art"], ok=False)
        assert proc.code == 1
    assert proc.err.startswith("Error: ") or "\nError: " in proc.err
    assert message in proc.err
    assert "Traceback" not in proc.err
