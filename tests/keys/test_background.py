"""Keys loaded out of the way (sigstack.keys.background): same results as a plain
load, errors raised where the key is first needed, one load however many threads ask."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sigstack import keys
from sigstack.errors import KeyLoadError, PasswordError, VerificationError


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    keys.write_key_pair(keys.generate_key_pair(b"pw"), str(d / "cosign"))
    return d / "cosign.key", d / "cosign.pub"


def test_background_signer_signs_like_a_loaded_one(pair: tuple[Path, Path]) -> None:
    signer = keys.load_signer_in_background(str(pair[0]), b"pw")
    plain = keys.load_signer(str(pair[0]), b"pw")
    assert signer.public_key_pem() == plain.public_key_pem()
    assert (signer.hash_name, signer.prehash) == (plain.hash_name, plain.prehash)
    sig = signer.sign(b"payload")
    keys.load_verifier(str(pair[1])).verify(sig, b"payload")
    keys.load_verifier(str(pair[1])).verify_digest(signer.sign_digest(plain.digest(b"x")), plain.digest(b"x"))


def test_caller_goes_on_while_the_key_loads(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The call returns while the load is still running, and the first use waits for it.

    The load is held on an event the test releases, so the overlap is shown by order of
    events, not by a clock (which would flake on a loaded machine).
    """
    from sigstack.keys import refs

    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    real = refs.load_signer

    def held(ref: str, password: object) -> keys.Signer:
        started.set()
        release.wait(30)  # if the caller waited for the load, the test fails below instead of hanging
        signer = real(ref, password)  # type: ignore[arg-type]
        finished.set()
        return signer

    monkeypatch.setattr(refs, "load_signer", held)
    signer = keys.load_signer_in_background(str(pair[0]), b"pw")
    assert started.wait(30)  # the load did begin, on its own thread
    assert not finished.is_set()  # ... and the caller has its signer before the load ended
    release.set()
    assert signer.public_key_pem() == real(str(pair[0]), b"pw").public_key_pem()
    assert finished.is_set()  # the first use waited for the load


@pytest.mark.parametrize(("ref", "password", "error", "text"), [
    ("KEY", b"wrong", PasswordError, "wrong password"),
    ("/no/such/cosign.key", b"pw", KeyLoadError, "no such file"),
])
def test_load_error_is_raised_at_first_use(pair: tuple[Path, Path], ref: str, password: bytes,
                                           error: type[Exception], text: str) -> None:
    signer = keys.load_signer_in_background(str(pair[0]) if ref == "KEY" else ref, password)
    for _ in range(2):  # and again at every later use
        with pytest.raises(error, match=text):
            signer.sign(b"payload")


def test_password_provider_runs_once_on_the_loading_thread(pair: tuple[Path, Path]) -> None:
    seen: list[str] = []

    def provider(confirm: bool) -> bytes:
        seen.append(threading.current_thread().name)
        return b"pw"

    keys.load_signer_in_background(str(pair[0]), provider).public_key()
    assert seen == ["sigstack-key"]


def test_verifier_loads_once_for_many_threads(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from sigstack.keys import refs

    calls: list[str] = []
    real = refs.load_verifier

    def counting(ref: str) -> keys.Verifier:
        calls.append(ref)
        time.sleep(0.05)  # long enough for the other threads to pile up on the lock
        return real(ref)

    monkeypatch.setattr(refs, "load_verifier", counting)
    verifier = keys.load_verifier_on_first_use(str(pair[1]))
    assert calls == []  # nothing happens until the key is needed
    sig = keys.load_signer(str(pair[0]), b"pw").sign(b"m")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: verifier.verify(sig, b"m"), range(8)))
    assert calls == [str(pair[1])]
    with pytest.raises(VerificationError):
        verifier.verify(sig, b"other")


def test_verifier_error_is_raised_at_each_use(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    verifier = keys.load_verifier_on_first_use(str(bad))
    for _ in range(2):
        with pytest.raises(KeyLoadError, match="PEM decoding failed"):
            verifier.public_key()
