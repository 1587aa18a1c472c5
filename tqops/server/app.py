"""The application: middleware (body limits, security headers), errors as ``{"error": ...}``,
the host's lifespan, and the protocols' routers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tqops.errors import OperationError
from tqops.server import web
from tqops.server.api import cortex, native, threatq
from tqops.server.errors import Problem, answer_of
from tqops.server.host import Host

__all__ = ["BodyLimit", "create_app"]

#: the largest body a route takes: uploads get their own, larger limit
MAX_BODY = 5 * 2**20
MAX_UPLOAD = 20 * 2**20


class BodyLimit:
    """Refuses a body over its limit with 413 before the route reads it (declared length) or
    as soon as it passes it (streamed)."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int, upload_paths: tuple[str, ...]):
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.limit
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(send, limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"error": f"the request body is over the {limit // 2**20} MB limit"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status, headers=headers)


def create_app(host: Host, *, secure_cookies: bool = False) -> FastAPI:
    """The host's application; the lifespan starts and stops its jobs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host.start()
        try:
            yield
        finally:
            host.stop()

    app = FastAPI(
        title="tqops host",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.host = host
    app.state.secure_cookies = secure_cookies

    async def error(request: Request, exc: Exception) -> JSONResponse:
        answer = answer_of(exc)
        return _error(answer.status, answer.message, answer.headers)

    # each class its own handler (Exception's runs outside the middleware: a bug's answer)
    for kind in (Problem, OperationError, LookupError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, error)
    app.add_exception_handler(Exception, error)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., Any]) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.include_router(native.router)
    app.include_router(threatq.router)  # ThreatQ's plugin API: /api/token, /api/plugins
    app.include_router(cortex.router)  # Cortex's analyzer API: /api/analyzer, /api/job
    app.include_router(web.router)  # the console: /console/ (HTML pages)
    app.add_middleware(
        BodyLimit,
        limit=MAX_BODY,
        upload_limit=MAX_UPLOAD,
        upload_paths=(*native.UPLOAD_PATHS, *web.UPLOAD_PATHS),
    )
    return app
