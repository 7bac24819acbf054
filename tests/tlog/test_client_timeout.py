"""``-t/--timeout`` bounds every request to the log, as cosign's ``--timeout`` does.

The "log" here is a loopback socket that accepts connections and never answers (a
stalled server; no real Rekor can be made to hang on demand), so each command must
give up after the timeout with one clear line instead of waiting for the default.
Since the log never answers, a command can end only by a timeout, and the error names
its value; one that ignored ``-t`` would outlive the runner's 120 s limit and fail. No
clock is read: a wall-clock bound would flake on a loaded machine."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import assert_clean_error, sigstack


@pytest.fixture
def stalled_log() -> Iterator[str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # read nothing, answer nothing
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    t.join()
    for c in held:
        c.close()
    server.close()


@pytest.fixture
def keys_and_file(tmp_path: Path) -> tuple[Path, Path, Path]:
    assert sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path).code == 0
    art = tmp_path / "a.txt"
    art.write_text("artifact\n")
    return tmp_path / "cosign.key", tmp_path / "cosign.pub", art


def test_sign_blob_upload_times_out(stalled_log: str, keys_and_file: tuple[Path, Path, Path]) -> None:
    key, _, art = keys_and_file
    r = sigstack("sign-blob", "--key", key, "--tlog-upload=true", "--rekor-url", stalled_log,
                        "-t", "1s", art, env={"COSIGN_PASSWORD": "pw"})
    assert_clean_error(r, f"contacting the log at {stalled_log}: timed out after 1 s (-t/--timeout)")


def test_verify_blob_lookup_times_out(stalled_log: str, keys_and_file: tuple[Path, Path, Path],
                                      tmp_path: Path) -> None:
    key, pub, art = keys_and_file
    sig = tmp_path / "a.sig"
    r = sigstack("sign-blob", "--key", key, "--output-signature", sig, art, env={"COSIGN_PASSWORD": "pw"})
    assert r.code == 0, r.err
    log_pub = tmp_path / "log.pub"
    log_pub.write_bytes(pub.read_bytes())  # any trusted key: the lookup itself must time out
    r = sigstack("verify-blob", "--key", pub, "--signature", sig, "--insecure-ignore-tlog=false",
                        "--rekor-url", stalled_log, "--timeout", "1500ms", art,
                        env={"SIGSTORE_REKOR_PUBLIC_KEY": str(log_pub)})
    assert_clean_error(r, "timed out after 1.5 s (-t/--timeout)")


def test_tlog_get_times_out(stalled_log: str) -> None:
    r = sigstack("tlog", "get", "--rekor-url", stalled_log, "--log-index", "0", "-t", "1s")
    assert_clean_error(r, "timed out after 1 s (-t/--timeout)")
