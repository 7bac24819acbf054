"""sign-blob / verify-blob as the real command, for every key type, plus bad input."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests.helpers import Result, assert_clean_error, sigstack

PW = {"COSIGN_PASSWORD": "pw"}
KEY_VECTORS = ["validecp256.pem", "validecp384.pem", "validecp521.pem", "validrsa.pem", "ed25519key.pem"]


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    assert sigstack("generate-key-pair", env=PW, cwd=d).code == 0
    (d / "artifact").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return d


def sign(keydir: Path, *extra: str | Path, key: str | Path = "cosign.key") -> Result:
    return sigstack("sign-blob", "--key", keydir / key, *extra, env=PW)


def test_roundtrip_stdout(keydir: Path) -> None:
    r = sign(keydir, keydir / "artifact")
    assert r.code == 0, r.err
    assert r.stdout.endswith("\n")
    sig = r.stdout.strip()
    base64.b64decode(sig, validate=True)
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", sig, keydir / "artifact")
    assert v.code == 0 and "Verified OK" in v.err


def test_signature_file_and_stdin(keydir: Path, tmp_path: Path) -> None:
    sig = tmp_path / "a.sig"
    r = sign(keydir, "--output-signature", sig, keydir / "artifact")
    assert r.code == 0 and r.out == b""
    data = (keydir / "artifact").read_bytes()
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", sig, "-", input=data)
    assert v.code == 0, v.err
    r = sigstack("sign-blob", "--key", keydir / "cosign.key", "-", input=data, env=PW)
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", r.stdout.strip(),
                 keydir / "artifact")
    assert v.code == 0, v.err


def test_raw_signature_and_output_file(keydir: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw.sig"
    r = sign(keydir, "--b64=false", "--output-file", out, keydir / "artifact")
    assert r.code == 0, r.err
    (tmp_path / "b64.sig").write_bytes(base64.b64encode(out.read_bytes()))
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", tmp_path / "b64.sig",
                 keydir / "artifact")
    assert v.code == 0, v.err


def test_digest_instead_of_file(keydir: Path) -> None:
    import hashlib

    sig = sign(keydir, keydir / "artifact").stdout.strip()
    digest = hashlib.sha256((keydir / "artifact").read_bytes()).hexdigest()
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", sig, f"sha256:{digest}")
    assert v.code == 0, v.err
    v = sigstack("verify-blob", "--key", keydir / "cosign.pub", "--signature", sig, f"sha256:{'0' * 64}")
    assert_clean_error(v, "invalid signature")


def test_env_references_and_cosign_env_flags(keydir: Path, tmp_path: Path) -> None:
    env = {**PW, "K": (keydir / "cosign.key").read_text(), "COSIGN_KEY": "env://K"}
    r = sigstack("sign-blob", keydir / "artifact", env=env)  # --key from COSIGN_KEY
    assert r.code == 0, r.err
    r2 = sigstack("sign-blob", keydir / "artifact", env={**env, "COSIGN_OUTPUT_SIGNATURE": str(tmp_path / "s"),
                                                        "COSIGN_TLOG_UPLOAD": "false"})
    assert r2.code == 0 and (tmp_path / "s").read_text().strip()
    r3 = sigstack("sign-blob", "--key", "nosuch.key", keydir / "artifact", env=env)  # the flag wins
    assert_clean_error(r3, "no such file")
    r4 = sigstack("sign-blob", keydir / "artifact", env={**env, "COSIGN_TLOG_UPLOAD": "maybe"})
    assert r4.code == 2 and "Traceback" not in r4.err
    env2 = {"P": (keydir / "cosign.pub").read_text(), "S": r.stdout}
    v = sigstack("verify-blob", "--key", "env://P", "--signature", "env://S", keydir / "artifact", env=env2)
    assert v.code == 0, v.err


@pytest.mark.parametrize("name", KEY_VECTORS)
def test_every_key_type(vectors: Path, tmp_path: Path, name: str, keydir: Path) -> None:
    prefix = tmp_path / "k"
    assert sigstack("import-key-pair", "--key", vectors / "cosign-keys/import" / name, "-o", prefix,
                    env=PW).code == 0
    r = sigstack("sign-blob", "--key", f"{prefix}.key", keydir / "artifact", env=PW)
    assert r.code == 0, r.err
    v = sigstack("verify-blob", "--key", f"{prefix}.pub", "--signature", r.stdout.strip(), keydir / "artifact")
    assert v.code == 0, v.err


def test_tlog_upload_true_needs_a_reachable_log(keydir: Path) -> None:
    """Uploading is real now (tests/tlog runs it against a log); an unreachable log is one clean error."""
    r = sign(keydir, "--tlog-upload=true", "--rekor-url", "http://127.0.0.1:9", keydir / "artifact")
    assert_clean_error(r, "contacting the log at http://127.0.0.1:9")
    assert sign(keydir, "--tlog-upload=false", keydir / "artifact").code == 0


def _tampered(keydir: Path, tmp: Path) -> Path:
    data = bytearray((keydir / "artifact").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp / "tampered").write_bytes(bytes(data))
    return tmp / "tampered"


CASES = {
    "wrong-password": (lambda k, t, s: sigstack("sign-blob", "--key", k / "cosign.key", k / "artifact",
                                                env={"COSIGN_PASSWORD": "nope"}), "decryption failed"),
    "corrupt-key": (lambda k, t, s: (t / "c.key").write_text((k / "cosign.key").read_text()[:200] + "\n")
                    and sigstack("sign-blob", "--key", t / "c.key", k / "artifact", env=PW), "PEM"),
    "truncated-key": (lambda k, t, s: (t / "t.key").write_bytes((k / "cosign.key").read_bytes()[:-80])
                      and sigstack("sign-blob", "--key", t / "t.key", k / "artifact", env=PW), "PEM"),
    "not-a-key": (lambda k, t, s: (t / "n.key").write_text("hello\n")
                  and sigstack("sign-blob", "--key", t / "n.key", k / "artifact", env=PW), "no PEM data"),
    "huge-file-as-key": (lambda k, t, s: sigstack("sign-blob", "--key", k / "artifact", k / "artifact",
                                                  env=PW), "not a key"),
    "public-as-private": (lambda k, t, s: sigstack("sign-blob", "--key", k / "cosign.pub", k / "artifact",
                                                   env=PW), "unsupported pem type: PUBLIC KEY"),
    "missing-artifact-sign": (lambda k, t, s: sigstack("sign-blob", "--key", k / "cosign.key", t / "nope",
                                                       env=PW), "no such file"),
    "directory-artifact": (lambda k, t, s: sigstack("sign-blob", "--key", k / "cosign.key", t, env=PW),
                           "is a directory"),
    "signature-not-base64": (lambda k, t, s: sigstack("verify-blob", "--key", k / "cosign.pub", "--signature",
                                                      "%%%not-base64%%%", k / "artifact"),
                             "neither a readable file nor valid base64"),
    "signature-file-garbage": (lambda k, t, s: (t / "g.sig").write_text("@@@@\n") and sigstack(
        "verify-blob", "--key", k / "cosign.pub", "--signature", t / "g.sig", k / "artifact"),
        "not valid base64"),
    "tampered-file": (lambda k, t, s: sigstack("verify-blob", "--key", k / "cosign.pub", "--signature", s,
                                               _tampered(k, t)), "invalid signature"),
    "tampered-signature": (lambda k, t, s: sigstack(
        "verify-blob", "--key", k / "cosign.pub", "--signature",
        base64.b64encode(base64.b64decode(s)[:-2] + b"\x00\x01").decode(), k / "artifact"),
        "invalid signature"),
    "missing-artifact-verify": (lambda k, t, s: sigstack("verify-blob", "--key", k / "cosign.pub",
                                                         "--signature", s, t / "nope"), "no such file"),
    "wrong-key": (lambda k, t, s: sigstack("generate-key-pair", env={"COSIGN_PASSWORD": ""}, cwd=t)
                  and sigstack("verify-blob", "--key", t / "cosign.pub", "--signature", s, k / "artifact"),
                  "invalid signature"),
    "missing-public-key": (lambda k, t, s: sigstack("verify-blob", "--key", t / "none.pub", "--signature", s,
                                                    k / "artifact"), "no such file"),
    "private-as-public": (lambda k, t, s: sigstack("verify-blob", "--key", k / "cosign.key", "--signature", s,
                                                   k / "artifact"), "unknown Public key PEM file type"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, keydir: Path, tmp_path: Path) -> None:
    sig = sign(keydir, keydir / "artifact").stdout.strip()
    action, message = CASES[case]
    assert_clean_error(action(keydir, tmp_path, sig), message)


def test_unreadable_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Permission errors become one line (checked in-process: CI runs as root, who reads anything)."""
    from sigstack._internal.artifact import open_artifact
    from sigstack.errors import ArtifactError

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ArtifactError, match="permission denied"), open_artifact(tmp_path / "f"):
        pass
