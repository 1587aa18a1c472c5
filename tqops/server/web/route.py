"""The console's routes answer in HTML: a visitor without a session is sent to the login page
(htmx requests through ``HX-Redirect``), and every error is a page with the status that fits,
where the REST API would answer ``{"error": ...}``."""

from __future__ import annotations

import logging
from typing import Any, Callable
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from tqops.errors import OperationError
from tqops.server.errors import Problem, status_of
from tqops.server.web.rendering import CSP, render
from tqops.server.web.sessions import NeedLogin

__all__ = ["LOGIN", "ConsoleRoute", "error_status", "safe_next"]

LOGIN = "/console/login"
log = logging.getLogger("tqops.server.web")


def safe_next(target: str) -> str:
    """A path of the console to go back to after logging in (anything else: the start)."""
    fine = target.startswith("/console/") and not target.startswith("/console/login")
    if fine and "\\" not in target and "//" not in target:
        return target
    return "/console/"


def error_status(exc: Exception) -> int:
    """The status of an error a host call raised: the host's one mapping, as the REST API and
    the protocols answer it (:func:`tqops.server.errors.status_of`)."""
    return status_of(exc)


def _to_login(request: Request) -> Response:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    where = f"{LOGIN}?next={quote(safe_next(wanted), safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": where})
    return RedirectResponse(where, status_code=303)


def _error_page(request: Request, status: int, message: str) -> Response:
    message = " ".join(message.split())
    return render(request, "error.html", {"status": status, "message": message}, status=status)


class ConsoleRoute(APIRoute):
    """An APIRoute whose answers are pages, errors included."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except NeedLogin:
                return _to_login(request)
            except Problem as exc:
                return _error_page(request, exc.status, exc.message)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return _error_page(request, 400, f"{first.get('msg', 'invalid')} @ {where}")
            except StarletteHTTPException as exc:
                return _error_page(request, exc.status_code, str(exc.detail))
            except (OperationError, LookupError) as exc:
                text = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
                return _error_page(request, error_status(exc), text)
            except Exception as exc:
                log.exception("console page %s failed", request.url.path)
                return _error_page(request, 500, f"internal error (a bug): {type(exc).__name__}")
            response.headers.setdefault("Content-Security-Policy", CSP)
            return response

        return answer
