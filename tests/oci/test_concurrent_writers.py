"""Concurrent writers of one attachment image lose nothing (issue 15).

Registries have no conditional PUT, so two ``sign`` runs that read the ``.sig`` manifest
at the same time each re-PUT it with only their own layer added: one signature is lost
(cosign#2432). sigstack reads the manifest back after writing and re-merges what is
missing (oci/layouts/legacy.py); these tests start 6 and 20 real ``sigstack`` processes
against the real docker-registry at once and count what is left.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ocihelpers import Registry, fresh
from tests.helpers import Result, sigstack

from sigstack.oci import layout
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference

PW = {"COSIGN_PASSWORD": "pw"}


def _run_all(commands: list[list[str]], env: dict[str, str] | None = None) -> list[Result]:
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda argv: sigstack(*argv, env={**PW, **(env or {})}, timeout=300), commands))


def _layers(image: str, suffix: str) -> list[dict]:
    ref = parse_reference(image)
    assert ref.digest is not None
    with RegistryClient() as client:
        tag = ref.repository.tag(layout.attachment_tag(ref.digest, suffix))
        return json.loads(client.get_manifest(tag).data)["layers"]


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_signers_keep_every_signature(registry: Registry, keypair, writers: int) -> None:
    key, pub = keypair
    image = fresh(registry)
    results = _run_all([["sign", "--key", str(key), "-a", f"n={i}", image] for i in range(writers)])
    for r in results:
        assert r.code == 0, r.err
    layers = _layers(image, "sig")
    assert len(layers) == writers, [x["annotations"] for x in layers]
    signatures = {x["annotations"][layout.SIGNATURE_ANNOTATION] for x in layers}
    assert len(signatures) == writers
    for x in layers:
        assert base64.b64decode(x["annotations"][layout.SIGNATURE_ANNOTATION])
    for i in (0, writers - 1):  # every writer's own claims verify
        v = sigstack("verify", "--key", str(pub), "-a", f"n={i}", image)
        assert v.code == 0, v.err


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_attesters_keep_every_attestation(registry: Registry, keypair, tmp_path: Path,
                                                     writers: int) -> None:
    key, pub = keypair
    image = fresh(registry)
    commands = []
    for i in range(writers):
        predicate = tmp_path / f"p{i}.json"
        predicate.write_text(json.dumps({"builder": {"id": f"writer-{i}"}}))
        commands.append(["attest", "--key", str(key), "--predicate", str(predicate), "--type", "slsaprovenance",
                         image])
    for r in _run_all(commands):
        assert r.code == 0, r.err
    layers = _layers(image, "att")
    assert len(layers) == writers
    assert len({x["digest"] for x in layers}) == writers
    v = sigstack("verify-attestation", "--key", str(pub), "--type", "slsaprovenance", image)
    assert v.code == 0, v.err
    builders = {json.loads(base64.b64decode(json.loads(line)["payload"]))["predicate"]["builder"]["id"]
                for line in v.out.decode().splitlines() if line.strip()}
    assert builders == {f"writer-{i}" for i in range(writers)}


@pytest.mark.parametrize("writers", [6, 20])
def test_concurrent_referrers_keep_every_entry_of_the_fallback_index(registry: Registry, keypair,
                                                                     writers: int) -> None:
    """distribution 2.8 has no referrers API: every referrer goes into one
    ``sha256-<hex>`` index tag, rewritten whole by each writer."""
    key, pub = keypair
    image = fresh(registry)
    results = _run_all([["sign", "--key", str(key), "--registry-referrers-mode=oci-1-1", "-a", f"n={i}", image]
                        for i in range(writers)], env={"COSIGN_EXPERIMENTAL": "1"})
    for r in results:
        assert r.code == 0, r.err
    ref = parse_reference(image)
    assert ref.digest is not None
    with RegistryClient() as client:
        index = json.loads(client.get_manifest(ref.repository.tag(layout.referrers_tag(ref.digest))).data)
    digests = [m["digest"] for m in index["manifests"]]
    assert len(set(digests)) == writers
    assert digests == sorted(digests)  # still ggcr's order
    # readers take the last referrer listed, as cosign's verify --experimental-oci11 does
    v = sigstack("verify", "--key", str(pub), "--experimental-oci11", image,
                 env={"COSIGN_EXPERIMENTAL": "1"})
    assert v.code == 0, v.err


def test_a_layer_always_overwritten_is_an_error_not_a_success() -> None:
    """A registry where another writer always wins (the double serves the same empty
    image whatever was PUT): after ``write_attempts`` writes the append fails with
    ConcurrentUpdateError instead of reporting a signature that is not stored."""
    import hashlib

    from hostile import HostileRegistry

    from sigstack.errors import ConcurrentUpdateError
    from sigstack.oci.client import RegistryOptions
    from sigstack.oci.layouts.base import SignedEntity
    from sigstack.oci.layouts.legacy import LEGACY

    h = HostileRegistry()
    try:
        empty = layout.build_image([]).manifest
        digest = "sha256:" + "ab" * 32
        tag = f"/v2/x/manifests/{layout.attachment_tag(digest, 'sig')}"
        puts: list[bytes] = []
        served = {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                  "Docker-Content-Digest": "sha256:" + hashlib.sha256(empty).hexdigest()}
        h.route("GET", tag, lambda _r: (200, served, empty))
        h.route("HEAD", tag, lambda _r: (200, {**served, "Content-Length": str(len(empty))}, b""))

        def put(req):
            puts.append(req.rfile.read(int(req.headers["Content-Length"])))
            return 201, {}, b""

        h.route("PUT", tag, put)
        h.route("HEAD", "*", lambda _r: (200, {}, b""))  # every blob "exists": no uploads
        with RegistryClient(RegistryOptions(write_attempts=3, write_settle=0.01)) as client:
            entity = SignedEntity.at(client, parse_reference(f"{h.host}/x:v1").repository, digest)
            layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}", {layout.SIGNATURE_ANNOTATION: "QQ=="})
            with pytest.raises(ConcurrentUpdateError, match="overwritten by concurrent writers"):
                LEGACY.append(entity, "sig", [layer])
        assert len(puts) == 3 and all(b"QQ==" in p for p in puts)
    finally:
        h.close()


class _GatedClient(RegistryClient):
    """A real registry client whose first manifest HEAD / PUT of one tag can wait for, and
    signal, other writers: the test forces an interleaving the scheduler picks only rarely."""

    def __init__(self, options, tag: str, *, after_head=None, before_put=None, after_put=None) -> None:
        super().__init__(options)
        self._tag, self.puts = tag, 0
        self._after_head, self._before_put, self._after_put = after_head, before_put, after_put

    def head_manifest(self, ref):  # type: ignore[no-untyped-def]
        try:
            return super().head_manifest(ref)
        finally:  # the first HEAD of a new tag is a 404 (NotFoundError)
            if ref.tag == self._tag and self._after_head is not None:
                hook, self._after_head = self._after_head, None
                hook()

    def put_manifest(self, ref, data, media_type):  # type: ignore[no-untyped-def]
        if ref.tag == self._tag:
            self.puts += 1
            if self._before_put is not None:
                hook, self._before_put = self._before_put, None
                hook()
        out = super().put_manifest(ref, data, media_type)
        if ref.tag == self._tag and self._after_put is not None:
            hook, self._after_put = self._after_put, None
            hook()
        return out


def _writer_threads(registry: Registry, clients: dict[str, RegistryClient], image: str) -> dict[str, BaseException]:
    """``LEGACY.append`` of one signature layer per client, each on its own thread."""
    import threading

    from sigstack.oci.layouts.base import SignedEntity
    from sigstack.oci.layouts.legacy import LEGACY

    ref = parse_reference(image)
    assert ref.digest is not None
    failures: dict[str, BaseException] = {}

    def write(name: str, client: RegistryClient) -> None:
        try:
            entity = SignedEntity.at(client, ref.repository, ref.digest)
            layer = layout.Layer(layout.SIMPLESIGNING_MEDIA, name.encode(),
                                 {layout.SIGNATURE_ANNOTATION: base64.b64encode(name.encode()).decode()})
            LEGACY.append(entity, "sig", [layer])
        except BaseException as exc:  # reported to the test thread
            failures[name] = exc

    threads = [threading.Thread(target=write, args=item) for item in clients.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return failures


def test_a_stale_put_between_our_put_and_read_back_is_repaired(registry: Registry) -> None:
    """Without the host lock (a writer on another machine): B checks the tag, A PUTs, B
    PUTs its manifest built on the old tag (A's layer gone), and only then does A read
    back. A sees its layer missing, merges onto B's manifest and PUTs again: both stay."""
    import threading

    from sigstack.oci.client import RegistryOptions

    image = fresh(registry)
    ref = parse_reference(image)
    assert ref.digest is not None
    tag = layout.attachment_tag(ref.digest, "sig")
    b_checked, a_put, b_put = threading.Event(), threading.Event(), threading.Event()
    opts = RegistryOptions(write_lock=False)

    def b_after_head() -> None:
        b_checked.set()
        assert a_put.wait(60)

    def a_after_put() -> None:
        a_put.set()
        assert b_put.wait(60)

    a = _GatedClient(opts, tag, before_put=lambda: b_checked.wait(60), after_put=a_after_put)
    b = _GatedClient(opts, tag, after_head=b_after_head, after_put=b_put.set)
    with a, b:
        failures = _writer_threads(registry, {"a": a, "b": b}, image)
    assert not failures, failures
    assert a.puts == 2 and b.puts == 1  # A's layer was lost once and written again
    layers = _layers(image, "sig")
    assert sorted(base64.b64decode(x["annotations"][layout.SIGNATURE_ANNOTATION]) for x in layers) == [b"a", b"b"]


def test_writers_on_one_machine_take_turns(registry: Registry, tmp_path: Path) -> None:
    """With the host lock, B's check of the tag waits until A has written and read back:
    B never even looks at the tag while A holds it, so the stale PUT above cannot happen."""
    import threading

    from sigstack.oci.client import RegistryOptions

    image = fresh(registry)
    ref = parse_reference(image)
    assert ref.digest is not None
    tag = layout.attachment_tag(ref.digest, "sig")
    opts = RegistryOptions(write_lock_dir=str(tmp_path / "locks"))
    a_in, release, b_looked = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def a_before_put() -> None:
        a_in.set()
        assert release.wait(60)

    def b_after_head() -> None:
        order.append("b-head")
        b_looked.set()

    a = _GatedClient(opts, tag, before_put=a_before_put, after_put=lambda: order.append("a-put"))
    b = _GatedClient(opts, tag, after_head=b_after_head)
    with a, b:
        import threading as _t

        runner = _t.Thread(target=lambda: failures.update(_writer_threads(registry, {"a": a}, image)))
        failures: dict[str, BaseException] = {}
        runner.start()
        assert a_in.wait(60)  # A holds the lock, about to PUT
        other = _t.Thread(target=lambda: failures.update(_writer_threads(registry, {"b": b}, image)))
        other.start()
        assert not b_looked.wait(0.5)  # B is waiting for the lock, not checking the tag
        release.set()
        runner.join(60)
        other.join(60)
    assert not failures, failures
    assert order == ["a-put", "b-head"]
    assert a.puts == 1 and b.puts == 1
    assert len(_layers(image, "sig")) == 2
    assert oct((tmp_path / "locks").stat().st_mode & 0o777) == "0o700"


def test_host_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    """A holder killed with SIGKILL leaves no stale lock (flock dies with the process);
    while it lives, another taker waits and gives up after its timeout, unlocked."""
    import signal
    import subprocess
    import sys

    from sigstack._internal.hostlock import host_lock

    locks = tmp_path / "locks"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from sigstack._internal.hostlock import host_lock\n"
         f"with host_lock(Path({str(locks)!r}), 'reg/repo:tag', 5) as held:\n"
         "    print(held, flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with host_lock(locks, "reg/repo:tag", 0.2) as held:
            assert held is False
        with host_lock(locks, "reg/repo:other", 0.2) as held:
            assert held is True  # one lock per tag
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        with host_lock(locks, "reg/repo:tag", 5) as held:
            assert held is True
    finally:
        holder.kill()
        holder.wait()
    modes = {oct(p.stat().st_mode & 0o777) for p in locks.iterdir()}
    assert modes == {"0o600"} and len(list(locks.iterdir())) == 2


def test_host_lock_without_a_usable_directory_goes_on_unlocked(tmp_path: Path) -> None:
    from sigstack._internal.hostlock import host_lock

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with host_lock(blocker / "locks", "reg/repo:tag", 1) as held:
        assert held is False
