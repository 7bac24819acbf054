"""Backends whose key is a blob of bytes: a file, an environment variable, a URL.

The blob is a cosign encrypted private key when signing and a PEM public key when
verifying, exactly as cosign's ``blob.LoadFileOrURL`` treats it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from sigstack.errors import KeyLoadError, KeyRefError
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.encrypted import decrypt_private_key
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.refs import GeneratedKey

# keys.software (cryptography's key classes) is imported after the key is decrypted:
# see keys.encrypted on why nothing heavy comes before scrypt.

MAX_KEY_BYTES = 1 << 20  # no key file is anywhere near this; refuse to slurp huge inputs


class MaterialBackend(ABC):
    """Shared logic; subclasses only say how to read the bytes."""

    @abstractmethod
    def read(self, ref: str) -> bytes:
        """The raw key bytes named by ``ref``."""

    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        data = self.read(ref)
        key = decrypt_private_key(data, password(False))
        from sigstack.keys.software import PrivateKeySigner

        return PrivateKeySigner(key)

    def verifier(self, ref: str) -> Verifier:
        from sigstack.keys.software import PublicKeyVerifier

        return PublicKeyVerifier(load_public_key_pem(self.read(ref)))

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        raise KeyRefError(
            f"generate-key-pair cannot store a key in {ref!r}; use --output-key-prefix for files"
        )


class FileBackend(MaterialBackend):
    def read(self, ref: str) -> bytes:
        path = Path(ref)
        try:
            if path.is_dir():
                raise KeyLoadError(f"reading key {ref}: is a directory")
            with path.open("rb") as f:
                data = f.read(MAX_KEY_BYTES + 1)
        except FileNotFoundError:
            raise KeyLoadError(f"reading key {ref}: no such file") from None
        except PermissionError:
            raise KeyLoadError(f"reading key {ref}: permission denied") from None
        except OSError as exc:
            raise KeyLoadError(f"reading key {ref}: {exc.strerror or exc}") from None
        return _bounded(data, ref)


class EnvBackend(MaterialBackend):
    def read(self, ref: str) -> bytes:
        name = ref[len("env://") :]
        if not name:
            raise KeyRefError("env:// needs a variable name, as in env://COSIGN_PRIVATE_KEY")
        value = os.environ.get(name)
        if value is None:
            raise KeyLoadError(f"loading URL: env var ${name} not found")
        return _bounded(value.encode(), ref)


class UrlBackend(MaterialBackend):
    def read(self, ref: str) -> bytes:
        import httpx

        from sigstack._internal.proxy import ProxySettings, describe
        from sigstack._internal.proxy_transport import transport

        # Proxies by Go's rules (HTTPS_PROXY, NO_PROXY, loopback direct), as cosign's
        # blob.LoadFileOrURL and every other client here; TLS settings from the environment.
        settings = ProxySettings.from_env()
        route = transport(settings, True, trust_env=True)
        try:
            with httpx.Client(follow_redirects=True, timeout=30, max_redirects=5, transport=route) as client, \
                    client.stream("GET", ref) as resp:
                if not 200 <= resp.status_code < 300:
                    raise KeyLoadError(f"loading URL {ref}: server returned HTTP {resp.status_code}")
                data = b""
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) > MAX_KEY_BYTES:
                        break
        except httpx.HTTPError as exc:
            via = describe(settings, ref) if settings.active else ""
            raise KeyLoadError(f"loading URL {ref}: {exc}{via}") from None
        return _bounded(data, ref)


def _bounded(data: bytes, ref: str) -> bytes:
    if len(data) > MAX_KEY_BYTES:
        raise KeyLoadError(f"reading key {ref}: larger than {MAX_KEY_BYTES} bytes; not a key")
    return data


FILE = FileBackend()
ENV = EnvBackend()
URL = UrlBackend()
