"""The CA under a fault: the disk of its CT log's database fills up while certificates
are being issued. No certificate may be issued without its CT entry (the SCT is a
promise of inclusion), the CA must stay up and answer one clean error per refused
request, and issuing must resume once space is back, without a restart."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sigstack.tlog import merkle
from tests.ca._support import (
    Stack,
    ca_server,
    embedded_sct,
    get_json,
    leaf_of,
    new_key,
    oidc_server,
    sct_signed_data,
    v2_request,
)

pytestmark = pytest.mark.needs_server  # two servers and a tmpfs: not the fast tier



def test_ct_disk_full_issues_nothing_without_its_ct_entry(tmp_path: Path, small_disk: Path) -> None:
    oidc = oidc_server(tmp_path, tmp_path / "oidc")
    ca = None
    try:
        ca = ca_server(tmp_path, tmp_path / "ca", oidc.url, extra=["--ct-db", str(small_disk / "ct.db")])
        stack = Stack(oidc, ca, tmp_path / "oidc", tmp_path / "ca")
        issued = []
        refused: list[str] = []
        key = new_key()
        token = stack.token()
        with httpx.Client(timeout=30) as http:
            n = 0
            while len(refused) < 5 and n < 5000:
                n += 1
                r = http.post(ca.url + "/api/v2/signingCert", json=v2_request(token, key, "alice@example.com"))
                if r.status_code == 200:
                    issued.append(leaf_of(r.json()))
                else:
                    assert r.status_code >= 500 and "Traceback" not in r.text, r.text
                    assert "signedCertificateEmbeddedSct" not in r.text
                    refused.append(r.text[:200])
            assert refused, "the disk never filled: the test did not exercise the fault"
            assert ca.proc is not None and ca.proc.poll() is None, "the CA died on a full disk"
            subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
            cleared = time.monotonic()
            for _ in range(200):
                r = http.post(ca.url + "/api/v2/signingCert", json=v2_request(token, key, "alice@example.com"))
                if r.status_code == 200:
                    issued.append(leaf_of(r.json()))
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the CA did not issue again once the disk had space")
            took = time.monotonic() - cleared  # reported, not asserted
        sth = get_json(ca.url + "/ct/v1/get-sth")
        root = base64.b64decode(sth["sha256_root_hash"])
        for leaf, chain in issued:  # every certificate handed out is in the CT log
            sct, ts = embedded_sct(leaf)
            leaf_hash = merkle.leaf_hash(sct_signed_data(leaf, chain[0], ts, sct.extension_bytes))
            proof = get_json(ca.url + "/ct/v1/get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                             tree_size=sth["tree_size"])
            merkle.verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash,
                                    [base64.b64decode(h) for h in proof["audit_path"]], root)
        print(f"CT disk full: {len(issued) - 1} issued before, {len(refused)} refused ({refused[0][:90]!r}), "
              f"issuing again {took:.3f} s after space was back; all {len(issued)} in the CT log")
    finally:
        if ca is not None:
            ca.stop()
        oidc.stop()


def test_kill9_mid_issuance_loses_no_ct_entry(tmp_path: Path) -> None:
    """kill -9 the CA while four clients request certificates, start it again on the same
    state: every certificate handed out before the crash is in its CT log, and the new
    signed tree head extends every one handed out before."""
    import signal
    import threading

    oidc = oidc_server(tmp_path, tmp_path / "oidc")
    ca = None
    try:
        ca = ca_server(tmp_path, tmp_path / "ca", oidc.url)
        stack = Stack(oidc, ca, tmp_path / "oidc", tmp_path / "ca")
        token = stack.token()
        issued: list[tuple] = []
        heads: list[dict] = []
        stop = threading.Event()

        def hammer() -> None:
            key = new_key()
            with httpx.Client(timeout=10) as http:
                while not stop.is_set():
                    try:
                        r = http.post(ca.url + "/api/v2/signingCert", json=v2_request(token, key, "alice@example.com"))
                        if r.status_code == 200:
                            issued.append(leaf_of(r.json()))
                            if len(issued) % 10 == 0:
                                heads.append(http.get(ca.url + "/ct/v1/get-sth").json())
                    except httpx.HTTPError:
                        return

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(issued) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ca.proc is not None
        os.killpg(ca.proc.pid, signal.SIGKILL)
        ca.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        assert len(issued) >= 100 and heads
        restarted = time.monotonic()
        ca.start()
        took = time.monotonic() - restarted  # reported, not asserted
        sth = get_json(ca.url + "/ct/v1/get-sth")
        root = base64.b64decode(sth["sha256_root_hash"])
        for leaf, chain in issued:
            sct, ts = embedded_sct(leaf)
            leaf_hash = merkle.leaf_hash(sct_signed_data(leaf, chain[0], ts, sct.extension_bytes))
            proof = get_json(ca.url + "/ct/v1/get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                             tree_size=sth["tree_size"])
            merkle.verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash,
                                    [base64.b64decode(h) for h in proof["audit_path"]], root)
        for old in heads:
            if old["tree_size"] and old["tree_size"] != sth["tree_size"]:
                cons = get_json(ca.url + "/ct/v1/get-sth-consistency", first=old["tree_size"],
                                second=sth["tree_size"])
                merkle.verify_consistency(old["tree_size"], sth["tree_size"],
                                          [base64.b64decode(h) for h in cons["consistency"]],
                                          base64.b64decode(old["sha256_root_hash"]), root)
        print(f"CA kill -9: {len(issued)} certificates issued before the crash, all in the CT log after "
              f"a restart of {took:.2f} s; {len(heads)} earlier tree heads consistent")
    finally:
        if ca is not None:
            ca.stop()
        oidc.stop()
