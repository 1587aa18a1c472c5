"""The application: middleware (body limits, security headers), integers checked against
64 bits, errors as ``{"error": ...}``, the host's lifespan, and the protocols' routers; and the
guard ``tqops serve`` puts before each listener's application (Host names, HSTS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import typing
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tqops.errors import OperationError
from tqops.server import web
from tqops.server.api import cortex, native, threatq, threatq_indicators
from tqops.server.errors import Problem, answer_of
from tqops.server.host import Host

__all__ = ["HSTS_VALUE", "BodyLimit", "ListenerGuard", "create_app", "keep_integrations_current"]

#: the largest body a route takes: uploads get their own, larger limit
MAX_BODY = 5 * 2**20
MAX_UPLOAD = 20 * 2**20


class BodyLimit:
    """Refuses a body over its limit with 413 before the route reads it (declared length) or
    as soon as it passes it (streamed: chunked, or longer than it declared). A streamed body
    is answered 413 from here and the route is told the client left; nothing the route does
    after that reaches the client, and no error of its own (parsing a cut body) becomes a
    500."""

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
            await _too_large(scope, receive, send, limit)
            return
        seen = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await _too_large(scope, receive, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def sent(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sent)
        except Exception:  # whatever the route made of a cut body: the 413 is sent
            if not refused:
                raise


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    message = f"the request body is over the {limit // 2**20} MB limit"
    await _refuse(scope.get("app"), scope, receive, send, 413, message)


def _protocol_error(app: Any, scope: Scope) -> Any:
    """The error answer of the protocol whose route ``scope`` asks for (Cortex's, ThreatQ's),
    or None (the REST API's and the console's ``{"error"}``): each protocol's clients read
    only their own format, refusals before the route included."""
    for route in _each_route(getattr(getattr(app, "router", None), "routes", ())):
        render = getattr(route, "protocol_error", None)
        if render is not None and route.matches(scope)[0] is not Match.NONE:
            return render
    return None


def _each_route(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes of an application, those of the routers it includes too (each protocol's
    router names its whole prefix, so each route's own path is the one it serves)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _each_route(included.routes) if included is not None else (route,)


async def _refuse(
    app: Any, scope: Scope, receive: Receive, send: Send, status: int, message: str
) -> None:
    """Answer ``status`` and ``message`` in the format of the protocol the request is for."""
    render = _protocol_error(app, scope)
    if render is not None:
        await render(status, message, None)(scope, receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps({"error": message}).encode()})


class ListenerGuard:
    """What a listener answers before its application sees a request: only the Host names it
    serves (a page whose DNS name was rebound to this address sends its own name and gets
    400), and under TLS ``Strict-Transport-Security`` on every answer, refusals included."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str],
        *,
        tls: bool,
        option: str = "--allowed-hosts",
        protocol_errors: bool = True,
    ) -> None:
        self.app = app
        self.allowed = frozenset(_host_name(name) for name in allowed_hosts)
        self.tls = tls
        self.option = option  # the option that names more hosts, said in a refusal
        #: a refusal in the format of the protocol a route speaks (False: ``{"error"}`` with
        #: its status, as MISP's listener answers it: a 200 would read as a module's answer)
        self.protocol_errors = protocol_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HSTS]
                message = {**message, "headers": [*headers, (_HSTS, HSTS_VALUE)]}
            await send(message)

        stamped = sent if self.tls else send
        given = next((v for k, v in scope.get("headers") or () if k == b"host"), None)
        name = _host_name(given.decode("latin-1")) if given is not None else ""
        if name not in self.allowed and scope["type"] == "websocket":
            await receive()  # websocket.connect; then refused before it is accepted
            await send({"type": "websocket.close", "code": 1008})
            return
        if name not in self.allowed:
            shown = given.decode("latin-1")[:80] if given is not None else ""
            what = f"the Host {shown!r}" if shown else "a request without a Host header"
            message = f"{what} is not one this host answers to ({self.option})"
            app = self.app if self.protocol_errors else None
            await _refuse(app, scope, receive, stamped, 400, message)
            return
        await self.app(scope, receive, stamped)


_HSTS = b"strict-transport-security"
#: a year, the usual policy; no includeSubDomains: the host speaks only for its own name
HSTS_VALUE = b"max-age=31536000"


def _host_name(header: str) -> str:
    """The name in a Host header (``name``, ``name:port``, ``[v6]:port``), lower case, no
    trailing dot; IPv6 without brackets."""
    text = header.strip().lower()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


#: the integers the store takes (SQLite's INTEGER): no id, count or offset is larger
INT64 = range(-(2**63), 2**63)
_INTEGER = re.compile(r"[+-]?\d+")


def _takes_int(annotation: Any) -> bool:
    """``int``, ``Optional[int]``, ``list[int]``: a parameter whose value is an integer."""
    if annotation is int:
        return True
    return any(_takes_int(arg) for arg in typing.get_args(annotation))


def _out_of_range(text: str) -> bool:
    text = text.strip()
    return bool(_INTEGER.fullmatch(text)) and (len(text) > 20 or int(text) not in INT64)


def _dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for inner in dependant.dependencies:
        yield from _dependants(inner)


async def integers_in_range(request: Request) -> None:
    """Every route's integer path and query parameters within 64 bits, before the route
    runs: an id out of range is no id (404), a count or offset out of range is invalid (422,
    as a bound the route declares). The store would otherwise refuse it with an error of its
    own (a 500). Bodies: :func:`tqops.server.api.common.parsed_json`, and the
    ``OverflowError`` answer of :mod:`tqops.server.errors` for what is left."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    for found in _dependants(dependant) if dependant is not None else ():
        for param in found.path_params:
            value = str(request.path_params.get(param.alias, ""))
            if _takes_int(param.field_info.annotation) and _out_of_range(value):
                raise Problem(404, f"no {param.alias} {_shown(value)}: it is over 64 bits")
        for param in found.query_params:
            if _takes_int(param.field_info.annotation) and any(
                _out_of_range(v) for v in request.query_params.getlist(param.alias)
            ):
                raise Problem(
                    422,
                    f"Input should be less than or equal to {INT64[-1]} @ query.{param.alias}",
                )


def _shown(text: str) -> str:
    return text[:24] + ("..." if len(text) > 24 else "")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status, headers=headers)


#: one refresh of a host's integrations at a time, whichever listener's request asks
_REFRESHING = threading.Lock()


def keep_integrations_current(app: FastAPI, host: Host) -> None:
    """Before each request ``app`` answers, ``host`` loads what another host or worker of its
    store uploaded, upgraded or removed (one small read of the store; a change is installed
    from the store's copy of the file): every listener of every host shows the same
    integrations."""
    app.add_middleware(_CurrentIntegrations, host=host)


class _CurrentIntegrations:
    """:func:`keep_integrations_current` as plain ASGI: Starlette's ``@app.middleware`` wraps
    the request's channel, and a route's ``request.is_disconnected()`` (MISP's query, whose
    job is cancelled when its caller hangs up) never saw the caller leave."""

    def __init__(self, app: ASGIApp, host: Host) -> None:
        self.app = app
        self.host = host

    def _refresh(self) -> None:
        with _REFRESHING:
            self.host.installer.refresh()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            with suppress(OperationError):  # the store is busy: the route meets it and says so
                await run_in_threadpool(self._refresh)
        await self.app(scope, receive, send)


#: seconds between two purges of the jobs past the retention period (the first: at start)
PURGE_EVERY = 3600.0


async def _purge_expired(host: Host) -> None:
    """Purge the jobs past the retention period at start, then every :data:`PURGE_EVERY`
    seconds while the host runs; a purge that fails (the store busy) is tried at the next."""
    while True:
        try:
            await asyncio.to_thread(host.jobs.purge)
        except Exception as exc:  # the next purge tries again; serving goes on
            # its kind only: a store error's text may name the database's address
            logging.getLogger(__name__).warning(
                "purging expired jobs failed: %s", type(exc).__name__
            )
        await asyncio.sleep(PURGE_EVERY)


def create_app(host: Host, *, secure_cookies: bool = False) -> FastAPI:
    """The host's application; the lifespan starts and stops its jobs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host.start()
        retention = asyncio.ensure_future(_purge_expired(host))
        try:
            yield
        finally:
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            host.stop()

    app = FastAPI(
        dependencies=[Depends(integers_in_range)],
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
    for kind in (
        Problem,
        OperationError,
        LookupError,
        OverflowError,
        RequestValidationError,
        HTTPException,
    ):
        app.add_exception_handler(kind, error)
    app.add_exception_handler(Exception, error)

    keep_integrations_current(app, host)

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
    app.include_router(threatq_indicators.router)  # ThreatQ's /api/indicators, types, statuses
    app.include_router(cortex.router)  # Cortex's analyzer API: /api/analyzer, /api/job
    app.include_router(web.router)  # the console: /console/ (HTML pages)
    app.add_middleware(
        BodyLimit,
        limit=MAX_BODY,
        upload_limit=MAX_UPLOAD,
        upload_paths=(*native.UPLOAD_PATHS, *web.UPLOAD_PATHS),
    )
    return app
