"""Client side of a Rekor v1 log: upload entries, fetch them, and verify the log's
evidence offline (SET, inclusion proof, signed checkpoint, consistency).

Library functions only; ``sign-blob``/``verify-blob`` and ``sigstack tlog`` call them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sigstack._internal.proxy import ProxySettings, describe
from sigstack._internal.proxy_transport import transport
from sigstack.errors import KeyLoadError
from sigstack.keys.base import Verifier
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import Checkpoint, log_id, verify_checkpoint, verify_set
from sigstack.tlog.errors import LogClientError, ProofError

USER_AGENT = "sigstack-tlog-client"


@dataclass(frozen=True)
class TlogEntry:
    """One log entry with the evidence of its inclusion (a Rekor v1 LogEntry)."""

    log_index: int
    log_id: bytes
    integrated_time: int
    body: bytes  # the canonical entry: the Merkle leaf
    signed_entry_timestamp: bytes | None
    proof_log_index: int
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str
    entry_id: str = ""

    @property
    def body_b64(self) -> str:
        return base64.b64encode(self.body).decode()

    @property
    def kind_version(self) -> tuple[str, str]:
        try:
            doc = json.loads(self.body)
            return str(doc["kind"]), str(doc["apiVersion"])
        except (ValueError, KeyError, TypeError):
            raise ProofError("the log entry body is not a Rekor entry") from None

    @classmethod
    def from_response(cls, doc: Any) -> TlogEntry:
        """Parse ``{entryID: LogEntry}`` as Rekor v1 returns it (strictly)."""
        if not isinstance(doc, dict) or len(doc) != 1:
            raise LogClientError("unexpected log response: want one entry")
        ((entry_id, v),) = doc.items()
        try:
            proof = v["verification"]["inclusionProof"]
            return cls(
                log_index=_int(v["logIndex"]),
                log_id=bytes.fromhex(v["logID"]),
                integrated_time=_int(v["integratedTime"]),
                body=base64.b64decode(v["body"], validate=True),
                signed_entry_timestamp=base64.b64decode(v["verification"]["signedEntryTimestamp"],
                                                        validate=True),
                proof_log_index=_int(proof["logIndex"]),
                tree_size=_int(proof["treeSize"]),
                root_hash=bytes.fromhex(proof["rootHash"]),
                hashes=tuple(bytes.fromhex(h) for h in proof["hashes"]),
                checkpoint=str(proof["checkpoint"]),
                entry_id=str(entry_id),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise LogClientError("unexpected log response: malformed LogEntry") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not an integer")
    return int(value)


def verify_entry(entry: TlogEntry, verifier: Verifier, *, require_set: bool = False) -> Checkpoint:
    """Check all log evidence of ``entry`` offline against the log key; returns the checkpoint."""
    if entry.log_id != log_id(verifier.public_key()):
        raise ProofError("the entry was logged by a log whose key is not the trusted log key")
    if entry.signed_entry_timestamp:
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   verifier)
    elif require_set:
        raise ProofError("the entry carries no signed entry timestamp")
    merkle.verify_inclusion(entry.proof_log_index, entry.tree_size, merkle.leaf_hash(entry.body),
                            entry.hashes, entry.root_hash)
    cp = verify_checkpoint(entry.checkpoint, verifier)
    if cp.root_hash != entry.root_hash or cp.size != entry.tree_size:
        raise ProofError("the checkpoint does not match the inclusion proof's tree")
    return cp


def hashedrekord(signature: bytes, digest: bytes, algorithm: str, verifier_pem: bytes) -> dict[str, Any]:
    """A ProposedEntry for ``hashedrekord`` 0.0.1 (what cosign uploads for blobs)."""
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(verifier_pem).decode()},
            },
        },
    }


#: Seconds each request to the log may take; the CLI passes its ``-t/--timeout``.
DEFAULT_TIMEOUT = 30.0


class RekorClient:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, proxies: ProxySettings | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._proxies = proxies or ProxySettings.from_env()
        # SSL_CERT_FILE/SSL_CERT_DIR still apply (trust_env on the transport); proxies are
        # chosen with Go's rules, as rekor-cli and cosign do, not httpx's.
        self._http = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT},
                                  transport=transport(self._proxies, True, trust_env=True))

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, self.url + path, **kw)
        except httpx.TimeoutException:
            raise LogClientError(f"contacting the log at {self.url}: timed out after {self.timeout:g} s "
                                 "(-t/--timeout)") from None
        except httpx.HTTPError as exc:
            via = describe(self._proxies, self.url + path) if self._proxies.active else ""
            raise LogClientError(f"contacting the log at {self.url}: {exc}{via}") from None

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                msg = resp.json().get("message", "")
            except ValueError:
                msg = ""
            raise LogClientError(f"log returned HTTP {resp.status_code}" + (f": {msg}" if msg else ""))
        try:
            return resp.json()
        except ValueError:
            raise LogClientError("log returned a response that is not JSON") from None

    def upload(self, proposed: dict[str, Any]) -> TlogEntry:
        """POST an entry; an existing equal entry is fetched and returned instead (as cosign does)."""
        resp = self._call("POST", "/api/v1/log/entries", json=proposed)
        if resp.status_code == 409 and resp.headers.get("location"):
            uuid = resp.headers["location"].rstrip("/").rsplit("/", 1)[-1]
            return self.get(uuid=uuid)
        if resp.status_code != 201:
            self._json(resp)
            raise LogClientError(f"log returned HTTP {resp.status_code} to an upload")
        return TlogEntry.from_response(self._json(resp))

    def get(self, *, log_index: int | None = None, uuid: str | None = None) -> TlogEntry:
        if uuid is not None:
            resp = self._call("GET", f"/api/v1/log/entries/{uuid}")
        else:
            resp = self._call("GET", "/api/v1/log/entries", params={"logIndex": log_index})
        if resp.status_code == 404:
            raise LogClientError("no such entry in the log")
        return TlogEntry.from_response(self._json(resp))

    def retrieve(self, proposed: dict[str, Any]) -> TlogEntry | None:
        """The logged entry equal to ``proposed``, or None (``entries/retrieve``)."""
        docs = self._json(self._call("POST", "/api/v1/log/entries/retrieve", json={"entries": [proposed]}))
        if not isinstance(docs, list):
            raise LogClientError("unexpected retrieve response")
        return TlogEntry.from_response(docs[0]) if docs else None

    def search(self, *, sha: str | None = None, public_key_pem: bytes | None = None,
               email: str | None = None) -> list[str]:
        query: dict[str, Any] = {}
        if sha:
            query["hash"] = sha if ":" in sha else "sha256:" + sha
        if public_key_pem:
            query["publicKey"] = {"format": "x509", "content": base64.b64encode(public_key_pem).decode()}
        if email:
            query["email"] = email
        result = self._json(self._call("POST", "/api/v1/index/retrieve", json=query))
        if not isinstance(result, list) or not all(isinstance(x, str) for x in result):
            raise LogClientError("unexpected search response")
        return result

    def log_info(self) -> dict[str, Any]:
        info = self._json(self._call("GET", "/api/v1/log"))
        if not isinstance(info, dict):
            raise LogClientError("unexpected log info response")
        return info

    def consistency(self, first: int, last: int) -> list[bytes]:
        params = {"firstSize": first, "lastSize": last}
        doc = self._json(self._call("GET", "/api/v1/log/proof", params=params))
        try:
            return [bytes.fromhex(h) for h in doc["hashes"]]
        except (KeyError, TypeError, ValueError):
            raise LogClientError("unexpected consistency proof response") from None

    def public_key_pem(self) -> bytes:
        resp = self._call("GET", "/api/v1/log/publicKey")
        if resp.status_code != 200:
            raise LogClientError(f"log returned HTTP {resp.status_code} for its public key")
        return resp.content


def log_verifier(path: str | None, client: RekorClient | None = None) -> Verifier:
    """The log key: ``path``, else ``$SIGSTORE_REKOR_PUBLIC_KEY`` (a PEM file, as cosign reads
    it), else -- only when a client is given -- the key the log itself serves."""
    path = path or os.environ.get("SIGSTORE_REKOR_PUBLIC_KEY")
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"reading log public key {path}: {exc.strerror or exc}") from None
        return PublicKeyVerifier(load_public_key_pem(data))
    if client is None:
        raise KeyLoadError("no log public key: pass one or set SIGSTORE_REKOR_PUBLIC_KEY")
    return PublicKeyVerifier(load_public_key_pem(client.public_key_pem()))


def check_log_consistency(client: RekorClient, verifier: Verifier,
                          state: Path | None) -> tuple[Checkpoint | None, Checkpoint]:
    """Verify the log's current signed checkpoint and, if ``state`` holds an earlier
    checkpoint, that the log only grew since; then save the new checkpoint there."""
    info = client.log_info()
    note = info.get("signedTreeHead")
    if not isinstance(note, str):
        raise LogClientError("log info has no signed tree head")
    new = verify_checkpoint(note, verifier)
    if new.size != info.get("treeSize") or new.root_hash.hex() != info.get("rootHash"):
        raise ProofError("the signed checkpoint does not match the reported tree head")
    old: Checkpoint | None = None
    if state is not None and state.exists():
        old = verify_checkpoint(state.read_bytes(), verifier)
        if old.size > 0:
            proof = client.consistency(old.size, new.size) if new.size != old.size else []
            merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
        elif new.size < old.size:
            raise ProofError("the log shrank")
    if state is not None:
        from sigstack._internal.fs import atomic_write

        atomic_write(state, note.encode(), 0o644)
    return old, new


def upload_hashedrekord(url: str, signature: bytes, digest: bytes, algorithm: str,
                        verifier_pem: bytes, log_key: Verifier | None = None, *,
                        timeout: float = DEFAULT_TIMEOUT) -> TlogEntry:
    """Log a signature over ``digest`` and return the evidence (checked if ``log_key``)."""
    entry = RekorClient(url, timeout).upload(hashedrekord(signature, digest, algorithm, verifier_pem))
    if log_key is not None:
        verify_entry(entry, log_key)
    return entry


def dsse_proposal(envelope_json: bytes, verifier_pem: bytes) -> dict[str, Any]:
    """A ProposedEntry for ``dsse`` 0.0.1, what cosign (v2 by default, v3 always) uploads for
    attestations. The envelope goes up as the exact bytes stored beside the image, so the
    entry's ``envelopeHash`` is the SHA-256 of those bytes (cosign's verifier compares them)."""
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope_json.decode(),
                                     "verifiers": [base64.b64encode(verifier_pem).decode()]}},
    }


def upload_dsse(url: str, envelope_json: bytes, verifier_pem: bytes, *,
                timeout: float = DEFAULT_TIMEOUT) -> TlogEntry:
    """Log a signed DSSE envelope and return the evidence."""
    return RekorClient(url, timeout).upload(dsse_proposal(envelope_json, verifier_pem))


def intoto_proposal(envelope_json: bytes, key_pem: bytes) -> dict[str, Any]:
    """A ProposedEntry for ``intoto`` 0.0.1, what cosign v2 uploads for attestations with
    ``--rekor-entry-type intoto``: the envelope bytes as stored beside the image (their
    SHA-256 is what the entry keeps) and the one key that signed them."""
    import hashlib

    return {
        "apiVersion": "0.0.1",
        "kind": "intoto",
        "spec": {"content": {"envelope": envelope_json.decode(),
                             "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_json).hexdigest()}},
                 "publicKey": base64.b64encode(key_pem).decode()},
    }


def upload_intoto(url: str, envelope_json: bytes, key_pem: bytes, *,
                  timeout: float = DEFAULT_TIMEOUT) -> TlogEntry:
    """Log a signed DSSE envelope as an ``intoto`` 0.0.1 entry and return the evidence."""
    return RekorClient(url, timeout).upload(intoto_proposal(envelope_json, key_pem))
