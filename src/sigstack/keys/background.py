"""Keys loaded out of the way: a signer on a background thread while the caller gets
on with other work, a verifier where the caller would otherwise wait.

Why: loading a cosign key runs scrypt (N=2^16: ~0.15 s of one core, the cost
cosign pays too) and a KMS or token signer needs a network round trip. An image
signature needs neither until the payload is ready, and getting there takes
imports and registry round trips of about the same length. ``hashlib.scrypt`` and
socket waits release the GIL, so on a second core the two overlap and ``sign``
pays roughly the longer of them instead of their sum.

The thread is a bare ``threading.Thread``, not ``concurrent.futures``: that import
costs more start-up time than the wait it would tidy. The signer's own module
imports happen on the thread too, so the caller's thread is free at once.

The returned object is a :class:`~sigstack.keys.base.Signer`; its first use waits
for the key, and an error while loading it (a wrong password, an unknown key
reference) is raised there, by whichever call needed the key first. The password
provider runs on the background thread, so it must not prompt on a terminal while
the caller is printing (the CLI only loads in the background when no prompt can
be needed).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from sigstack.keys.base import Signer, Verifier, _KeyHolder  # no cryptography import here

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from sigstack.keys.base import PasswordProvider


#: Seconds the loader runs alone before the caller goes on. Its own imports then reach
#: the GIL-free part (scrypt, a network wait) without competing with the caller's
#: imports for the GIL. The caller's work is shorter than scrypt, so this head start
#: costs nothing on the path; it ends early when the key is ready sooner.
HEAD_START = 0.025


def load_signer_in_background(ref: str, password: PasswordProvider | bytes | None = None) -> Signer:
    """A :class:`Signer` for ``ref`` whose key is being loaded on a daemon thread."""
    box: list[Any] = []

    def work() -> None:
        try:
            from sigstack.keys.refs import load_signer

            box.append(load_signer(ref, password))
        except BaseException as exc:  # re-raised by the first call that needs the key
            box.append(exc)

    thread = threading.Thread(target=work, name="sigstack-key", daemon=True)
    thread.start()
    thread.join(HEAD_START)
    return _PendingSigner(thread, box)


def load_verifier_on_first_use(ref: str) -> Verifier:
    """A :class:`Verifier` for ``ref`` that loads the key when first used.

    No thread here: reading a public key has no GIL-free part to overlap. What it
    buys is placement: an image verification first asks the registry for the
    signatures, and the key (with the cryptography imports, ~15 ms) is loaded on the
    main thread while the workers fetch layers. Callers that must report a bad key
    before anything else call ``public_key()`` (the CLI does when verification fails,
    since cosign reports the key first).
    """
    return _PendingVerifier(ref)


class _Deferred(_KeyHolder):
    """What signers and verifiers share: every question about the key waits for it."""

    @abstractmethod
    def loaded(self) -> _KeyHolder:
        """The key itself, once obtained (each subclass says how)."""

    @property
    def hash_name(self) -> str:  # type: ignore[override]
        return self.loaded().hash_name

    @property
    def prehash(self) -> bool:  # type: ignore[override]
        return self.loaded().prehash

    def public_key(self) -> PublicKeyTypes:
        return self.loaded().public_key()

    def public_key_pem(self) -> bytes:
        return self.loaded().public_key_pem()


class _PendingSigner(_Deferred, Signer):
    """Waits for the background load on first use, then delegates."""

    def __init__(self, thread: threading.Thread, box: list[Any]) -> None:
        self._thread = thread
        self._box = box

    def loaded(self) -> Signer:
        self._thread.join()
        result = self._box[0]
        if isinstance(result, BaseException):
            raise result
        signer: Signer = result
        return signer

    def sign_digest(self, digest: bytes) -> bytes:
        return self.loaded().sign_digest(digest)

    def sign(self, message: bytes) -> bytes:
        return self.loaded().sign(message)


class _PendingVerifier(_Deferred, Verifier):
    """Loads on first use (once, whichever thread asks first), then delegates."""

    def __init__(self, ref: str) -> None:
        self._ref = ref
        self._lock = threading.Lock()
        self._loaded: Verifier | None = None

    def loaded(self) -> Verifier:
        with self._lock:
            if self._loaded is None:
                from sigstack.keys.refs import load_verifier

                self._loaded = load_verifier(self._ref)
            return self._loaded

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        self.loaded().verify_digest(signature, digest)

    def verify(self, signature: bytes, message: bytes) -> None:
        self.loaded().verify(signature, message)
