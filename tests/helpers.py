"""Run the real ``sigstack`` command (and the reference peers) in a subprocess, as users
and CI scripts do: the one runner every test uses, so that how a command is started
(interpreter, environment, stdin, timeout) is decided in one place.

The environment a command sees is chosen explicitly with ``inherit``:

* ``"clean"`` (default): this process's environment without any ``COSIGN_*`` variable,
  so a developer's own cosign settings cannot change a test's outcome;
* ``"none"``: nothing but ``env`` (tests that prove a command needs no more than that,
  e.g. KMS credentials given only through the variables the test sets).

``env`` is laid over it and ``unset`` names are removed last.

Most tests are about keys, registries or formats, not the transparency log, while the
log is on by default (as in cosign): ``offline`` says how such a test opts out, as a
user without a log would:

* ``"auto"`` (default): ``sign-blob``/``verify-blob`` get ``COSIGN_TLOG_UPLOAD=false``
  and ``COSIGN_INSECURE_IGNORE_TLOG=true`` in the environment (so a flag the test types
  wins, and ``env`` may override them); ``sign``/``attest`` get ``--tlog-upload=false``
  and ``verify``/``verify-attestation`` get ``--insecure-ignore-tlog`` right after the
  command name;
* ``"flags"``: all six commands get those flags right after the command name;
* ``None``: nothing added (tests of the log, and of the defaults themselves).

Like cosign, the signing commands ask before they publish to the log (the privacy
statement and ``Are you sure you would like to continue? [y/N]``), and refuse without a
terminal. Tests are about what gets signed, not that prompt, so ``yes`` (default True)
gives ``sign``/``sign-blob``/``attest``/``attest-blob`` ``COSIGN_YES=true`` in the
environment, as a CI script would set; the prompt's own tests pass ``yes=False``.

stdin is empty unless ``input`` says otherwise: a command that would prompt sees end of
file, never the terminal pytest was started from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Inherit = Literal["clean", "none"]
Offline = Literal["auto", "flags"] | None

_OFFLINE_ENV = {"COSIGN_TLOG_UPLOAD": "false", "COSIGN_INSECURE_IGNORE_TLOG": "true"}
_IMAGE_FLAGS = {"sign": ("--tlog-upload=false",), "attest": ("--tlog-upload=false",),
                "verify": ("--insecure-ignore-tlog",), "verify-attestation": ("--insecure-ignore-tlog",)}
_BLOB_FLAGS = {"sign-blob": ("--tlog-upload=false",), "verify-blob": ("--insecure-ignore-tlog",)}
_OFFLINE_FLAGS = {"flags": {**_IMAGE_FLAGS, **_BLOB_FLAGS}, "auto": _IMAGE_FLAGS}
_SIGNING = ("sign", "sign-blob", "attest", "attest-blob")


@dataclass(frozen=True)
class Result:
    """What a finished command left: exit code, stdout bytes, stderr text."""

    code: int
    out: bytes
    err: str

    @property
    def stdout(self) -> str:
        return self.out.decode()


def _environment(env: dict[str, str] | None, inherit: Inherit, unset: tuple[str, ...],
                 preset: dict[str, str] | None = None) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")} if inherit == "clean" else {}
    full.update(preset or {})
    full.update(env or {})
    for name in unset:
        full.pop(name, None)
    return full


def _run(argv: list[str], env: dict[str, str], input: bytes | None, cwd: Path | str | None,
         timeout: float) -> Result:
    proc = subprocess.run(argv, input=input, capture_output=True, env=env, cwd=cwd, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr.decode())


def sigstack(*args: str | Path, env: dict[str, str] | None = None, input: bytes | None = b"",
             cwd: Path | str | None = None, unset: tuple[str, ...] = (), inherit: Inherit = "clean",
             offline: Offline = "auto", timeout: float = 120, yes: bool = True) -> Result:
    """Run ``sigstack ARGS`` (this interpreter's ``python -m sigstack.cli.main``, which is
    what the console script runs); see the module docstring for ``inherit``/``offline``/``yes``."""
    argv = [str(a) for a in args]
    preset: dict[str, str] = {}
    if argv and offline == "auto" and argv[0] in _BLOB_FLAGS:
        preset.update(_OFFLINE_ENV)
    elif argv and offline is not None:
        argv = [argv[0], *_OFFLINE_FLAGS[offline].get(argv[0], ()), *argv[1:]]
    if argv and yes and argv[0] in _SIGNING:
        preset["COSIGN_YES"] = "true"
    return _run([sys.executable, "-m", "sigstack.cli.main", *argv], _environment(env, inherit, unset, preset),
                input, cwd, timeout)


def run_peer(binary: str | Path, *args: str | Path, env: dict[str, str] | None = None, input: bytes | None = b"",
         cwd: Path | str | None = None, unset: tuple[str, ...] = (), inherit: Inherit = "clean",
         timeout: float = 120) -> Result:
    """Run a reference tool (``cosign``, ``rekor-cli``, ...) the same way."""
    environment = _environment(env, inherit, unset)
    if Path(str(binary)).name == "cosign-v2":
        environment = {**_offline_trust_for_cosign_v2(), **environment}
    return _run([str(binary), *map(str, args)], environment, input, cwd, timeout)


_V2_TRUST: dict[str, str] = {}


def _offline_trust_for_cosign_v2() -> dict[str, str]:
    """cosign v2 initialises its TUF client (a DNS lookup of the public-good CDN) before
    any command, even ``--key`` with ``--insecure-ignore-tlog``, unless each piece of trust
    material comes from its environment variable. Tests only run on loopback, so cosign v2
    gets placeholder material (a throw-away key and CA, never trusted for anything a test
    checks) unless the test sets its own."""
    if not _V2_TRUST:
        import datetime
        import tempfile

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        d = Path(tempfile.mkdtemp(prefix="sigstack-cosign-v2-trust-"))
        key = ec.generate_private_key(ec.SECP256R1())
        pub = d / "placeholder.pub"
        pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sigstack test placeholder")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        root = d / "placeholder-ca.pem"
        root.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _V2_TRUST.update(SIGSTORE_REKOR_PUBLIC_KEY=str(pub), SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=str(pub),
                         SIGSTORE_ROOT_FILE=str(root))
    return dict(_V2_TRUST)


def assert_clean_error(result: Result, fragment: str, code: int = 1) -> None:
    """One clear line on stderr, the expected exit code, and never a traceback."""
    assert result.code == code, (result.code, result.err)
    assert "Traceback" not in result.err, result.err
    # One "Error:" line; like cosign it may follow an unanswered prompt on the same line.
    lines = [line[line.index("Error:"):] for line in result.err.splitlines() if "Error:" in line]
    assert len(lines) == 1, result.err
    assert fragment in lines[0], lines[0]
