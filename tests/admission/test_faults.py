"""The admission webhook under fault, as ``sigstack admission serve`` runs in a
cluster: its registry goes away in the middle of concurrent reviews and comes back,
the webhook itself is killed with SIGKILL under load and restarted, and a policy
changes while its decisions are cached. The invariants: fail closed with a clear
AdmissionResponse message while the registry is away, allow again within seconds of
its return (polled, not timed), correct answers after a restart, and never an allow
from the decision cache for a policy that has changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.admission.conftest import PW
from tests.helpers import sigstack
from tests.keys_backends._http import Tls
from tests.oci.ocihelpers import Registry, fresh
from tests.servers._support import FixedPortRegistry, Proc, decide, key_policy, signed_images

pytestmark = pytest.mark.needs_server


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[FixedPortRegistry]:
    reg = FixedPortRegistry(tmp_path / "registry").start()
    yield reg
    reg.kill9()


def webhook(work: Path, tls: Tls, policy: Path, port: int | None = None) -> Proc:
    return Proc("admission", ["admission", "serve", "--policy", str(policy), "--tls-cert", str(tls.cert_file),
                              "--tls-key", str(tls.key_file), "--host", "127.0.0.1", "--kubernetes=false",
                              "--registry-timeout", "3s"], work, "/healthz", tls=tls, port=port)


@dataclass
class Load:
    """``workers`` threads reviewing ``images`` round robin until stopped; every answer
    kept as (started, finished, image, allowed, message)."""

    proc: Proc
    images: list[str]
    workers: int = 4
    answers: list[tuple[float, float, str, bool, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(self.workers)]
        for t in self.threads:
            t.start()

    def _run(self, worker: int) -> None:
        with self.proc.client(timeout=30) as c:
            n = worker
            while not self.stop.is_set():
                image = self.images[n % len(self.images)]
                n += self.workers
                started = time.monotonic()
                try:
                    resp = decide(c, image)
                except (httpx.HTTPError, AssertionError) as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.05)
                    continue
                message = (resp.get("status") or {}).get("message", "")
                self.answers.append((started, time.monotonic(), image, resp["allowed"], message))

    def halt(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def wait_for(self, count: int, bound: float = 60) -> None:
        deadline = time.monotonic() + bound
        start = len(self.answers)
        while len(self.answers) < start + count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.answers) >= start + count, self.failures[-3:]


def test_registry_away_mid_load_fails_closed_and_recovers(restartable: FixedPortRegistry, keypair: tuple[Path, Path],
                                                          tls: Tls, tmp_path: Path) -> None:
    registry = restartable.as_registry()
    images = signed_images(registry, keypair[0], 8)
    hook = webhook(tmp_path, tls, key_policy(tmp_path / "policies", registry.host, keypair[1])).start()
    try:
        with hook.client() as c:
            assert decide(c, images[0])["allowed"] is True  # the setup works; images[0] is now cached
        fresh_images = images[1:]  # never decided: nothing cached to fall back on
        restartable.kill9()
        load = Load(hook, fresh_images)
        load.wait_for(12)
        during = list(load.answers)
        restartable.start()  # same address, same storage
        came_back = time.monotonic()
        recovered = None
        while time.monotonic() < came_back + 30:
            if any(a[3] and a[0] > came_back for a in load.answers):
                recovered = time.monotonic() - came_back
                break
            time.sleep(0.05)
        load.halt()
        assert not load.failures, load.failures[:3]
        assert during and not any(allowed for _, _, _, allowed, _ in during), "allowed while the registry was away"
        for _, _, image, _, message in during:
            assert message.startswith("validation failed: failed policy: signed: spec.containers[0].image"), message
            assert f"{image} authority-0: registry unavailable: GET http://{registry.host}/v2/" in message, message
            assert message.endswith("Connection refused"), message
        assert recovered is not None, "not allowed again within 30 s of the registry's return"
        print(f"registry fault: {len(during)} denials while away, allowed again {recovered:.2f} s after its return")
        with hook.client() as c:  # every image, none cached as denied while the registry was away
            assert all(decide(c, img)["allowed"] for img in fresh_images)
    finally:
        hook.stop()


def test_kill9_under_load_then_restart_answers_correctly(registry: Registry, keypair: tuple[Path, Path], tls: Tls,
                                                        tmp_path: Path) -> None:
    signed = signed_images(registry, keypair[0], 2)
    unsigned = fresh(registry)
    policy = key_policy(tmp_path / "policies", registry.host, keypair[1])
    hook = webhook(tmp_path, tls, policy).start()
    try:
        load = Load(hook, [*signed, unsigned], workers=6)
        load.wait_for(30)
        hook.kill9()  # requests in flight
        load.halt()
        before = list(load.answers)
        restarted = webhook(tmp_path, tls, policy, port=hook.port).start()
        try:
            load = Load(restarted, [*signed, unsigned], workers=6)
            load.wait_for(30)
            load.halt()
            assert not load.failures, load.failures[:3]
            for _, _, image, allowed, message in before + load.answers:
                assert allowed is (image != unsigned), (image, message)
                if image == unsigned:
                    assert "no signatures found" in message
        finally:
            restarted.stop()
    finally:
        hook.stop()


def test_decision_cache_never_allows_for_a_changed_policy(registry: Registry, keypair: tuple[Path, Path], tls: Tls,
                                                          tmp_path: Path) -> None:
    signed = signed_images(registry, keypair[0], 2)
    other = tmp_path / "other"
    other.mkdir()
    r = sigstack("generate-key-pair", env=PW, cwd=other)
    assert r.code == 0, r.err
    policy = key_policy(tmp_path / "policies", registry.host, keypair[1])
    hook = webhook(tmp_path, tls, policy).start()
    try:
        load = Load(hook, signed, workers=4)
        load.wait_for(20)
        assert all(a[3] for a in load.answers)  # allowed, and cached
        key_policy(policy, registry.host, other / "cosign.pub")  # now a key that never signed them
        changed = time.monotonic()
        deadline = changed + 30
        while not any(not a[3] for a in load.answers) and time.monotonic() < deadline:
            time.sleep(0.02)
        load.wait_for(20)
        load.halt()
        assert not load.failures, load.failures[:3]
        denials = [a for a in load.answers if not a[3]]
        assert denials, "the changed policy was never applied"
        first_denied = min(a[1] for a in denials)
        late_allows = [a for a in load.answers if a[3] and a[0] > first_denied]
        assert late_allows == [], f"{len(late_allows)} allows from the old policy after it was replaced"
        assert all("signature key validation failed" in a[4] for a in denials), denials[0][4]
    finally:
        hook.stop()
