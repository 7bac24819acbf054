"""timestamp-authority's HTTP API (``openapi.yaml`` of sigstore/timestamp-authority).

- ``POST /api/v1/timestamp``: an ``application/timestamp-query`` body (DER
  ``TimeStampReq``) or the ``application/json`` form → 200 with
  ``application/timestamp-reply`` (DER ``TimeStampResp``);
- ``GET /api/v1/timestamp/certchain``: the chain as PEM, leaf first
  (``application/pem-certificate-chain``).

A timestamp is answered with 200, errors with timestamp-authority's
``{"code": <HTTP status>, "message": ...}``: 400 for a request it will not answer (bad
body, weak hash, imprint length, another policy, an extension; a body over
:data:`MAX_BODY` is refused the same way, without reading the rest), 415 for another
content type, or none (as timestamp-authority v2 answers; tests/tsa/test_peer.py
compares the two servers). Signing runs in a worker thread when the key is remote
(KMS, PKCS#11), inline when it is in memory.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sigstack._internal import safejson
from sigstack.errors import TSA_FAILED, SigstackError, TimestampRequestError
from sigstack.tsa.authority import (
    MAX_REQUEST,
    TimestampAuthority,
    TimestampRequest,
    parse_der_request,
    parse_json_request,
)

logger = logging.getLogger("sigstack.tsa")
MAX_BODY = MAX_REQUEST
QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"
PEM_CHAIN = "application/pem-certificate-chain"


def _error(status: int, message: str) -> Response:
    return JSONResponse({"code": status, "message": message}, status_code=status)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TimestampRequestError(f"{TSA_FAILED}: the request is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TimestampRequestError(f"{TSA_FAILED}: the request is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(authority: TimestampAuthority) -> Starlette:
    from sigstack.keys.software import PrivateKeySigner

    inline = isinstance(authority.material.signer, PrivateKeySigner)
    chain = authority.chain_pem()

    async def timestamp(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        parsed: TimestampRequest
        if kind == "application/json":
            raw = await _body(request)
            try:
                doc = safejson.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise TimestampRequestError(f"{TSA_FAILED}: the request body is not valid JSON") from None
            parsed = parse_json_request(doc)
        elif kind == QUERY:
            parsed = parse_der_request(await _body(request))
        else:
            return _error(415, f'unsupported media type "{kind or "application/octet-stream"}", only '
                               f"[{QUERY} application/json] are allowed")
        der = authority.respond(parsed) if inline else await run_in_threadpool(authority.respond, parsed)
        return Response(der, media_type=REPLY)

    async def certchain(request: Request) -> Response:
        return Response(chain, media_type=PEM_CHAIN)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, TimestampRequestError):
            return _error(exc.status, exc.message)
        if isinstance(exc, SigstackError):  # the signer failed (KMS unreachable, token removed)
            logger.error("timestamp signing failed: %s", exc.message)
            return _error(500, f"{TSA_FAILED}: {exc.message}")
        logger.exception("unexpected error")
        return _error(500, TSA_FAILED)

    routes = [
        Route("/api/v1/timestamp", timestamp, methods=["POST"]),
        Route("/api/v1/timestamp/certchain", certchain, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: on_error})
