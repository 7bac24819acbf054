"""The provider over HTTPS (TLS 1.3 only, as Gatekeeper's providers must be served):
``POST /verify``, ``POST /resolve``, ``GET /healthz``. Bad requests are 400/413 with
one line; decisions run on worker threads. The server certificate must chain to the
``caBundle`` the Provider resource names; ``client_ca`` (Gatekeeper's own CA) makes
it require Gatekeeper's client certificate (mutual TLS)."""

from __future__ import annotations

from typing import Any

from sigstack._internal import safejson
from sigstack.gatekeeper.provider import BadProviderRequest, Provider

DEFAULT_MAX_BODY = 1024 * 1024


def create_app(provider: Provider, max_body: int = DEFAULT_MAX_BODY) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    def handler(method: str) -> Any:
        async def handle(request: Request) -> Response:
            from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

            try:
                body = await read_body(request, max_body)
            except BodyTooLarge:
                return PlainTextResponse(f"request body over the {max_body}-byte limit\n", status_code=413)
            except ClientGone:
                return PlainTextResponse("the client closed the connection before sending the whole body\n",
                                         status_code=400)
            try:  # safejson: json.loads raises RecursionError on deep nests, keeps lone surrogates
                doc = safejson.loads(body)
            except ValueError as exc:
                return PlainTextResponse(f"the request body is not JSON: {exc}\n", status_code=400)
            try:
                answer = await run_in_threadpool(getattr(provider, method), doc)
            except BadProviderRequest as exc:
                return PlainTextResponse(f"{exc.message}\n", status_code=400)
            return JSONResponse(answer)

        return handle

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(routes=[Route("/verify", handler("verify"), methods=["POST"]),
                             Route("/resolve", handler("resolve"), methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])
