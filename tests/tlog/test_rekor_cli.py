"""The real rekor-cli (v1.5.4) against `sigstack tlog serve`: upload, get, search,
verify and loginfo (which checks consistency between the checkpoints it has seen)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.tlog._support import TlogServer, write_key

pytestmark = pytest.mark.interop


def run(rekor_cli: str, home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run([rekor_cli, *args], capture_output=True, text=True, env=env, timeout=60)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def artifact(tmp_path: Path) -> tuple[Path, Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "signer.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    art = tmp_path / "artifact.txt"
    art.write_bytes(b"an artifact for rekor-cli\n")
    sig = tmp_path / "artifact.sig"
    sig.write_bytes(key.sign(art.read_bytes(), ec.ECDSA(hashes.SHA256())))
    return art, sig, pub


def test_upload_get_search_verify(rekor_cli: str, tlog_server: TlogServer, tmp_path: Path,
                                  artifact: tuple[Path, Path, Path]) -> None:
    art, sig, pub = artifact
    url = ["--rekor_server", tlog_server.url]
    files = ["--artifact", str(art), "--signature", str(sig), "--public-key", str(pub),
             "--type", "hashedrekord"]
    out = run(rekor_cli, tmp_path, "upload", *url, *files).stdout
    assert "Created entry at index 0" in out
    uuid = out.strip().rsplit("/", 1)[-1]
    again = run(rekor_cli, tmp_path, "upload", *url, *files).stdout
    assert "Entry already exists" in again
    for how in (["--log-index", "0"], ["--uuid", uuid], ["--uuid", uuid[16:]]):
        got = json.loads(run(rekor_cli, tmp_path, "get", *url, *how, "--format", "json").stdout)
        assert got["LogIndex"] == 0
        assert got["Body"]["HashedRekordObj"]["signature"]["publicKey"]["content"]
    for how in (["--artifact", str(art)], ["--public-key", str(pub)],
                ["--sha", "sha256:" + __import__("hashlib").sha256(art.read_bytes()).hexdigest()]):
        found = run(rekor_cli, tmp_path, "search", *url, *how).stdout
        assert uuid in found
    out = run(rekor_cli, tmp_path, "verify", *url, *files).stdout
    assert "Inclusion Proof" in out or "Computed Root Hash" in out


def test_verify_rejects_unlogged(rekor_cli: str, tlog_server: TlogServer, tmp_path: Path,
                                 artifact: tuple[Path, Path, Path]) -> None:
    art, sig, pub = artifact
    proc = run(rekor_cli, tmp_path, "verify", "--rekor_server", tlog_server.url, "--artifact", str(art),
               "--signature", str(sig), "--public-key", str(pub), "--type", "hashedrekord", ok=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "entry in log cannot be located\n")


def test_loginfo_checks_consistency(rekor_cli: str, tlog_server: TlogServer, tmp_path: Path,
                                    artifact: tuple[Path, Path, Path]) -> None:
    art, sig, pub = artifact
    url = ["--rekor_server", tlog_server.url]
    first = run(rekor_cli, tmp_path, "loginfo", *url).stdout
    assert "Total Tree Size:        0" in first or "Tree Size: 0" in first.replace("  ", " ")
    run(rekor_cli, tmp_path, "upload", *url, "--artifact", str(art), "--signature", str(sig),
        "--public-key", str(pub), "--type", "hashedrekord")
    mid = run(rekor_cli, tmp_path, "loginfo", *url)
    assert "1" in mid.stdout
    from sigstack.tlog.client import RekorClient, hashedrekord

    client = RekorClient(tlog_server.url)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib

    for i in range(9):
        data = b"more %d" % i
        client.upload(hashedrekord(key.sign(data, ec.ECDSA(hashes.SHA256())),
                                   hashlib.sha256(data).digest(), "sha256", pem))
    last = run(rekor_cli, tmp_path, "loginfo", *url, "--format", "json").stdout
    assert json.loads(last)["ActiveTreeSize"] == 10
    assert "Verification Successful!" in run(rekor_cli, tmp_path, "loginfo", *url).stdout
    state = json.loads((tmp_path / ".rekor" / "state.json").read_text())
    assert any("\n10\n" in v for v in state.values())


def test_loginfo_detects_forked_log(rekor_cli: str, tmp_path: Path,
                                   artifact: tuple[Path, Path, Path]) -> None:
    """Same key and URL, but the history was rewritten: rekor-cli must refuse it."""
    art, sig, pub = artifact
    key = write_key(tmp_path / "log.key")
    a = TlogServer(str(tmp_path / "a.db"), key, tmp_path).start()
    try:
        url = ["--rekor_server", a.url]
        run(rekor_cli, tmp_path, "upload", *url, "--artifact", str(art), "--signature", str(sig),
            "--public-key", str(pub), "--type", "hashedrekord")
        run(rekor_cli, tmp_path, "loginfo", *url)
    finally:
        a.stop()
    # copy the database, then make the fork differ: same tree ID, different first leaf
    import sqlite3

    conn = sqlite3.connect(tmp_path / "a.db")
    tree_id = conn.execute("SELECT v FROM meta WHERE k = 'tree_id'").fetchone()[0]
    conn.close()
    b_db = tmp_path / "b.db"
    conn = sqlite3.connect(b_db)
    conn.executescript("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);")
    conn.execute("INSERT INTO meta VALUES ('tree_id', ?), ('size', '0'), ('root', ?)",
                 (tree_id, __import__("hashlib").sha256(b"").hexdigest()))
    conn.commit()
    conn.close()
    b = TlogServer(str(b_db), key, tmp_path)
    b.start()
    try:
        from sigstack.tlog.client import RekorClient, hashedrekord

        k2 = ec.generate_private_key(ec.SECP256R1())
        pem = k2.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        import hashlib

        for i in range(3):
            data = b"fork %d" % i
            RekorClient(b.url).upload(hashedrekord(k2.sign(data, ec.ECDSA(hashes.SHA256())),
                                                   hashlib.sha256(data).digest(), "sha256", pem))
        proc = run(rekor_cli, tmp_path, "loginfo", "--rekor_server", b.url, ok=False)
        assert proc.returncode == 1, proc.stderr
        # its consistency check failed
        assert "\ncalculated root:\n" in proc.stderr and "does not match expected root" in proc.stderr
    finally:
        b.stop()
