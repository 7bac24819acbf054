"""`sigstack tlog get|search|verify|consistency` against a running log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sigstack.tlog.client import RekorClient
from tests.helpers import Result, sigstack
from tests.tlog._support import Signer, TlogServer, write_key


def cli(*args: str, ok: bool = True) -> Result:
    """``sigstack tlog ARGS``, required to succeed unless ``ok`` is false."""
    proc = sigstack("tlog", *args, offline=None, timeout=60)
    if ok:
        assert proc.code == 0, proc.err
    return proc


def test_get_search_consistency(tlog_server: TlogServer, signer: Signer, tmp_path: Path) -> None:
    client = RekorClient(tlog_server.url)
    for i in range(3):
        client.upload(signer.proposal(b"cli %d" % i))
    url = ["--rekor-url", tlog_server.url, "--public-key", str(tlog_server.public_key)]
    got = cli("get", *url, "--log-index", "1")
    doc = json.loads(got.stdout)
    assert doc["LogIndex"] == 1 and doc["Body"]["kind"] == "hashedrekord"
    assert "Verified inclusion of entry 1 in tree size 3" in got.err
    assert json.loads(cli("get", *url, "--uuid", doc["UUID"]).stdout)["LogIndex"] == 1
    found = cli("search", "--rekor-url", tlog_server.url, "--sha", hashlib.sha256(b"cli 1").hexdigest())
    assert found.stdout.split() == [doc["UUID"]]
    pub = tmp_path / "signer.pub"
    pub.write_bytes(signer.pem)
    assert len(cli("search", "--rekor-url", tlog_server.url, "--public-key", str(pub)).stdout.split()) == 3
    state = tmp_path / "state"
    assert "tree size 3" in cli("consistency", *url, "--state", str(state)).err
    client.upload(signer.proposal(b"cli 4"))
    assert "from tree size 3 to 4" in cli("consistency", *url, "--state", str(state)).err
    assert "tree size 4" in cli("verify", *url).err
    root = json.loads(cli("trusted-root", "--public-key", str(tlog_server.public_key), "--url",
                          tlog_server.url).stdout)
    assert root["tlogs"][0]["baseUrl"] == tlog_server.url


def test_consistency_detects_rewritten_log(tmp_path: Path, signer: Signer) -> None:
    key = write_key(tmp_path / "log.key")
    state = tmp_path / "state"
    a = TlogServer(str(tmp_path / "a.db"), key, tmp_path).start()
    try:
        RekorClient(a.url).upload(signer.proposal(b"original"))
        cli("consistency", "--rekor-url", a.url, "--public-key", str(a.public_key), "--state", str(state))
    finally:
        a.stop()
    b = TlogServer(str(tmp_path / "b.db"), key, tmp_path).start()  # same key, other history
    try:
        for i in range(2):
            RekorClient(b.url).upload(signer.proposal(b"forged %d" % i))
        proc = cli("consistency", "--rekor-url", b.url, "--public-key", str(b.public_key),
                   "--state", str(state), ok=False)
        assert proc.code == 1
        assert proc.err.startswith("Error: consistency proof does not lead to the")
    finally:
        b.stop()


BAD = {
    "unknown-index": (["get", "--log-index", "99"], "no such entry in the log"),
    "wrong-log-key": (["get", "--log-index", "0", "--public-key", "@other"], "not the trusted log key"),
    "missing-key-file": (["get", "--log-index", "0", "--public-key", "/nonexistent.pub"],
                         "reading log public key /nonexistent.pub"),
    "search-nothing": (["search"], "give --sha, --public-key or --email"),
    "search-bad-sha": (["search", "--sha", "sha256:xyz"], "hash must be <algorithm>:<hex>"),
    "unreachable": (["verify", "--rekor-url", "http://127.0.0.1:9"], "contacting the log"),
    "trusted-root-no-key-file": (["trusted-root", "--public-key", "/nonexistent", "--url", "x"],
                                 "reading log public key /nonexistent"),
    "trusted-root-not-a-key": (["trusted-root", "--public-key", "/etc/hostname", "--url", "x"],
                               "not a PEM public key"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_cli_bad_input(tlog_server: TlogServer, signer: Signer, tmp_path: Path, case: str) -> None:
    RekorClient(tlog_server.url).upload(signer.proposal(b"one"))
    args, message = BAD[case]
    if "@other" in args:
        other = str(write_key(tmp_path / "other.key").with_suffix(".pub"))
        args = [other if a == "@other" else a for a in args]
    if "--rekor-url" not in args and args[0] != "trusted-root":
        args = [*args, "--rekor-url", tlog_server.url]
    proc = cli(*args, ok=False)
    assert proc.code == 1
    assert proc.err.startswith("Error: ")
    assert message in proc.err
