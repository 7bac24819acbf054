"""Start-up guards: which modules a command imports, in a fresh interpreter.

CLI start-up is a feature (``sigstack --version`` well under 0.05 s) that rests on
heavy modules being imported only by the commands that use them. Nothing else would
notice a stray top-level import of httpx or cryptography, so these tests run each
command in its own subprocess and look at ``sys.modules`` when it ends: the wrapper
calls the CLI's ``main`` as the console script does and writes the module names to a
file (stdout and stderr stay the command's own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import sigstack

_WRAPPER = """
import json, sys
out = sys.argv.pop(1)
from sigstack.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse ends --version and --help this way
    code = exc.code or 0
with open(out, "w") as f:
    # None entries are imports blocked on purpose (cli.main blocks httpx._main), not loaded
    json.dump({"code": code, "modules": sorted(k for k, v in sys.modules.items() if v is not None)}, f)
"""

HTTP = ("httpx", "httpcore", "h11", "urllib3", "requests", "http.client")
CRYPTO = ("cryptography", "nacl")
SERVER = ("starlette", "uvicorn", "sigstack.tlog.api", "sigstack.tlog.server", "sigstack.tlog.store")


def imported(tmp_path: Path, *argv: str | Path, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    """Exit code and the modules loaded by ``sigstack ARGV`` in a fresh interpreter."""
    out = tmp_path / "modules.json"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    full_env.update(env or {})
    subprocess.run([sys.executable, "-c", _WRAPPER, str(out), *map(str, argv)], env=full_env,
                   capture_output=True, timeout=120, check=True, cwd=tmp_path)
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"])


def loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    """The modules in ``modules`` that are one of ``roots`` or inside one."""
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_the_wrapper_sees_imports(tmp_path: Path) -> None:
    """The guard can fail: a command that does use HTTP and crypto shows them."""
    code, modules = imported(tmp_path, "tlog", "get", "--rekor-url", "http://127.0.0.1:9", "--log-index", "0",
                             "-t", "1s")
    assert code == 1  # nothing listens there; the point is what it imported on the way
    assert loaded(modules, ("httpx",)), "tlog get talks HTTP, so the wrapper must see httpx"


def test_version_imports_no_http_crypto_or_server(tmp_path: Path) -> None:
    code, modules = imported(tmp_path, "--version")
    assert code == 0
    assert loaded(modules, HTTP + CRYPTO + SERVER) == []
    # None of the command modules either: --version builds no sub-parser.
    assert loaded(modules, ("sigstack.cli.keys", "sigstack.cli.image", "sigstack.cli.blob",
                            "sigstack.cli.attest", "sigstack.cli.tlog", "sigstack.cli.attach")) == []


@pytest.mark.parametrize("argv", [("version",), ("verify", "--help"), ("sign", "--help"),
                                  ("verify-blob", "--help"), ("tlog", "--help"), ("--help",)])
def test_parsing_imports_no_http_crypto_or_server(tmp_path: Path, argv: tuple[str, ...]) -> None:
    code, modules = imported(tmp_path, *argv)
    assert code == 0
    assert loaded(modules, HTTP + CRYPTO + SERVER) == []


def test_key_only_verify_blob_imports_no_server_or_http(tmp_path: Path) -> None:
    env = {"COSIGN_PASSWORD": "pw"}
    assert sigstack("generate-key-pair", env=env, cwd=tmp_path).code == 0
    (tmp_path / "blob").write_bytes(b"hello\n")
    signed = sigstack("sign-blob", "--key", "cosign.key", "--tlog-upload=false", "blob", env=env, cwd=tmp_path,
                      offline=None)
    assert signed.code == 0, signed.err
    (tmp_path / "blob.sig").write_bytes(signed.out)
    code, modules = imported(tmp_path, "verify-blob", "--key", "cosign.pub", "--insecure-ignore-tlog",
                             "--signature", "blob.sig", "blob")
    assert code == 0
    assert "cryptography" in modules  # it did verify
    # key-only: no log is asked, so neither HTTP nor anything of the log server or its stores
    assert loaded(modules, HTTP + SERVER + ("psycopg", "sqlite3")) == []
