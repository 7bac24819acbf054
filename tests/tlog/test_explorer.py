"""The log explorer served by a real ``sigstack tlog serve``: searches and entry pages
over plain HTTP (what a browser without JavaScript gets), and in the system headless
Chromium driven by Playwright: proofs and signatures checked by the page's own
WebCrypto code pass for honest data and fail for data altered in the database.

Screenshots are kept under ``$SIGSTACK_TEST_ARTIFACTS`` (default: pytest's base
temporary directory) in ``explorer-screenshots/``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape

from sigstack.tlog.store.base import node_id
from tests.tlog._explorer_support import GITHUB_ISSUER, CertSigner, browser, fingerprint
from tests.tlog._support import Signer, TlogServer, write_key

EVIL_URI = 'https://evil.example/"><script>document.title="pwned"</script>'
EVIL_EXT = '<img src=x onerror="document.title=\'pwned\'">'
WORKFLOW = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"


def esc(text: str) -> str:
    """``text`` as the templates write it (Jinja2 autoescaping)."""
    return str(escape(text))


@dataclass
class Populated:
    server: TlogServer
    db: Path
    key_signer: Signer
    uuids: list[str]
    digests: list[str]

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.server.url + path, params=params, timeout=10, follow_redirects=True)


def _post(server: TlogServer, proposal: dict[str, Any]) -> str:
    r = httpx.post(server.url + "/api/v1/log/entries", json=proposal, timeout=10)
    assert r.status_code == 201, r.text
    (uuid,) = r.json()
    return str(uuid)


def _populate(server: TlogServer, db: Path) -> Populated:
    key_signer = Signer()
    alice = CertSigner("alice@example.com", "https://accounts.example.com")
    ci = CertSigner(WORKFLOW, GITHUB_ISSUER, {"12": "https://github.com/acme/app", "11": "github-hosted"})
    evil = CertSigner(EVIL_URI, "https://evil.example", {"12": EVIL_EXT})
    signers = [key_signer, key_signer, alice, ci, key_signer, alice, evil]
    uuids, digests = [], []
    for i, s in enumerate(signers):
        data = b"artifact %d" % i
        digests.append("sha256:" + hashlib.sha256(data).hexdigest())
        uuids.append(_post(server, s.proposal(data)))
    return Populated(server, db, key_signer, uuids, digests)


@pytest.fixture
def populated(tmp_path: Path, log_key: Path) -> Iterator[Populated]:
    db = tmp_path / "log.db"
    server = TlogServer(str(db), log_key, tmp_path).start()
    try:
        yield _populate(server, db)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(os.environ.get("SIGSTACK_TEST_ARTIFACTS") or tmp_path_factory.getbasetemp())
    out = root / "explorer-screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _indexes(page_html: str) -> list[int]:
    """Log indexes listed in a results table (the first cell's link text)."""
    import re

    return [int(m) for m in re.findall(r'<td><a href="/entry/[0-9a-f]{80}">(\d+)</a></td>', page_html)]


# -- without JavaScript: plain HTTP ------------------------------------------------

@pytest.fixture
def populated_pg(tmp_path: Path, log_key: Path, pg_url: str) -> Iterator[Populated]:
    server = TlogServer(pg_url, log_key, tmp_path).start()
    try:
        yield _populate(server, tmp_path / "unused")
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["populated", "populated_pg"])
def test_search_by_each_kind_of_term(backend: str, request: pytest.FixtureRequest) -> None:
    p: Populated = request.getfixturevalue(backend)
    cases = {
        p.digests[3]: [3],
        p.digests[3][: len("sha256:") + 10]: [3],  # digest prefix
        "alice@example.com": [5, 2],
        "ALICE@": [5, 2],  # identity prefix, case-insensitive like the Rekor index
        "https://github.com/acme/": [3],  # workflow URI prefix
        f"issuer:{GITHUB_ISSUER}": [3],
        "https://accounts.example.com": [5, 2],  # a bare URL also finds the OIDC issuer
        "4": [4],
        p.uuids[1][16:]: [1],  # 64-hex UUID
        p.uuids[1]: [1],  # 80-hex entry ID
        p.uuids[6][16:28]: [6],  # UUID prefix
        fingerprint(p.key_signer.pem): [4, 1, 0],
        fingerprint(p.key_signer.pem)[:12]: [4, 1, 0],  # key fingerprint prefix
        "after:2000-01-01": [6, 5, 4, 3, 2, 1, 0],
        "alice@example.com before:2000-01-01": [],
        "alice@example.com 2000-01-01..2999-12-31": [5, 2],
        "nobody@example.com": [],
    }
    for query, want in cases.items():
        r = p.get("/", q=query)
        assert r.status_code == 200, (query, r.text)
        assert _indexes(r.text) == want, query
        assert f'value="{esc(query)}"' in r.text  # the box keeps the query


def test_dsse_and_intoto_entries_show_their_certificate_and_subjects(populated: Populated) -> None:
    from tests.tlog.test_entries import dsse_proposal, intoto_proposal

    bob = CertSigner("bob@example.com", "https://accounts.example.com")
    uuids = [_post(populated.server, make(bob)) for make in (dsse_proposal, intoto_proposal)]  # type: ignore[arg-type]
    subject = "sha256:" + "ab" * 32  # the in-toto statement's subject digest
    assert _indexes(populated.get("/", q=subject).text) == [8, 7]
    assert _indexes(populated.get("/", q="bob@example.com").text) == [8, 7]
    for uuid, kind in zip(uuids, ("dsse 0.0.1", "intoto 0.0.2"), strict=True):
        text = populated.get(f"/entry/{uuid}").text
        assert kind in text and "bob@example.com" in text and "https://accounts.example.com" in text, kind


def test_bad_queries_answer_400_with_one_error_line(populated: Populated) -> None:
    cases = {
        "sha256:ab": "Error: give at least 6 hex digits of the sha256 digest",
        "abc12": "Error: give at least 6 hex digits to search by prefix",
        "alice bob": "Error: search for one term at a time (a time range may be added with after:/before:)",
        "after:yesterday": "Error: &#39;yesterday&#39; is not a time: use 2026-01-31, 2026-01-31T12:00:00Z "
                           "or Unix seconds",
        "after:2026-02-01 before:2026-01-01": "Error: the time range is empty: its start is not before its end",
    }
    for query, line in cases.items():
        r = populated.get("/", q=query)
        assert r.status_code == 400, query
        errors = [ln.strip() for ln in r.text.splitlines() if "Error:" in ln]
        assert errors == [f'<p class="error" role="alert">{line}</p>'], query


def test_entry_page_renders_identity_without_javascript(populated: Populated) -> None:
    r = populated.get(f"/entry/{populated.uuids[3]}")
    assert r.status_code == 200
    text = r.text
    assert "Content-Security-Policy" in r.headers and "script-src 'self'" in r.headers["Content-Security-Policy"]
    for want in (WORKFLOW, GITHUB_ISSUER, "Source Repository URI", "https://github.com/acme/app",
                 "Runner Environment", "github-hosted", populated.digests[3], "hashedrekord 0.0.1"):
        assert esc(want) in text, want
    assert "<noscript>" in text
    # by log index: a redirect to the entry ID
    r = populated.get("/entry/3")
    assert str(r.url).endswith(populated.uuids[3])
    assert populated.get("/entry/" + "0" * 64).status_code == 404
    r = populated.get("/entry/not-an-id")
    assert r.status_code == 400 and "Error: an entry is named by its UUID" in r.text


def test_attacker_controlled_fields_are_escaped(populated: Populated) -> None:
    for path in (f"/entry/{populated.uuids[6]}", "/", "/log", "/?q=https://evil.example/"):
        text = populated.get(path).text
        assert "<script>document.title" not in text, path
        assert "<img src=x" not in text, path
    text = populated.get(f"/entry/{populated.uuids[6]}").text
    assert esc(EVIL_URI) in text and esc(EVIL_EXT) in text


def test_a_broken_database_gives_an_error_page_not_a_traceback(populated: Populated) -> None:
    with sqlite3.connect(populated.db) as conn:
        conn.execute("DROP TABLE search")
    r = populated.get("/", q="alice@example.com")
    assert r.status_code == 500
    errors = [ln.strip() for ln in r.text.splitlines() if "Error:" in ln]
    assert errors == ['<p class="error" role="alert">Error: internal error (OperationalError)</p>']
    assert "Traceback" not in r.text


def test_log_page_without_javascript(populated: Populated) -> None:
    text = populated.get("/log").text
    info = httpx.get(populated.server.url + "/api/v1/log", timeout=10).json()
    assert esc(info["signedTreeHead"]) in text
    assert info["rootHash"] in text
    assert '<polyline points="' in text  # the tree-size chart is inline SVG
    assert _indexes(text) == [6, 5, 4, 3, 2, 1, 0]


# -- in Chromium ------------------------------------------------------------------

def _wait_result(page: Any) -> str:
    page.wait_for_selector("#verify[data-result]", timeout=15000)
    return str(page.get_attribute("#verify", "data-result"))


def _states(page: Any) -> dict[str, str]:
    return {n: str(page.get_attribute(f"#check-{n}", "data-state")) for n in ("inclusion", "checkpoint", "set")}


def test_browser_search_then_entry_proof_passes(populated: Populated, shots: Path) -> None:
    with browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(populated.server.url + "/")
        page.fill("input[name=q]", "alice@example.com")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/?q=alice%40example.com")
        page.screenshot(path=str(shots / "search-email.png"), full_page=True)
        assert page.locator("table.entries tbody tr").count() == 2
        page.click("table.entries tbody tr:first-child td:first-child a")
        assert _wait_result(page) == "pass"
        assert _states(page) == {"inclusion": "pass", "checkpoint": "pass", "set": "pass"}
        assert "Verified in your browser: entry 5" in page.inner_text("#verify-detail")
        page.screenshot(path=str(shots / "entry-pass.png"), full_page=True)
        page.goto(f"{populated.server.url}/entry/{populated.uuids[3]}")
        assert _wait_result(page) == "pass"
        page.screenshot(path=str(shots / "entry-certificate-pass.png"), full_page=True)
        # the hostile entry renders as text and runs nothing
        page.goto(f"{populated.server.url}/entry/{populated.uuids[6]}")
        assert _wait_result(page) == "pass"
        assert page.title() != "pwned" and page.locator("img").count() == 0
        assert EVIL_EXT in page.inner_text("main")
        assert errors == []


def test_browser_without_javascript_searches_and_shows_entries(populated: Populated, shots: Path) -> None:
    """Chromium with JavaScript off: the form search and the entry page still work."""
    with browser() as b:
        context = b.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(populated.server.url + "/")
        page.fill("input[name=q]", f"issuer:{GITHUB_ISSUER}")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/?q=issuer*")
        assert page.locator("table.entries tbody tr").count() == 1
        page.click("table.entries tbody tr:first-child td:first-child a")
        page.wait_for_url(f"**/entry/{populated.uuids[3]}")
        assert WORKFLOW in page.inner_text("main")
        assert "your browser checks the inclusion proof" in page.inner_text("#verify")
        assert not page.is_visible("#check-inclusion")  # no mark claims anything
        page.goto(populated.server.url + "/log")
        assert not page.is_visible("#check-checkpoint") and not page.is_visible("#consistency-form")
        assert "Consistency checks run in the browser and need JavaScript." in page.inner_text("main")
        page.screenshot(path=str(shots / "entry-no-javascript.png"), full_page=True)
        context.close()


def test_browser_flags_a_proof_built_from_a_tampered_node(populated: Populated, shots: Path) -> None:
    """A Merkle node altered in the database (a log that serves a wrong proof): the page
    recomputes the root from the proof, finds it is not the one the log signed, and says
    so; the checkpoint signature itself still verifies."""
    # entry 0 of 7: its proof is [leaf 1, node (1,1) = leaves 2..3, node over 4..6]
    with sqlite3.connect(populated.db) as conn:
        changed = conn.execute("UPDATE nodes SET hash = ? WHERE id = ?",
                               (hashlib.sha256(b"tampered").digest(), node_id(1, 1))).rowcount
    assert changed == 1
    with browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{populated.server.url}/entry/{populated.uuids[0]}")
        assert _wait_result(page) == "fail"
        assert _states(page) == {"inclusion": "fail", "checkpoint": "pass", "set": "pass"}
        detail = page.inner_text("#verify-detail")
        assert detail.startswith("Verification FAILED: the proof leads to root ")
        assert page.inner_text("#check-inclusion").startswith("\u2718")
        page.screenshot(path=str(shots / "entry-tampered-proof-fail.png"), full_page=True)
        # an entry whose proof does not use that node still verifies
        page.goto(f"{populated.server.url}/entry/{populated.uuids[6]}")
        assert _wait_result(page) == "pass"


def test_browser_flags_a_body_changed_in_the_database(populated: Populated, shots: Path) -> None:
    """The stored body altered after logging: its leaf hash is no longer in the tree."""
    with sqlite3.connect(populated.db) as conn:
        (body,) = conn.execute("SELECT body FROM entries WHERE idx = 2").fetchone()
        forged = body.replace(populated.digests[2].split(":")[1].encode(), b"0" * 64)
        assert forged != body
        conn.execute("UPDATE entries SET body = ? WHERE idx = 2", (forged,))
    with browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{populated.server.url}/entry/{populated.uuids[2]}")
        assert _wait_result(page) == "fail"
        assert _states(page)["inclusion"] == "fail"
        page.screenshot(path=str(shots / "entry-tampered-body-fail.png"), full_page=True)


def test_browser_log_page_checks_consistency(populated: Populated, shots: Path) -> None:
    url = populated.server.url
    with browser() as b:
        context = b.new_context(viewport={"width": 1200, "height": 1000})
        page = context.new_page()
        page.goto(url + "/log")
        page.wait_for_selector("#check-checkpoint:not([data-state=pending])")
        assert page.get_attribute("#check-checkpoint", "data-state") == "pass"
        old = httpx.get(url + "/checkpoint", timeout=10).text
        # the log grows; on the next visit the page checks it extends what it saw
        for i in range(5):
            _post(populated.server, populated.key_signer.proposal(b"later %d" % i))
        page.goto(url + "/log")
        page.wait_for_selector("#check-consistency[data-state=pass], #check-consistency[data-state=fail]")
        assert page.get_attribute("#check-consistency", "data-state") == "pass"
        assert "tree of size 12 extends the checkpoint of size 7" in page.inner_text("#check-consistency")
        page.screenshot(path=str(shots / "log-consistent.png"), full_page=True)
        # a pasted checkpoint signed by another key is refused
        other = write_key(Path(populated.db).parent / "other.key")
        forged = _resign(old, other)
        page.fill("#old-checkpoint", forged)
        page.click("#consistency-check")
        page.wait_for_selector("#check-consistency[data-state=fail]")
        assert "no signature by this log's key" in page.inner_text("#check-consistency")
        # the genuine old checkpoint, pasted, passes
        page.fill("#old-checkpoint", old)
        page.click("#consistency-check")
        page.wait_for_selector("#check-consistency[data-state=pass]")
        context.close()


def test_browser_rejects_a_checkpoint_for_a_forked_tree(populated: Populated) -> None:
    """A correctly signed older checkpoint whose root is not a prefix of today's tree (a
    split view) fails the consistency check."""
    from cryptography.hazmat.primitives import serialization

    from sigstack.keys.software import PrivateKeySigner
    from sigstack.tlog.checkpoint import Checkpoint, LogSigner

    key = serialization.load_pem_private_key(populated.server.key.read_bytes(), None)
    signer = LogSigner(PrivateKeySigner(key), "tlog.test")  # type: ignore[arg-type]
    origin = populated.get("/checkpoint").text.split("\n")[0]
    fork = signer.sign_checkpoint(Checkpoint(origin, 5, hashlib.sha256(b"another tree").digest()))
    with browser() as b:
        page = b.new_page()
        page.goto(populated.server.url + "/log")
        page.fill("#old-checkpoint", fork)
        page.click("#consistency-check")
        page.wait_for_selector("#check-consistency[data-state=fail]")
        assert "the proof does not lead to the older root" in page.inner_text("#check-consistency")


def _resign(note: str, key_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    from sigstack.keys.software import PrivateKeySigner
    from sigstack.tlog.checkpoint import Checkpoint, LogSigner, SignedNote

    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    signer = LogSigner(PrivateKeySigner(key), "tlog.test")  # type: ignore[arg-type]
    return signer.sign_checkpoint(Checkpoint.parse_text(SignedNote.parse(note).text))


def test_browser_verifies_an_ed25519_log(tmp_path: Path, shots: Path) -> None:
    key = write_key(tmp_path / "ed.key", kind="ed25519")
    server = TlogServer(str(tmp_path / "ed.db"), key, tmp_path).start()
    try:
        uuid = _post(server, Signer().proposal(b"ed25519 log"))
        with browser() as b:
            page = b.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{server.url}/entry/{uuid}")
            assert _wait_result(page) == "pass"
            assert _states(page) == {"inclusion": "pass", "checkpoint": "pass", "set": "pass"}
            page.screenshot(path=str(shots / "entry-ed25519-pass.png"), full_page=True)
    finally:
        server.stop()
