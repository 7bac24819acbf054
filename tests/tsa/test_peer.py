"""`sigstack tsa serve` next to the real sigstore/timestamp-authority (``timestamp-server``
v2 with its in-memory signer, NTP monitoring off: no traffic leaves loopback, and
``timestamp-cli``; built by scripts/install-peers):

- their client against our server: ``timestamp-cli timestamp`` gets a timestamp and
  ``timestamp-cli verify`` accepts it (and refuses it for another artifact);
- our client against their server: ``sigstack sign-blob --timestamp-server-url`` stores
  their timestamp, and sigstack and cosign verify it with a trusted root made from
  their chain;
- the same request gives the same shape of answer (TSTInfo fields, signed attributes,
  algorithms), and every bad request the same HTTP status with timestamp-authority's
  sentence first in the message."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import tsp

from tests.helpers import run_peer, sigstack
from tests.tlog._support import SIGSTACK, free_port
from tests.tsa._support import TSA

pytestmark = pytest.mark.interop
PW = {"COSIGN_PASSWORD": "pw"}


@dataclass
class RealTSA:
    base: str
    chain: Path
    trusted_root: Path

    @property
    def url(self) -> str:
        return self.base + "/api/v1/timestamp"


@pytest.fixture(scope="module")
def real_tsa(timestamp_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealTSA]:
    work = tmp_path_factory.mktemp("timestamp-authority")
    port = free_port()
    log = open(work / "server.log", "wb")  # noqa: SIM115 - the child writes to it until it stops
    proc = subprocess.Popen([timestamp_server, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--timestamp-signer", "memory", "--disable-ntp-monitoring"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"timestamp-server exited: {(work / 'server.log').read_text()}")
            try:
                r = httpx.get(base + "/api/v1/timestamp/certchain", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("timestamp-server did not start")
            time.sleep(0.1)
        chain = work / "chain.pem"
        chain.write_bytes(r.content)
        root = work / "trusted_root.json"
        subprocess.run([SIGSTACK, "trusted-root", "create", "--tsa",
                        f"url={base}/api/v1/timestamp,certificate-chain={chain}", "--out", str(root)],
                       check=True, capture_output=True)
        yield RealTSA(base, chain, root)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    f = tmp_path / "artifact.bin"
    f.write_bytes(b"timestamped by the other implementation\n")
    return f


def root_only(chain: Path, out: Path) -> Path:
    certs = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain.read_bytes(), re.S)
    out.write_bytes(certs[-1])
    return out


def test_their_client_against_our_server(timestamp_cli: str, tsa: TSA, artifact: Path, tmp_path: Path) -> None:
    response = tmp_path / "response.tsr"
    got = run_peer(timestamp_cli, "--timestamp_server", tsa.server.url, "timestamp", "--hash", "sha256",
                   "--artifact", artifact, "--out", response)
    assert got.code == 0, got.err
    root = root_only(tsa.chain, tmp_path / "root.pem")
    ok = run_peer(timestamp_cli, "verify", "--timestamp", response, "--artifact", artifact, "--certificate-chain", root)
    assert ok.code == 0, ok.err
    assert "Successfully verified timestamp" in ok.stdout + ok.err
    other = tmp_path / "other.bin"
    other.write_bytes(b"something else\n")
    bad = run_peer(timestamp_cli, "verify", "--timestamp", response, "--artifact", other, "--certificate-chain", root)
    assert bad.code == 1, bad.err
    assert "hashed messages don't match" in bad.stdout + bad.err


def test_our_client_against_their_server(cosign: str, real_tsa: RealTSA, artifact: Path, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", env=PW, cwd=tmp_path)
    assert r.code == 0, r.err
    bundle = tmp_path / "b.sigstore.json"
    r = sigstack("sign-blob", "--key", tmp_path / "cosign.key", "--tlog-upload=false", "--timestamp-server-url",
                 real_tsa.url, "--bundle", bundle, artifact, env=PW)
    assert r.code == 0, r.err
    ours = sigstack("verify-blob", "--key", tmp_path / "cosign.pub", "--bundle", bundle, "--use-signed-timestamps",
                    "--trusted-root", real_tsa.trusted_root, "--insecure-ignore-tlog", artifact)
    assert ours.code == 0, ours.err
    theirs = run_peer(cosign, "verify-blob", "--key", tmp_path / "cosign.pub", "--bundle", bundle,
                      "--use-signed-timestamps", "--trusted-root", real_tsa.trusted_root, "--insecure-ignore-tlog",
                      artifact)
    assert theirs.code == 0, theirs.err


def _request(**fields: object) -> bytes:
    digest = fields.pop("digest", hashlib.sha256(b"x").digest())
    alg = fields.pop("alg", "sha256")
    return tsp.TimeStampReq({"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": alg},
                                                                  "hashed_message": digest}, **fields}).dump()


def _shape(der: bytes) -> tuple[object, ...]:
    token = tsp.TimeStampResp.load(der)["time_stamp_token"]["content"]
    tst = token["encap_content_info"]["content"].parsed
    (info,) = token["signer_infos"]
    fields = tuple(name for name, value in tst.native.items() if value is not None and name != "extensions")
    attrs = tuple(sorted(a["type"].native for a in info["signed_attrs"]))
    return (fields, attrs, info["digest_algorithm"]["algorithm"].native,
            info["signature_algorithm"]["algorithm"].native, token["encap_content_info"]["content_type"].native,
            tst["accuracy"].native, tst["ordering"].native, tst["policy"].native, tst["nonce"].native,
            tsp.TimeStampResp.load(der)["status"]["status"].native)


def test_the_same_answer_to_the_same_request(tsa: TSA, real_tsa: RealTSA) -> None:
    body = _request(nonce=1234, cert_req=True)
    headers = {"Content-Type": "application/timestamp-query"}
    mine = httpx.post(tsa.url, content=body, headers=headers, timeout=10)
    theirs = httpx.post(real_tsa.url, content=body, headers=headers, timeout=10)
    assert (mine.status_code, mine.headers["content-type"]) == (theirs.status_code, theirs.headers["content-type"])
    assert _shape(mine.content) == _shape(theirs.content)


@pytest.mark.parametrize("name,body,content_type", [
    ("not DER", b"garbage", "application/timestamp-query"),
    ("oversized", b"\x30" * 20000, "application/timestamp-query"),
    ("SHA-1", _request(alg="sha1", digest=hashlib.sha1(b"x").digest()), "application/timestamp-query"),
    ("short imprint", _request(digest=b"\x00" * 31), "application/timestamp-query"),
    ("another policy", _request(req_policy="1.2.3"), "application/timestamp-query"),
    ("critical extension", _request(extensions=[{"extn_id": "1.2.3.4.5", "critical": True,
                                                 "extn_value": b"\x05\x00"}]), "application/timestamp-query"),
    ("extension", _request(extensions=[{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}]),
     "application/timestamp-query"),
    ("bad JSON", b"{not json", "application/json"),
    ("no content type", _request(), None),
    ("text", _request(), "text/plain"),
])
def test_the_same_refusals(tsa: TSA, real_tsa: RealTSA, name: str, body: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    mine = httpx.post(tsa.url, content=body, headers=headers, timeout=10)
    theirs = httpx.post(real_tsa.url, content=body, headers=headers, timeout=10)
    assert mine.status_code == theirs.status_code, (name, mine.text, theirs.text)
    their_message = _unordered(theirs.json()["message"])
    assert mine.json()["code"] == theirs.json()["code"]
    assert _unordered(mine.json()["message"]).startswith(their_message), (mine.json(), their_message)


def _unordered(message: str) -> str:
    """The message with each ``[a b]`` list sorted: timestamp-authority lists its allowed
    media types from a Go map, so their order changes from one request to the next."""
    import re

    return re.sub(r"\[([^\]]*)\]", lambda m: "[" + " ".join(sorted(m.group(1).split())) + "]", message)
