"""The npm ``@sigstore/cli`` (sigstore-js) verifies a bundle sigstack signed keylessly
against `sigstack serve`, and rejects it when the identity, the artifact, the inclusion
proof or the certificate is altered.

sigstore-js takes trust material only through a TUF repository, so the served trusted
root is published as the ``trusted_root.json`` target of a real TUF repository (built
with python-tuf, tests/tuf_repo.py) on 127.0.0.1, and the CLI is pointed at it with
``--tuf-mirror-url`` / ``--tuf-root-path`` and a cache in the test's directory. Every
request it makes must go to loopback: proxy variables are removed from its environment,
and a preloaded guard (``NODE_OPTIONS=--require``) ends node with exit code 97 before any
host name lookup or any connection to an address outside 127.0.0.0/8 and ::1, so a
verifier that tried to reach the network fails the test instead of reaching it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, run_peer, sigstack
from tests.keyless._support import Served
from tests.tuf_repo import Repo, served

pytestmark = pytest.mark.interop

_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
            "NPM_CONFIG_PROXY", "NPM_CONFIG_HTTPS_PROXY")


#: Loaded into node before @sigstore/cli: refuse (exit 97) any DNS lookup and any TCP
#: connection that is not to a loopback address literal.
_GUARD = r"""
const net = require('node:net'), dns = require('node:dns');
const loopback = (h) => net.isIP(h) !== 0 && (/^127\./.test(h) || h === '::1');
const refuse = (what) => { process.stderr.write(`loopback guard: refused ${what}\n`); process.exit(97); };
const lookup = (host) => refuse(`lookup of ${host}`);
dns.lookup = lookup; dns.promises.lookup = lookup;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let o = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof o !== 'object' || o === null) o = { port: o, host: args[1] };
  if (!o.path && !loopback(o.host ?? '')) refuse(`connection to ${o.host}:${o.port}`);
  return connect.apply(this, args);
};
"""


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guard") / "loopback-guard.js"
    path.write_text(_GUARD)
    return path


class Mirror:
    """`sigstack serve`'s trusted root behind a TUF repository on loopback."""

    def __init__(self, url: str, root: Path, guard: Path) -> None:
        self.url, self.root, self.guard = url, root, guard


@pytest.fixture(scope="module")
def mirror(sigstore_stack: Served, guard: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    work = tmp_path_factory.mktemp("tuf")
    repo = Repo(work / "repo")
    repo.add_target("trusted_root.json", sigstore_stack.trusted_root.read_bytes())
    repo.publish()
    root = work / "root.json"
    root.write_bytes(repo.initial_root())
    with served(repo) as url:
        yield Mirror(url, root, guard)


@pytest.fixture(scope="module")
def signed(sigstore_stack: Served, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An artifact and the bundle sigstack signed for it, keyless as alice@example.com."""
    work = tmp_path_factory.mktemp("signed")
    art, bundle = work / "release.tar.gz", work / "release.sigstore.json"
    art.write_bytes(b"a release signed keylessly against sigstack serve, checked by sigstore-js\n")
    s = sigstore_stack
    # a first entry, so the tested one's inclusion proof has a hash to alter (tree size 2)
    first = work / "first.txt"
    first.write_bytes(b"the log's first entry\n")
    for blob, out in ((first, work / "first.sigstore.json"), (art, bundle)):
        r = sigstack("sign-blob", "--identity-token", s.token("alice@example.com"), "--signing-config",
                     s.signing_config, "--trusted-root", s.trusted_root, "--bundle", out, blob, offline=None)
        assert r.code == 0, r.err
    assert json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"]
    return art, bundle


def js_verify(sigstore_js: str, s: Served, m: Mirror, bundle: Path, art: Path, tmp_path: Path,
              identity: str = "alice@example.com", issuer: str | None = None, url: str | None = None) -> Result:
    return run_peer(sigstore_js, "verify", bundle, "--blob-file", art,
                    "--certificate-identity-email", identity, "--certificate-issuer", issuer or s.oidc,
                    "--tuf-mirror-url", url or m.url, "--tuf-root-path", m.root,
                    "--tuf-cache-path", tmp_path / "tuf-cache",
                    env={"HOME": str(tmp_path), "NO_COLOR": "1", "NODE_OPTIONS": f"--require={m.guard}"},
                    unset=_PROXIES)


def test_accepts_sigstack_keyless_bundle(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                         signed: tuple[Path, Path], tmp_path: Path) -> None:
    art, bundle = signed
    ok = js_verify(sigstore_js, sigstore_stack, mirror, bundle, art, tmp_path)
    assert ok.code == 0, ok.err
    assert "Verification succeeded" in ok.err
    # the trust material came from the loopback mirror, through TUF, into the given cache
    cached = [p for p in (tmp_path / "tuf-cache").rglob("trusted_root.json") if p.is_file()]
    assert cached and cached[0].read_bytes() == sigstore_stack.trusted_root.read_bytes()


def error_line(result: Result) -> str:
    """The ``XxxError: message`` line sigstore-js prints (after the source line node
    shows for the uncaught error), with its exit code 1."""
    assert result.code == 1, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if re.match(r"[A-Za-z]*Error: ", line)]
    assert lines, result.err
    return lines[0]


def _altered(bundle: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads(bundle.read_text())
    change(doc)
    out = tmp_path / "altered.sigstore.json"
    out.write_text(json.dumps(doc))
    return out


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_rejects_wrong_identity(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                signed: tuple[Path, Path], tmp_path: Path) -> None:
    art, bundle = signed
    r = js_verify(sigstore_js, sigstore_stack, mirror, bundle, art, tmp_path, "mallory@example.com")
    assert error_line(r) == ("PolicyError: certificate identity error - expected mallory@example.com, "
                             "got alice@example.com")
    assert "UNTRUSTED_SIGNER_ERROR" in r.err
    # and the issuer is checked too
    r = js_verify(sigstore_js, sigstore_stack, mirror, bundle, art, tmp_path, issuer="https://issuer.invalid")
    assert error_line(r).startswith("PolicyError: ")
    assert "https://issuer.invalid" in r.err


def test_rejects_altered_artifact(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                  signed: tuple[Path, Path], tmp_path: Path) -> None:
    art, bundle = signed
    altered = tmp_path / art.name
    altered.write_bytes(art.read_bytes() + b"tampered\n")
    r = js_verify(sigstore_js, sigstore_stack, mirror, bundle, altered, tmp_path)
    assert error_line(r) == "VerificationError: signature verification failed"
    assert "SIGNATURE_ERROR" in r.err


def test_rejects_altered_inclusion_proof(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                         signed: tuple[Path, Path], tmp_path: Path) -> None:
    art, bundle = signed

    def change(doc: dict[str, Any]) -> None:
        hashes = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"]
        hashes[0] = _flip(hashes[0])

    r = js_verify(sigstore_js, sigstore_stack, mirror, _altered(bundle, tmp_path, change), art, tmp_path)
    assert error_line(r) == "VerificationError: calculated root hash does not match inclusion proof"
    assert "TLOG_INCLUSION_PROOF_ERROR" in r.err


def test_rejects_altered_certificate(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                     signed: tuple[Path, Path], tmp_path: Path) -> None:
    """The certificate's identity rewritten (alice -> alicf) in its DER: well-formed, but
    no longer signed by the CA, so asking for the new identity still fails on the chain."""
    art, bundle = signed

    def change(doc: dict[str, Any]) -> None:
        cert = doc["verificationMaterial"]["certificate"]
        der = base64.b64decode(cert["rawBytes"])
        assert b"alice@example.com" in der
        cert["rawBytes"] = base64.b64encode(der.replace(b"alice@example.com", b"alicf@example.com")).decode()

    r = js_verify(sigstore_js, sigstore_stack, mirror, _altered(bundle, tmp_path, change), art, tmp_path,
                  "alicf@example.com")
    assert error_line(r) == "VerificationError: Failed to verify certificate chain"
    assert "CERTIFICATE_ERROR" in r.err



@pytest.mark.parametrize("host", ["localhost", "0.0.0.0"])
def test_loopback_guard_refuses_the_network(sigstore_js: str, sigstore_stack: Served, mirror: Mirror,
                                            signed: tuple[Path, Path], tmp_path: Path, host: str) -> None:
    """The guard is live: a mirror named by host name (a lookup, answered locally from
    /etc/hosts were it let through) or by a non-loopback address (0.0.0.0, which would
    still stay on this machine) ends node with 97 before it connects."""
    art, bundle = signed
    port = mirror.url.rsplit(":", 1)[1]
    r = js_verify(sigstore_js, sigstore_stack, mirror, bundle, art, tmp_path, url=f"http://{host}:{port}")
    assert r.code == 97, (r.code, r.err)
    assert "loopback guard: refused" in r.err and host in r.err, r.err
