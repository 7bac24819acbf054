"""Client side of a Rekor v1 log: upload entries, fetch and search them, audit the log's
growth (consistency).

One :class:`RekorClient` serves one operation and is closed after it (it is a context
manager); the sign and verify flows are handed one by their caller. The entry model and
its offline verification live in :mod:`sigstack.tlog.entry`, which imports no HTTP code.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx

from sigstack._internal import safejson
from sigstack._internal.bounded import IDENTITY, read_body
from sigstack._internal.proxy import ProxySettings, describe
from sigstack._internal.proxy_transport import transport
from sigstack.errors import KeyLoadError, LogClientError, ProofError
from sigstack.keys.base import Verifier
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import Checkpoint, verify_checkpoint
from sigstack.tlog.entry import TlogEntry

USER_AGENT = "sigstack-tlog-client"


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
#: The largest answer read from a log (entries are kilobytes; a search of many UUIDs, less
#: than a megabyte per ten thousand)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class RekorClient:
    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, proxies: ProxySettings | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._proxies = proxies or ProxySettings.from_env()
        self._client: httpx.Client | None = None  # made on first use: a TLS context costs ~15 ms

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            # SSL_CERT_FILE/SSL_CERT_DIR still apply (trust_env on the transport); proxies are
            # chosen with Go's rules, as rekor-cli and cosign do, not httpx's.
            self._client = httpx.Client(timeout=self.timeout, headers={"User-Agent": USER_AGENT, **IDENTITY},
                                        transport=transport(self._proxies, True, trust_env=True))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> RekorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request whose whole answer arrives within the timeout and
        :data:`MAX_RESPONSE_BYTES` (a log that streams forever or trickles is cut off)."""
        try:
            req = self._http.build_request(method, self.url + path, **kw)
            resp = self._http.send(req, stream=True)
            try:
                body = read_body(resp, MAX_RESPONSE_BYTES, self.timeout, f"the log's answer to {method} {path}",
                                 LogClientError)
            finally:
                resp.close()
            return httpx.Response(resp.status_code, headers=resp.headers, content=body, request=req)
        except httpx.TimeoutException:
            raise LogClientError(f"contacting the log at {self.url}: timed out after {self.timeout:g} s",
                                 hint="timeout") from None
        except httpx.HTTPError as exc:
            via = describe(self._proxies, self.url + path) if self._proxies.active else ""
            raise LogClientError(f"contacting the log at {self.url}: {exc}{via}") from None

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                doc = safejson.loads(resp.content)
                msg = str(doc.get("message", ""))[:300] if isinstance(doc, dict) else ""
            except ValueError:
                msg = ""
            raise LogClientError(f"log returned HTTP {resp.status_code}" + (f": {msg}" if msg else ""))
        try:
            return safejson.loads(resp.content)  # a RecursionError on deep nesting is a ValueError here
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
    """The log key: the PEM file ``path``, else -- only when a client is given -- the key
    the log itself serves (trust on first use, for auditing commands)."""
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"reading log public key {path}: {exc.strerror or exc}") from None
        return PublicKeyVerifier(load_public_key_pem(data))
    if client is None:
        raise KeyLoadError("no log public key given")
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
