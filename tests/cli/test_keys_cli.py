"""generate-key-pair, import-key-pair and public-key, run as the real command."""

from __future__ import annotations

import os
import pty
import select
import stat
import sys
import termios
import time
from pathlib import Path

import pytest

from sigstack.keys.encrypted import decrypt_private_key
from tests.helpers import assert_clean_error, sigstack


def test_version() -> None:
    r = sigstack("--version")
    assert r.code == 0 and r.stdout.startswith("sigstack ")
    r = sigstack("version")  # cosign's layout (tests/cli/test_version.py has the details)
    assert r.code == 0 and "\nGitVersion:     v" in r.stdout


@pytest.mark.parametrize(
    "command",
    ["generate-key-pair", "import-key-pair", "public-key", "sign-blob", "verify-blob", "version"],
)
def test_every_command_has_help(command: str) -> None:
    r = sigstack(command, "--help")
    assert r.code == 0 and "usage: sigstack" in r.stdout


def test_generate_writes_modes_and_messages(tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path)
    assert r.code == 0, r.err
    assert "Private key written to cosign.key" in r.err
    assert "Public key written to cosign.pub" in r.err
    assert stat.S_IMODE((tmp_path / "cosign.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cosign.pub").stat().st_mode) == 0o644
    key = decrypt_private_key((tmp_path / "cosign.key").read_bytes(), b"pw")
    assert key is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_generate_with_prefix_and_empty_env_password(tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", "--output-key-prefix", tmp_path / "out/my", env={"COSIGN_PASSWORD": ""})
    assert r.code == 1  # the directory does not exist
    (tmp_path / "out").mkdir()
    r = sigstack("generate-key-pair", "--output-key-prefix", tmp_path / "out/my", env={"COSIGN_PASSWORD": ""})
    assert r.code == 0, r.err
    decrypt_private_key((tmp_path / "out/my.key").read_bytes(), b"")


def test_password_from_stdin_keeps_trailing_newline(tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", input=b"secret\n", cwd=tmp_path, unset=("COSIGN_PASSWORD",))
    assert r.code == 0, r.err
    decrypt_private_key((tmp_path / "cosign.key").read_bytes(), b"secret\n")


def test_overwrite_declined_keeps_old_files(tmp_path: Path) -> None:
    sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "a"}, cwd=tmp_path)
    before = (tmp_path / "cosign.key").read_bytes()
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "b"}, input=b"n\n", cwd=tmp_path)
    assert_clean_error(r, "user declined the prompt")
    assert "WARNING: File cosign.key already exists. Overwrite?" in r.err
    assert (tmp_path / "cosign.key").read_bytes() == before
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "b"}, input=b"y\ny\n", cwd=tmp_path)
    assert r.code == 0, r.err
    decrypt_private_key((tmp_path / "cosign.key").read_bytes(), b"b")


def _run_on_tty(args: list[str], cwd: Path, answers: list[bytes]) -> tuple[int, bytes]:
    """Run sigstack on a pseudo-terminal (its controlling tty), answering each prompt in turn."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin/stdout/stderr and /dev/tty are the pty
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "sigstack.cli.main", *args], env)
    seen = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.rstrip().endswith(b":"):
            # Answer only once the child is really reading with echo off: a pty's line
            # discipline works asynchronously, and input that lands while getpass switches
            # modes (TCSAFLUSH) is lost, as it would be for a person typing too early.
            while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)
            os.write(fd, pending.pop(0) + b"\n")
            seen += b"\n"
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_terminal_prompts_twice(tmp_path: Path) -> None:
    code, err = _run_on_tty(["generate-key-pair"], tmp_path, [b"tty-pw", b"tty-pw"])
    assert code == 0, err
    decrypt_private_key((tmp_path / "cosign.key").read_bytes(), b"tty-pw")


def test_terminal_password_mismatch(tmp_path: Path) -> None:
    code, err = _run_on_tty(["generate-key-pair"], tmp_path, [b"one", b"two"])
    assert code == 1
    assert b"Error: passwords do not match" in err
    assert not (tmp_path / "cosign.key").exists()


def test_import_then_public_key(vectors: Path, tmp_path: Path) -> None:
    src = vectors / "cosign-keys/import/validecp384.pem"
    r = sigstack("import-key-pair", "--key", src, "-o", tmp_path / "imp", env={"COSIGN_PASSWORD": "pw"})
    assert r.code == 0, r.err
    assert stat.S_IMODE((tmp_path / "imp.key").stat().st_mode) == 0o600
    r = sigstack("public-key", "--key", tmp_path / "imp.key", env={"COSIGN_PASSWORD": "pw"})
    assert r.code == 0 and r.out == (tmp_path / "imp.pub").read_bytes()
    r = sigstack("public-key", "--key", tmp_path / "imp.key", "--outfile", tmp_path / "o.pub",
                 env={"COSIGN_PASSWORD": "pw"})
    assert r.code == 0 and (tmp_path / "o.pub").read_bytes() == (tmp_path / "imp.pub").read_bytes()


def test_import_existing_needs_yes(vectors: Path, tmp_path: Path) -> None:
    src = vectors / "cosign-keys/import/validrsa.pem"
    args = ("import-key-pair", "--key", src, "-o", tmp_path / "imp")
    assert sigstack(*args, env={"COSIGN_PASSWORD": "pw"}).code == 0
    assert_clean_error(sigstack(*args, env={"COSIGN_PASSWORD": "pw"}, input=b""), "user declined")
    assert sigstack(*args, "-y", env={"COSIGN_PASSWORD": "pw"}).code == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("invalidrsawithpubkey.pem", "unsupported private key type 'PUBLIC KEY'"),
        ("invalidrsasmallkey.pem", "unsupported RSA key size 1024"),
        ("invalidrsalargekey.pem", "unsupported RSA key size 5120"),
        ("invalidecp224.pem", "unsupported ECDSA curve secp224r1"),
        ("invalidecunsupported.pem", "unsupported ECDSA curve"),
        ("invalidkey.pem", "PGP PRIVATE KEY BLOCK"),
    ],
)
def test_import_rejects(vectors: Path, tmp_path: Path, name: str, message: str) -> None:
    r = sigstack("import-key-pair", "--key", vectors / "cosign-keys/import" / name, "-o", tmp_path / "x",
                 env={"COSIGN_PASSWORD": "pw"})
    assert_clean_error(r, message)
    assert not (tmp_path / "x.key").exists()


@pytest.mark.parametrize(
    ("key", "password", "message"),
    [
        ("encrypted-sigstore.key", "wrong", "decryption failed"),
        ("legacy-cosign-label.key", "", "decryption failed"),
        ("sec1-plaintext.key", "hello", "failed to parse private key"),
        ("encrypted-sigstore.derived.pub", "hello", "unsupported pem type: PUBLIC KEY"),
        ("missing.key", "hello", "no such file"),
    ],
)
def test_public_key_bad_input(vectors: Path, key: str, password: str, message: str) -> None:
    r = sigstack("public-key", "--key", vectors / "cosign-keys" / key, env={"COSIGN_PASSWORD": password})
    assert_clean_error(r, message)


@pytest.mark.parametrize("key", ["encrypted-sigstore.key", "legacy-cosign-label.key"])
def test_public_key_of_cosign_vectors(vectors: Path, key: str) -> None:
    r = sigstack("public-key", "--key", vectors / "cosign-keys" / key, env={"COSIGN_PASSWORD": "hello"})
    assert r.code == 0, r.err
    assert r.out == (vectors / "cosign-keys" / key.replace(".key", ".derived.pub")).read_bytes()


def test_unknown_scheme_is_clean_error() -> None:
    assert_clean_error(sigstack("public-key", "--key", "nosuch://x"), "unsupported key reference scheme")


def test_usage_errors_exit_2() -> None:
    r = sigstack("sign-blob")
    assert r.code == 2 and "Traceback" not in r.err
