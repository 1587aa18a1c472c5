"""Logging in and out, changing one's own password, and the console's static files.

Both password checks (the login and the current password of a change) are throttled per
account and client address and audited; a locked attempt answers 429, ``Retry-After`` and a
one-line message on the page."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError
from tqops.server.auth import host_of
from tqops.server.throttle import Throttled, client_address
from tqops.server.users import Role
from tqops.server.web.rendering import render, static_file
from tqops.server.web.route import ConsoleRoute, safe_next
from tqops.server.web.sessions import (
    VIEWER_FORM,
    VIEWER_PAGE,
    Posted,
    Visitor,
    end_session,
    login_token,
    login_token_matches,
    pair_login_token,
    start_session,
    visitor_of,
)

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MAX_NAME = 128
MAX_PASSWORD = 1024


def _login_page(request: Request, nxt: str, error: str = "", status: int = 200) -> Response:
    token = login_token()
    context = {"login_csrf": token, "next": safe_next(nxt), "error": error}
    response = render(request, "login.html", context, status=status)
    pair_login_token(request, response, token)
    return response


def _throttled_text(refused: Throttled) -> str:
    return f"Too many failed attempts: try again in {refused.retry_after} s."


@router.get("/")
def root() -> Response:
    return RedirectResponse("/console/", status_code=303)


@router.get("/console")
@router.get("/console/")
def start(request: Request) -> Response:
    found = visitor_of(request)
    if found is None:
        return RedirectResponse("/console/login", status_code=303)
    where = "integrations" if found.user.role is Role.ADMIN else "indicators"
    return RedirectResponse(f"/console/{where}", status_code=303)


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    return static_file(name)


@router.get("/console/login")
def login_form(request: Request, next: str = "/console/") -> Response:
    return _login_page(request, next)


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    name, password = form.get("name"), form.get("password")
    nxt = str(form.get("next") or "/console/")
    if not login_token_matches(request, form.get("csrf")):
        return _login_page(request, nxt, "The login form expired; log in again.", 403)
    if not isinstance(name, str) or not isinstance(password, str):
        return _login_page(request, nxt, "Enter your user name and password.", 400)
    name = name.strip()[:MAX_NAME]
    users = host_of(request).users
    host = host_of(request)

    def check() -> Any:
        return users.by_password(name, password[:MAX_PASSWORD])

    try:  # Argon2 takes a moment: off the event loop
        user = await asyncio.to_thread(
            users.checked,
            check,
            account=name or None,
            address=client_address(request),
            where="console",
        )
    except Throttled as refused:
        page = _login_page(request, nxt, _throttled_text(refused), 429)
        page.headers.update(refused.headers or {})
        return page
    if user is None:
        return _login_page(request, nxt, "Wrong user name or password.", 401)
    response = RedirectResponse(safe_next(nxt), status_code=303)
    start_session(request, response, user)
    host.store.audit(user.name, "login", "console")
    return response


@router.post("/console/logout")
def logout(request: Request, sent: Posted = VIEWER_FORM) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    end_session(request, response)
    host_of(request).store.audit(sent.user.name, "logout", "console")
    return response


@router.get("/console/account")
def account(request: Request, changed: bool = False, visitor: Visitor = VIEWER_PAGE) -> Response:
    return render(request, "account.html", {"errors": {}, "changed": changed})


@router.post("/console/account")
def change_password(request: Request, sent: Posted = VIEWER_FORM) -> Response:
    """A new password for oneself: the current one first; every other session ends."""
    host = host_of(request)
    # one character past the limit: a new password over it is refused, not cut short
    current, new, again = (
        str(sent.form.get(k) or "")[: MAX_PASSWORD + 1] for k in ("current", "new", "again")
    )
    errors: dict[str, Any] = {}
    users, kept = host.users, sent.user
    try:
        found = users.checked(
            lambda: users.by_password(sent.user.name, current),
            account=sent.user.name,
            address=client_address(request),
            where="console-password",
        )
    except Throttled as refused:
        context = {"errors": {"current": _throttled_text(refused)}, "changed": False}
        page = render(request, "account.html", context, 429)
        page.headers.update(refused.headers or {})
        return page
    if found is None:
        errors["current"] = "This is not your current password."
    elif new != again:
        errors["again"] = "The two new passwords differ."
    else:
        try:
            # every session and token of the user ends (a new password generation)
            kept = users.set_password(sent.user.name, new)
        except ConfigError as exc:
            errors["new"] = str(exc)
    if errors:
        return render(request, "account.html", {"errors": errors, "changed": False}, 400)
    response = RedirectResponse("/console/account?changed=true", status_code=303)
    start_session(request, response, kept)  # this browser's, under the new generation
    host.store.audit(sent.user.name, "change-password", sent.user.name)
    return response
