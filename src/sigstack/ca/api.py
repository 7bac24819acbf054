"""Fulcio's HTTP API (the grpc-gateway JSON of ``fulcio.proto``, and the legacy v1).

- ``POST /api/v2/signingCert`` → ``{"signedCertificateEmbeddedSct": {"chain": {"certificates": [PEM…]}}}``
- ``GET /api/v2/trustBundle`` → ``{"chains": [{"certificates": [PEM…]}]}``
- ``GET /api/v2/configuration`` → ``{"issuers": [...]}``
- ``POST /api/v1/signingCert`` → 201, ``application/pem-certificate-chain`` (cosign's client)
- ``GET /api/v1/rootCert`` → the chain as PEM

Errors are grpc-gateway's ``{"code": <gRPC code>, "message": ..., "details": []}`` with
the matching HTTP status. With an in-process CT log its RFC 6962 routes are mounted
on the same app (``/ct/v1/...``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sigstack._internal import safejson
from sigstack.ca import errors
from sigstack.ca.certrequest import parse_v1, parse_v2
from sigstack.ca.ctlog import CTLog
from sigstack.ca.service import CAService
from sigstack.errors import SigstackError

logger = logging.getLogger("sigstack.ca")
MAX_BODY = 1 << 20
PEM_CHAIN = "application/pem-certificate-chain"


def _error(status: int, code: int, message: str) -> Response:
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)


async def _json(request: Request) -> Any:
    from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

    try:
        raw = await read_body(request, MAX_BODY)
    except BodyTooLarge:
        raise errors.CAError(f"request body larger than {MAX_BODY} bytes", status=413, grpc_code=8) from None
    except ClientGone:
        raise errors.BadRequestError("the client closed the connection before sending the whole body") from None
    try:
        return safejson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.BadRequestError("the request body is not valid JSON") from None


def grpc_error(status: int, message: str) -> tuple[bytes, str]:
    """grpc-gateway's error shape (429 is RESOURCE_EXHAUSTED), for the rate limiter."""
    import json

    return json.dumps({"code": 8 if status == 429 else 13, "message": message, "details": []}).encode(), \
        "application/json"


def create_app(service: CAService, ct: CTLog | None = None,
               on_shutdown: Callable[[], Awaitable[None]] | None = None) -> Starlette:
    async def signing_cert(request: Request) -> Response:
        issued = await service.sign(parse_v2(await _json(request), request.headers))
        return JSONResponse({"signedCertificateEmbeddedSct": {"chain": {"certificates": issued.pem_chain()}}})

    async def signing_cert_v1(request: Request) -> Response:
        issued = await service.sign(parse_v1(await _json(request), request.headers))
        body = "\n".join(issued.pem_chain()).strip()
        return Response(body, status_code=201, media_type=PEM_CHAIN)

    async def trust_bundle(request: Request) -> Response:
        return JSONResponse({"chains": [{"certificates": c} for c in service.trust_bundle()]})

    async def root_cert(request: Request) -> Response:
        return Response("\n".join(c for chain in service.trust_bundle() for c in chain).strip(),
                        media_type=PEM_CHAIN)

    async def configuration(request: Request) -> Response:
        return JSONResponse({"issuers": service.config.to_issuers()})

    def wrap(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            try:
                return await fn(request)
            except errors.CAError as exc:
                if exc.status >= 500:
                    logger.error("%s: %s", request.url.path, exc.message)
                return _error(exc.status, exc.grpc_code, exc.message)
            except SigstackError as exc:
                logger.error("%s: %s", request.url.path, exc.message)
                return _error(500, 13, exc.message)
            except Exception as exc:  # never a traceback to the client; the log has details
                logger.exception("unexpected error serving %s", request.url.path)
                return _error(500, 13, f"internal error ({type(exc).__name__})")

        return handler

    routes = [
        Route("/api/v2/signingCert", wrap(signing_cert), methods=["POST"]),
        Route("/api/v2/trustBundle", wrap(trust_bundle), methods=["GET"]),
        Route("/api/v2/configuration", wrap(configuration), methods=["GET"]),
        Route("/api/v1/signingCert", wrap(signing_cert_v1), methods=["POST"]),
        Route("/api/v1/rootCert", wrap(root_cert), methods=["GET"]),
    ]
    if ct is not None:
        from sigstack.ca.ct_api import ct_routes

        routes.extend(ct_routes(ct))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if ct is not None:
            await ct.start()
        try:
            yield
        finally:
            if ct is not None:
                await ct.stop()
            if on_shutdown is not None:
                await on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan)
