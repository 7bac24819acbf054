"""The soak: the log, the CA and the admission webhook under concurrent load for N
minutes while faults are injected one after another, then the invariants checked
(``scripts/soak --minutes N``; docs/reliability.md has the figures).

Set-up, all real processes on loopback: ``sigstack tlog serve`` on SQLite in a tmpfs
(so its disk can fill), ``sigstack ca serve`` with its CT log on a private PostgreSQL
(so its database can go away; Debian's ``postgresql`` binaries, as tests/tlog's
fixtures start them), the dev OIDC issuer, ``sigstack admission serve`` over TLS
with a key policy, and Debian's docker-registry on a fixed port (so it can go away
and come back) holding one signed and one unsigned image.

Load: uploader threads add hashedrekord entries to the log, requester threads ask the
CA for certificates, reviewer threads send AdmissionReviews (the signed image must be
allowed, the unsigned one denied). Faults, in turn: kill -9 of the log, of the CA and
of the webhook (each restarted on its port and state); the log's disk full (its tmpfs
shrunk to what it holds; grown back to clear); the CT database away (PostgreSQL immediate
stop, started again); the registry away (kill -9, started again). After each fault
is cleared, the soak measures the recovery: seconds until that service answers a real
request successfully again.

Checked at the end: every entry the log acknowledged is at the index it was given
(lost 0, order kept), no index given twice, every checkpoint handed out is signed and
consistent with the previous one (by size) and with the final tree; every certificate
the CA handed out has its precertificate's entry in the CT log (inclusion proof), and
its tree heads are consistent; the webhook never allowed the unsigned image nor denied
the signed one except while the registry was away (fail closed, with the registry's
error in the message). Without root (no tmpfs) the disk-full fault is skipped, and
without PostgreSQL the CT log runs on SQLite and the database fault is skipped; the
report says so.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import verify_checkpoint
from sigstack.tlog.entry import TlogEntry

#: the log's tmpfs: room for hours of entries (tmpfs takes memory only for what it holds)
DISK = "2g"


@dataclass
class Tally:
    """What one service's load saw."""

    ok: int = 0
    errors: int = 0
    recoveries: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Report:
    minutes: float
    faults: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    log: Tally = field(default_factory=Tally)
    ca: Tally = field(default_factory=Tally)
    hook: Tally = field(default_factory=Tally)
    acknowledged: int = 0
    lost: int = 0
    moved: int = 0
    duplicate_indexes: int = 0
    checkpoints: int = 0
    inconsistent: int = 0
    issued: int = 0
    without_ct: int = 0
    sth_inconsistent: int = 0
    reviews: int = 0
    wrong: int = 0
    fail_closed: int = 0
    problems: list[str] = field(default_factory=list)
    #: per fault: (name, failed log requests, failed CA requests, failed reviews, fail-closed denials)
    refused: list[tuple[str, int, int, int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.moved or self.duplicate_indexes or self.inconsistent or self.without_ct
                    or self.sth_inconsistent or self.wrong or self.problems)

    def text(self) -> str:
        lines = [f"soak: {self.minutes:g} min, faults injected: {len(self.faults)} "
                 f"({', '.join(sorted(set(self.faults)))})"]
        lines += [f"  skipped: {s}" for s in self.skipped]
        lines.append(f"  log: {self.acknowledged} entries acknowledged, lost {self.lost}, moved {self.moved}, "
                     f"indexes given twice {self.duplicate_indexes}; {self.checkpoints} checkpoints, "
                     f"inconsistent {self.inconsistent}; {self.log.errors} refused/failed requests during faults")
        lines.append(f"  CA: {self.issued} certificates issued, without their CT entry {self.without_ct}, "
                     f"tree heads inconsistent {self.sth_inconsistent}; {self.ca.errors} failed requests")
        lines.append(f"  webhook: {self.reviews} decisions, wrong {self.wrong}, failed closed while the registry "
                     f"was away {self.fail_closed}; {self.hook.errors} failed requests")
        for name, tally in (("log", self.log), ("CA", self.ca), ("webhook", self.hook)):
            by: dict[str, list[float]] = {}
            for fault, seconds in tally.recoveries:
                by.setdefault(fault, []).append(seconds)
            for fault, values in sorted(by.items()):
                lines.append(f"  recovery of the {name} after {fault}: {len(values)}x, max {max(values):.2f} s, "
                             f"mean {sum(values) / len(values):.2f} s")
        by_fault: dict[str, list[int]] = {}
        for name, *counts in self.refused:
            total = by_fault.setdefault(name, [0, 0, 0, 0])
            for i, c in enumerate(counts):
                total[i] += c
        for name, (log, ca, hook, closed) in sorted(by_fault.items()):
            lines.append(f"  during {name}: failed requests log {log}, CA {ca}, webhook {hook}; "
                         f"webhook fail-closed denials {closed}")
        lines += [f"  PROBLEM: {p}" for p in self.problems[:20]]
        lines.append("  result: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)


class Soak:
    def __init__(self, work: Path, minutes: float, hold: float = 2.0, settle: float = 3.0,
                 faults: tuple[str, ...] | None = None, say: Callable[[str], None] = print) -> None:
        self.work, self.minutes, self.hold, self.settle, self.say = work, minutes, hold, settle, say
        self.report = Report(minutes)
        self.only = faults
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[tuple[int, bytes]] = []  # (index, leaf hash)
        self.checkpoints: list[str] = []
        self.certs: list[tuple[Any, list[Any]]] = []
        self.sths: list[dict[str, Any]] = []
        self.registry_away = False
        self.namespaces = 0
        self.cleanups: list[Callable[[], None]] = []

    # ---- set-up -------------------------------------------------------------------------

    def setup(self) -> None:
        from tests.keys_backends._http import make_tls
        from tests.servers import _support as s

        self.work.mkdir(parents=True, exist_ok=True)
        self.disk: Path | None = None
        if os.geteuid() == 0:
            self.disk = self.work / "disk"
            self.disk.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(self.disk)], check=True)
            self.cleanups.append(lambda: subprocess.run(["umount", "-l", str(self.disk)], check=False))
        else:
            self.report.skipped.append("disk full (mounting a tmpfs needs root)")
        self.pg = self._postgres()
        (self.work / "tls").mkdir()
        tls = make_tls(self.work / "tls")
        self.registry = s.FixedPortRegistry(self.work / "registry").start()
        self.cleanups.append(self.registry.kill9)
        keys = self.work / "keys"
        keys.mkdir()
        r = s.sigstack("generate-key-pair", env=s.PW, cwd=keys)
        assert r.code == 0, r.err
        reg = self.registry.as_registry()
        self.signed = s.signed_images(reg, keys / "cosign.key", 1)[0]
        self.unsigned = s.fresh(reg)
        self.oidc = s.oidc(self.work).start()
        self.cleanups.append(self.oidc.stop)
        db_dir = self.disk or self.work
        self.log = s.Proc("tlog", ["tlog", "serve", "--db", str(db_dir / "log.db"), "--key",
                                   str(s.write_key(self.work / "log.key")), "--hostname", "soak.test"],
                          self.work, "/api/v1/log").start()
        self.cleanups.append(self.log.stop)
        self.log_key = PublicKeyVerifier(load_public_key_pem((self.work / "log.pub").read_bytes()))
        ct = ["--ct-db", self.pg[0]] if self.pg else []
        self.ca = s.ca(self.work, self.oidc.url, *ct).start()
        self.cleanups.append(self.ca.stop)
        policy = s.key_policy(self.work / "policies", self.registry.host, keys / "cosign.pub")
        self.hook = s.Proc("admission", ["admission", "serve", "--policy", str(policy), "--tls-cert",
                                         str(tls.cert_file), "--tls-key", str(tls.key_file), "--host", "127.0.0.1",
                                         "--kubernetes=false", "--registry-timeout", "3s"],
                           self.work, "/healthz", tls=tls).start()
        self.cleanups.append(self.hook.stop)
        from sigstack.oidc.issuer import DevIssuer, load_or_create_key

        self.token = DevIssuer(self.oidc.url, load_or_create_key(self.work / "oidc")).mint(
            email="soak@example.com", ttl=3600 * 6)

    def _postgres(self) -> tuple[str, Any] | None:
        """(URL of a fresh database, the server) on a private PostgreSQL, or None."""
        import glob

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            self.report.skipped.append("CT database away (no PostgreSQL binaries: the CT log runs on SQLite)")
            return None
        from tests.tlog._support import free_port
        from tests.tlog.conftest import PostgresServer

        bindir = Path(found[-1]).parent
        root = Path(tempfile.mkdtemp(prefix="sigstack-soak-pg-"))
        os.chmod(root, 0o755)
        data, sock = root / "data", root / "sock"
        sock.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            shutil.chown(sock, "postgres")
        port = free_port()
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-instructions"], check=True, capture_output=True)
        server = PostgresServer(f"postgresql://postgres@127.0.0.1:{port}", [*as_user, str(bindir / "pg_ctl"),
                                "-D", str(data)], ["-l", str(root / "pg.log"), "-w", "-o",
                                f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"])
        subprocess.run([*server.ctl, *server.start_opts, "start"], check=True, capture_output=True)

        def stop() -> None:
            subprocess.run([*server.ctl, "-m", "immediate", "stop"], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)

        self.cleanups.append(stop)
        import psycopg

        with psycopg.connect(server.url + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE soak")
        return server.url + "/soak", server

    # ---- load ---------------------------------------------------------------------------

    def _uploader(self, worker: int) -> None:
        from tests.tlog._support import Signer

        signer = Signer()
        n = 0
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                self._upload(http, signer, b"soak %d %d %f" % (worker, n, time.time()))

    def _upload(self, http: httpx.Client, signer: Any, data: bytes) -> bool:
        proposal = signer.proposal(data)
        try:
            r = http.post(self.log.url + "/api/v1/log/entries", json=proposal)
        except httpx.HTTPError:
            self.report.log.errors += 1
            time.sleep(0.05)
            return False
        if r.status_code != 201:
            self.report.log.errors += 1
            if r.status_code != 500 or "Traceback" in r.text:
                self.report.problems.append(f"log answered {r.status_code}: {r.text[:120]}")
            time.sleep(0.05)
            return False
        entry = TlogEntry.from_response(r.json())
        with self.lock:
            self.acked.append((entry.log_index, merkle.leaf_hash(entry.body)))
            self.checkpoints.append(entry.inclusion_proof.checkpoint)
        self.report.log.ok += 1
        return True

    def _requester(self) -> None:
        from tests.ca._support import new_key

        key = new_key()
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                self._issue(http, key)

    def _issue(self, http: httpx.Client, key: Any) -> bool:
        from tests.ca._support import leaf_of, v2_request

        try:
            r = http.post(self.ca.url + "/api/v2/signingCert", json=v2_request(self.token, key, "soak@example.com"))
        except httpx.HTTPError:
            self.report.ca.errors += 1
            time.sleep(0.05)
            return False
        if r.status_code != 200:
            self.report.ca.errors += 1
            if r.status_code < 500 or "Traceback" in r.text or "signedCertificateEmbeddedSct" in r.text:
                self.report.problems.append(f"CA answered {r.status_code}: {r.text[:120]}")
            time.sleep(0.05)
            return False
        with self.lock:
            self.certs.append(leaf_of(r.json()))
            if len(self.certs) % 10 == 0:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    self.sths.append(http.get(self.ca.url + "/ct/v1/get-sth").json())
        self.report.ca.ok += 1
        return True

    def _reviewer(self, worker: int) -> None:
        n = worker
        with self.hook.client(timeout=30) as c:
            while not self.stop.is_set():
                n += 1
                self._review(c, self.signed if n % 2 else self.unsigned)

    def _review(self, client: httpx.Client, image: str) -> bool:
        """One decision, in a namespace of its own half the time (decisions are cached per
        namespace: those reach the registry, so its absence is seen)."""
        from tests.servers._support import decide

        away = self.registry_away
        self.namespaces += 1
        namespace = f"soak-{self.namespaces}" if self.namespaces % 2 else "default"
        try:
            resp = decide(client, image, namespace=namespace)
        except (httpx.HTTPError, AssertionError, ValueError):
            self.report.hook.errors += 1
            time.sleep(0.05)
            return False
        self.report.reviews += 1
        message = (resp.get("status") or {}).get("message", "")
        if image == self.unsigned and resp["allowed"]:
            self.report.wrong += 1
            self.report.problems.append(f"the unsigned image was allowed: {resp}")
        elif image == self.signed and not resp["allowed"]:
            if (away or self.registry_away) and "registry unavailable" in message:
                self.report.fail_closed += 1
                return False
            self.report.wrong += 1
            self.report.problems.append(f"the signed image was denied: {message[:200]}")
        return resp["allowed"] is (image == self.signed)

    # ---- faults -------------------------------------------------------------------------

    def _recover(self, name: str, tally: Tally, fault: str, attempt: Callable[[], bool],
                 cleared: float | None = None) -> None:
        """Poll ``attempt`` (a real request) until it succeeds; the seconds since
        ``cleared`` (default now: the moment the fault was cleared) are the recovery."""
        cleared = cleared or time.monotonic()
        while time.monotonic() < cleared + 120:
            if attempt():
                tally.recoveries.append((fault, time.monotonic() - cleared))
                return
            time.sleep(0.05)
        self.report.problems.append(f"the {name} did not recover within 120 s of {fault} clearing")

    def _log_works(self) -> bool:
        from tests.tlog._support import Signer

        with httpx.Client(timeout=10) as http:
            return self._upload(http, Signer(), b"probe %f" % time.time())

    def _ca_works(self) -> bool:
        from tests.ca._support import new_key

        with httpx.Client(timeout=10) as http:
            return self._issue(http, new_key())

    def _hook_works(self) -> bool:
        with self.hook.client(timeout=10) as c:
            return self._review(c, self.signed) and self._review(c, self.unsigned)

    def fault_kill9(self, proc_name: str) -> None:
        proc = {"log": self.log, "CA": self.ca, "webhook": self.hook}[proc_name]
        proc.kill9()
        time.sleep(self.hold / 2)
        restarted = time.monotonic()  # the recovery includes the restart itself
        proc.start()
        tally, works = {"log": (self.report.log, self._log_works), "CA": (self.report.ca, self._ca_works),
                        "webhook": (self.report.hook, self._hook_works)}[proc_name]
        self._recover(proc_name, tally, "kill -9 (restart included)", works, restarted)

    def fault_disk_full(self) -> None:
        """The tmpfs shrunk to what is in use plus a few pages (full at once), grown back to clear."""
        assert self.disk is not None
        st = os.statvfs(self.disk)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        subprocess.run(["mount", "-o", f"remount,size={used + 16 * 4096}", str(self.disk)], check=True)
        time.sleep(self.hold)
        subprocess.run(["mount", "-o", f"remount,size={DISK}", str(self.disk)], check=True)
        self._recover("log", self.report.log, "disk full", self._log_works)

    def fault_db_away(self) -> None:
        assert self.pg is not None
        server = self.pg[1]
        subprocess.run([*server.ctl, "-m", "immediate", "stop"], check=True, capture_output=True)
        time.sleep(self.hold)
        subprocess.run([*server.ctl, *server.start_opts, "start"], check=True, capture_output=True)
        self._recover("CA", self.report.ca, "CT database away", self._ca_works)

    def fault_registry_away(self) -> None:
        self.registry_away = True
        self.registry.kill9()
        time.sleep(self.hold)
        self.registry.start()
        with self.hook.client(timeout=10) as c:
            self._recover("webhook", self.report.hook, "registry away", lambda: self._review(c, self.signed))
        self.registry_away = False

    def faults(self) -> list[tuple[str, Callable[[], None]]]:
        out: list[tuple[str, Callable[[], None]]] = [
            ("kill -9 log", lambda: self.fault_kill9("log")),
            ("kill -9 CA", lambda: self.fault_kill9("CA")),
            ("kill -9 webhook", lambda: self.fault_kill9("webhook")),
            ("registry away", self.fault_registry_away),
        ]
        if self.disk is not None:
            out.insert(1, ("log disk full", self.fault_disk_full))
        if self.pg is not None:
            out.insert(3, ("CT database away", self.fault_db_away))
        if self.only is not None:
            out = [f for f in out if f[0] in self.only]
        return out

    # ---- the run ------------------------------------------------------------------------

    def run(self) -> Report:
        try:
            self.setup()
            threads = [threading.Thread(target=self._uploader, args=(w,), daemon=True) for w in range(3)]
            threads += [threading.Thread(target=self._requester, daemon=True) for _ in range(2)]
            threads += [threading.Thread(target=self._reviewer, args=(w,), daemon=True) for w in range(2)]
            for t in threads:
                t.start()
            end = time.monotonic() + self.minutes * 60
            plan = self.faults()
            i = 0
            while True:
                time.sleep(self.settle)
                name, inject = plan[i % len(plan)]
                self.say(f"soak: {name} (acknowledged so far: log {len(self.acked)}, CA {len(self.certs)}, "
                         f"webhook {self.report.reviews})")
                before = (self.report.log.errors, self.report.ca.errors, self.report.hook.errors,
                          self.report.fail_closed)
                inject()
                self.report.faults.append(name)
                self.report.refused.append((name, self.report.log.errors - before[0], self.report.ca.errors - before[1],
                                            self.report.hook.errors - before[2], self.report.fail_closed - before[3]))
                i += 1
                if time.monotonic() >= end and i >= len(plan):
                    break
            time.sleep(self.settle)
            self.stop.set()
            for t in threads:
                t.join(60)
            self.check()
        finally:
            for cleanup in reversed(self.cleanups):
                with contextlib.suppress(Exception):
                    cleanup()
        return self.report

    # ---- the checks ---------------------------------------------------------------------

    def check(self) -> None:
        from tests.ca._support import embedded_sct, get_json, sct_signed_data
        from tests.tlog.test_faults import _all_leaves

        r = self.report
        r.acknowledged = len(self.acked)
        head = verify_checkpoint(httpx.get(self.log.url + "/api/v1/log", timeout=30).json()["signedTreeHead"],
                                 self.log_key)
        leaves = _all_leaves(self.log.url, head)
        r.duplicate_indexes = len(leaves) - len(set(leaves))
        seen: dict[int, bytes] = {}
        present = set(leaves)
        for index, leaf in self.acked:
            if index in seen and seen[index] != leaf:
                r.duplicate_indexes += 1
            seen[index] = leaf
            if index >= len(leaves):
                r.lost += 1
            elif leaves[index] != leaf:
                r.lost += leaf not in present
                r.moved += leaf in present
        distinct = {}
        for text in set(self.checkpoints):
            cp = verify_checkpoint(text, self.log_key)
            if cp.size in distinct and distinct[cp.size].root_hash != cp.root_hash:
                r.inconsistent += 1  # two roots for one size: a fork
            distinct[cp.size] = cp
        r.checkpoints = len(distinct)
        previous = None
        with httpx.Client(timeout=30) as http:
            for size in sorted(distinct):
                cp = distinct[size]
                for older in ([previous] if previous is not None else []):
                    if older.size and older.size < cp.size:
                        proof = http.get(self.log.url + "/api/v1/log/proof",
                                         params={"firstSize": older.size, "lastSize": cp.size}).json()
                        try:
                            merkle.verify_consistency(older.size, cp.size, [bytes.fromhex(h) for h in proof["hashes"]],
                                                      older.root_hash, cp.root_hash)
                        except Exception as exc:
                            r.inconsistent += 1
                            r.problems.append(f"checkpoint {older.size} -> {cp.size}: {exc}")
                previous = cp
            if previous is not None and previous.size < head.size:
                proof = http.get(self.log.url + "/api/v1/log/proof",
                                 params={"firstSize": previous.size, "lastSize": head.size}).json()
                merkle.verify_consistency(previous.size, head.size, [bytes.fromhex(h) for h in proof["hashes"]],
                                          previous.root_hash, head.root_hash)
        # the CA: every certificate handed out has its CT entry
        r.issued = len(self.certs)
        sth = get_json(self.ca.url + "/ct/v1/get-sth")
        root = base64.b64decode(sth["sha256_root_hash"])
        for leaf, chain in self.certs:
            sct, ts = embedded_sct(leaf)
            leaf_hash = merkle.leaf_hash(sct_signed_data(leaf, chain[0], ts, sct.extension_bytes))
            try:
                proof = get_json(self.ca.url + "/ct/v1/get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                                 tree_size=sth["tree_size"])
                merkle.verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash,
                                        [base64.b64decode(h) for h in proof["audit_path"]], root)
            except Exception:
                r.without_ct += 1
        for old in self.sths:
            if old["tree_size"] and old["tree_size"] != sth["tree_size"]:
                try:
                    cons = get_json(self.ca.url + "/ct/v1/get-sth-consistency", first=old["tree_size"],
                                    second=sth["tree_size"])
                    merkle.verify_consistency(old["tree_size"], sth["tree_size"],
                                              [base64.b64decode(h) for h in cons["consistency"]],
                                              base64.b64decode(old["sha256_root_hash"]), root)
                except Exception:
                    r.sth_inconsistent += 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=1.0, help="how long to soak (default 1; every fault runs once "
                                                              "at least)")
    p.add_argument("--hold", type=float, default=2.0, help="seconds each fault lasts (default 2)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds of plain load between faults (default 3)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--work", metavar="DIR", help="keep the state here (default: a temporary directory)")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sigstack-soak-"))
    report = Soak(work / "run", args.minutes, args.hold, args.settle,
                  say=lambda m: print(m, file=sys.stderr, flush=True)).run()
    print(report.text())
    if args.json:
        doc = {k: v for k, v in report.__dict__.items() if not isinstance(v, Tally)}
        for name in ("log", "ca", "hook"):
            tally = getattr(report, name)
            doc[name] = {"ok": tally.ok, "errors": tally.errors, "recoveries": tally.recoveries}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
