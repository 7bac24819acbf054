"""The Rekor v1 compatible HTTP API and the C2SP tlog-tiles read endpoints (Starlette).

A thin layer: each handler parses the request, calls :class:`~sigstack.tlog.log.Log`
or its store, and shapes the JSON exactly as Rekor does (``{"code", "message"}``
errors, 409 + ``Location`` for duplicates, 404 without a body for unknown entries).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sigstack.errors import BadEntryError, LogError, ProofError, SigstackError
from sigstack.tlog import merkle
from sigstack.tlog.entries import canonicalize
from sigstack.tlog.entries._common import parse_verifier
from sigstack.tlog.log import Log

DEFAULT_MAX_BODY = 4 << 20  # bytes; larger uploads get 413
MAX_ENTRY_BYTES = 65535  # tlog-tiles entry bundles prefix each entry with a uint16 length
MAX_RETRIEVE = 10
TILE_WIDTH = 256

T = TypeVar("T")
logger = logging.getLogger("sigstack.tlog")


class HTTPError(Exception):
    def __init__(self, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def create_app(log: Log, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    async def read(fn: Callable[..., T], *args: Any) -> T:
        if log.store.threaded_reads:
            result: T = await run_in_threadpool(fn, *args)  # typed so a partial install checks too
            return result
        return fn(*args)

    async def json_body(request: Request) -> Any:
        from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

        try:
            raw = await read_body(request, max_body)
        except BodyTooLarge:
            raise HTTPError(413, f"request body larger than {max_body} bytes") from None
        except ClientGone:
            raise HTTPError(400, "the client closed the connection before sending the whole body") from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise HTTPError(400, "error parsing request body: not valid JSON") from None

    async def create_entry(request: Request) -> Response:
        proposed = await json_body(request)
        canonical = canonicalize(proposed, defer_check=True)
        if len(canonical.body) > MAX_ENTRY_BYTES:
            raise BadEntryError(
                f"error processing entry: canonical entry larger than {MAX_ENTRY_BYTES} bytes"
            )
        added = await log.add(canonical)
        if added.error is not None:
            raise added.error
        result, leaf = added.result, added.leaf_hash
        if result is None or (result.created and added.doc is None):
            raise LogError("the log did not report where the entry was stored")
        entry_id = log.entry_id(leaf)
        location = f"/api/v1/log/entries/{entry_id}"
        if not result.created:
            return _error(
                409,
                f"an equivalent entry already exists in the transparency log with UUID {entry_id}",
                {"Location": location},
            )
        # the LogEntry document was built on the writer thread with the batch
        return JSONResponse(added.doc, status_code=201, headers={"Location": location, "ETag": entry_id})

    async def get_entries(request: Request) -> Response:
        text = request.query_params.get("logIndex")
        if text is None:
            raise HTTPError(400, "logIndex query parameter is required")
        index = _nonneg(text, "logIndex")
        stored = await read(log.store.entry_by_index, index)
        if stored is None:
            return Response(status_code=404)
        return JSONResponse(await read(log.log_entry, stored))

    async def get_entry(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        if not re.fullmatch(r"[0-9a-fA-F]{64}|[0-9a-fA-F]{80}", uuid):
            raise HTTPError(400, "entryUUID must be 64 or 80 hexadecimal characters")
        stored = await read(log.find, uuid)
        if stored is None:
            return Response(status_code=404)
        return JSONResponse(await read(log.log_entry, stored))

    async def retrieve(request: Request) -> Response:
        query = await json_body(request)
        if not isinstance(query, dict):
            raise HTTPError(400, "search query must be a JSON object")
        uuids = _list(query, "entryUUIDs")
        indexes = _list(query, "logIndexes")
        proposals = _list(query, "entries")
        if max(len(uuids), len(indexes), len(proposals)) > MAX_RETRIEVE:
            raise HTTPError(422, f"at most {MAX_RETRIEVE} items of each kind may be retrieved at once")
        found = []
        for uuid in uuids:
            if not isinstance(uuid, str) or not re.fullmatch(r"[0-9a-fA-F]{64}|[0-9a-fA-F]{80}", uuid):
                raise HTTPError(400, "entryUUIDs must hold 64 or 80 hexadecimal characters")
            found.append(await read(log.find, uuid))
        for value in indexes:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise HTTPError(400, "logIndexes must hold non-negative integers")
            found.append(await read(log.store.entry_by_index, value))
        for proposed in proposals:
            leaf = merkle.leaf_hash(canonicalize(proposed).body)
            found.append(await read(log.store.entry_by_leaf, leaf))
        head = log.head
        docs = [await read(log.log_entry, e, head) for e in found if e is not None]
        return JSONResponse(docs)

    async def index_retrieve(request: Request) -> Response:
        query = await json_body(request)
        if not isinstance(query, dict):
            raise HTTPError(400, "search query must be a JSON object")
        keys: list[str] = []
        if (h := query.get("hash")) is not None:
            if not isinstance(h, str):
                raise HTTPError(400, "hash must be a string")
            h = h.lower()
            if ":" not in h:
                h = "sha256:" + h
            if not re.fullmatch(r"sha(256|384|512):[0-9a-f]+", h):
                raise HTTPError(400, "hash must be <algorithm>:<hex>")
            keys.append(h)
        if (pk := query.get("publicKey")) is not None:
            content = pk.get("content") if isinstance(pk, dict) else None
            if not isinstance(content, str):
                raise HTTPError(400, "publicKey.content must be base64")
            try:
                pem = base64.b64decode(content, validate=True)
            except ValueError:
                raise HTTPError(400, "publicKey.content must be base64") from None
            keys.append(parse_verifier(pem).fingerprint)
        for name in ("email", "subject"):
            if (v := query.get(name)) is not None:
                if not isinstance(v, str):
                    raise HTTPError(400, f"{name} must be a string")
                keys.append(v.lower())
        if not keys:
            raise HTTPError(400, "give at least one of hash, publicKey, email or subject")
        operator = query.get("operator", "or")
        if operator not in ("and", "or"):
            raise HTTPError(400, "operator must be 'and' or 'or'")
        sets = [set(await read(log.store.search, k)) for k in keys]
        hits = set.intersection(*sets) if operator == "and" else set.union(*sets)
        out = []
        for index in sorted(hits):
            stored = await read(log.store.entry_by_index, index)
            if stored is not None:
                out.append(log.entry_id(stored.leaf_hash))
        return JSONResponse(out)

    async def log_info(request: Request) -> Response:
        return JSONResponse(log.log_info())

    async def proof(request: Request) -> Response:
        params = request.query_params
        if "lastSize" not in params:
            raise HTTPError(400, "lastSize query parameter is required")
        last = _nonneg(params["lastSize"], "lastSize")
        first = _nonneg(params.get("firstSize", "1"), "firstSize")
        head = log.head
        if first < 1 or first > last:
            raise HTTPError(400, "firstSize must be between 1 and lastSize")
        if last > head.size:
            raise HTTPError(400, f"lastSize {last} is beyond the current tree size {head.size}")
        hashes = await read(log.store.consistency_proof, first, last)
        root = head.root if last == head.size else await read(log.store.root_at, last)
        return JSONResponse({"rootHash": root.hex(), "hashes": [h.hex() for h in hashes]})

    async def public_key(request: Request) -> Response:
        return Response(log.signer.signer.public_key_pem(), media_type="application/x-pem-file")

    async def checkpoint(request: Request) -> Response:
        return PlainTextResponse(log.head.checkpoint, headers={"Cache-Control": "no-cache"})

    async def tile(request: Request) -> Response:
        level = _nonneg(request.path_params["level"], "tile level")
        index, width = _tile_path(request.path_params["rest"])
        size = log.head.size
        scale = TILE_WIDTH ** level
        start = index * TILE_WIDTH
        if level > 7 or (start + width) * scale > size:
            return Response(status_code=404)
        keys = [(8 * level, i) for i in range(start, start + width)]
        nodes = await read(log.store.nodes, keys)
        data = b"".join(nodes[k] for k in keys)
        return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)

    async def entry_bundle(request: Request) -> Response:
        index, width = _tile_path(request.path_params["rest"])
        start = index * TILE_WIDTH
        if start + width > log.head.size:
            return Response(status_code=404)
        bodies = await read(log.store.entries_range, start, start + width)
        data = b"".join(struct.pack(">H", len(b)) + b for b in bodies)
        return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await log.start()
        try:
            yield
        finally:
            await log.stop()

    def wrap(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            try:
                response: Response = await fn(request)
                return response
            except HTTPError as exc:
                return _error(exc.status, exc.message, exc.headers)
            except (BadEntryError, ProofError) as exc:
                return _error(400, exc.message)
            except SigstackError as exc:
                return _error(500, exc.message)
            except Exception as exc:  # never a traceback to the client; the log has details
                logger.exception("unexpected error serving %s", request.url.path)
                return _error(500, f"internal error ({type(exc).__name__})")

        return handler

    routes: list[BaseRoute] = [
        Route("/api/v1/log/entries", wrap(create_entry), methods=["POST"]),
        Route("/api/v1/log/entries", wrap(get_entries), methods=["GET"]),
        Route("/api/v1/log/entries/retrieve", wrap(retrieve), methods=["POST"]),
        Route("/api/v1/log/entries/retrieve/", wrap(retrieve), methods=["POST"]),
        Route("/api/v1/log/entries/{uuid}", wrap(get_entry), methods=["GET"]),
        Route("/api/v1/index/retrieve", wrap(index_retrieve), methods=["POST"]),
        Route("/api/v1/log", wrap(log_info), methods=["GET"]),
        Route("/api/v1/log/proof", wrap(proof), methods=["GET"]),
        Route("/api/v1/log/publicKey", wrap(public_key), methods=["GET"]),
        Route("/checkpoint", wrap(checkpoint), methods=["GET"]),
        Route("/tile/entries/{rest:path}", wrap(entry_bundle), methods=["GET"]),
        Route("/tile/{level:str}/{rest:path}", wrap(tile), methods=["GET"]),
    ]
    from sigstack.tlog.explorer import explorer_routes

    routes += explorer_routes(log)  # the pages for people: /, /entry/<id>, /log, /static
    return Starlette(routes=routes, lifespan=lifespan)


_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _nonneg(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:  # "²".isdigit() is True
        raise HTTPError(400, f"{name} must be a non-negative integer")
    return int(text)


def _list(query: dict[str, Any], name: str) -> list[Any]:
    value = query.get(name) or []
    if not isinstance(value, list):
        raise HTTPError(400, f"{name} must be a list")
    return value


def _tile_path(rest: str) -> tuple[int, int]:
    """Parse ``x001/x234/067[.p/W]`` into (tile index, width)."""
    width = TILE_WIDTH
    m = re.fullmatch(r"((?:x\d{3}/)*)(\d{3})(?:\.p/(\d+))?", rest)
    if m is None:
        raise HTTPError(400, "malformed tile path")
    if m.group(3) is not None:
        width = int(m.group(3))
        if not 1 <= width < TILE_WIDTH:
            raise HTTPError(400, "partial tile width must be 1..255")
    digits = "".join(p[1:] for p in m.group(1).split("/") if p) + m.group(2)
    return int(digits), width
