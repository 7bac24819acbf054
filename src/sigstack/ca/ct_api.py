"""The RFC 6962 HTTP API of :class:`~sigstack.ca.ctlog.CTLog` (``/ct/v1/...``).

Shapes are RFC 6962 §4's JSON; errors are a plain-text line with the HTTP status, as
the Go CT front end (CTFE) answers. Mounted inside ``sigstack ca serve`` or served
alone by ``sigstack ct serve``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sigstack._internal import safejson
from sigstack.ca.ctlog import CTLog
from sigstack.ca.errors import CAError
from sigstack.errors import SigstackError

logger = logging.getLogger("sigstack.ct")
MAX_BODY = 1 << 20


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _int(request: Request, name: str) -> int:
    text = request.query_params.get(name)
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19:  # "²".isdigit()
        raise CAError(f"{name} must be a non-negative integer", status=400)
    return int(text)


def parse_chain_body(raw: bytes) -> list[bytes]:
    """The DER certificates of an add-chain / add-pre-chain body (a 400 else). safejson:
    ``json.loads`` raises RecursionError on a deep nest, which was a 500 here."""
    if len(raw) > MAX_BODY:
        raise CAError("request body too large", status=413)
    try:
        doc = safejson.loads(raw)
        chain = [base64.b64decode(c, validate=True) for c in doc["chain"]]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise CAError('body must be {"chain": [base64 DER certificates]}', status=400) from None
    return chain


def ct_routes(ct: CTLog) -> list[Route]:
    async def chain_body(request: Request) -> list[bytes]:
        from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

        try:
            raw = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            raise CAError(f"request body larger than {MAX_BODY} bytes", status=413) from None
        except ClientGone:
            raise CAError("the client closed the connection before sending the whole body", status=400) from None
        return parse_chain_body(raw)

    async def add_chain(request: Request) -> Response:
        return JSONResponse((await ct.add_chain(await chain_body(request), precert=False)).to_json())

    async def add_pre_chain(request: Request) -> Response:
        return JSONResponse((await ct.add_chain(await chain_body(request), precert=True)).to_json())

    async def get_sth(request: Request) -> Response:
        return JSONResponse(ct.sth.to_json())

    async def get_consistency(request: Request) -> Response:
        first, second = _int(request, "first"), _int(request, "second")
        return JSONResponse({"consistency": _b64(ct.consistency(first, second))})

    async def get_proof(request: Request) -> Response:
        try:
            leaf = base64.b64decode(request.query_params.get("hash", ""), validate=True)
        except (ValueError, binascii.Error):
            raise CAError("hash must be base64", status=400) from None
        index, path = ct.proof_by_hash(leaf, _int(request, "tree_size"))
        return JSONResponse({"leaf_index": index, "audit_path": _b64(path)})

    async def get_entries(request: Request) -> Response:
        found = ct.entries(_int(request, "start"), _int(request, "end"))
        return JSONResponse({"entries": [{"leaf_input": base64.b64encode(e.leaf_input).decode(),
                                          "extra_data": base64.b64encode(e.extra_data).decode()}
                                         for e in found]})

    async def get_roots(request: Request) -> Response:
        from cryptography.hazmat.primitives import serialization

        return JSONResponse({"certificates": _b64([r.public_bytes(serialization.Encoding.DER) for r in ct.roots])})

    def wrap(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            try:
                response: Response = await fn(request)
                return response
            except CAError as exc:
                return PlainTextResponse(exc.message + "\n", status_code=exc.status)
            except SigstackError as exc:
                return PlainTextResponse(exc.message + "\n", status_code=500)
            except Exception as exc:  # never a traceback to the client; the log has details
                logger.exception("unexpected error serving %s", request.url.path)
                return PlainTextResponse(f"internal error ({type(exc).__name__})\n", status_code=500)

        return handler

    return [
        Route("/ct/v1/add-chain", wrap(add_chain), methods=["POST"]),
        Route("/ct/v1/add-pre-chain", wrap(add_pre_chain), methods=["POST"]),
        Route("/ct/v1/get-sth", wrap(get_sth), methods=["GET"]),
        Route("/ct/v1/get-sth-consistency", wrap(get_consistency), methods=["GET"]),
        Route("/ct/v1/get-proof-by-hash", wrap(get_proof), methods=["GET"]),
        Route("/ct/v1/get-entries", wrap(get_entries), methods=["GET"]),
        Route("/ct/v1/get-roots", wrap(get_roots), methods=["GET"]),
    ]


def create_ct_app(ct: CTLog) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ct.start()
        try:
            yield
        finally:
            await ct.stop()

    return Starlette(routes=ct_routes(ct), lifespan=lifespan)
