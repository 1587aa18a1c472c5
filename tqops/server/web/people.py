"""Users and the audit log (admin): add, disable, enable and remove users, set roles, make a
new API key, reset a password (to one the admin types, or a generated one; a password or key
is shown once, on the page that made it); the audit log."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError
from tqops.server.auth import Problem, host_of
from tqops.server.users import NewUser, Role
from tqops.server.web.audit_text import audit_lines
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ADMIN_FORM, ADMIN_PAGE, Posted, Visitor

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
AUDIT_PAGE = 100
#: the user roles a form offers, least allowed first
USER_ROLES = tuple(role.value for role in Role)
NOTICES = {
    "role": "The role is changed.",
    "disabled": "The user is disabled: their sessions and API key stop working.",
    "enabled": "The user is enabled again.",
    "removed": "The user is removed.",
    "password": "The password is changed: the user's sessions and tokens have ended.",
}
#: one character past the policy's limit: a longer password is refused, not cut short
MAX_PASSWORD = 1025


def _users_page(
    request: Request,
    made: Optional[NewUser] = None,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    users = host_of(request).users.list()
    context = {"users": users, "roles": USER_ROLES, "made": made, "notice": notice, "error": error}
    return render(request, "users.html", context, status)


@router.get("/console/users")
def users(request: Request, notice: str = "", visitor: Visitor = ADMIN_PAGE) -> Response:
    return _users_page(request, notice=NOTICES.get(notice, ""))


@router.post("/console/users")
def add_user(request: Request, sent: Posted = ADMIN_FORM) -> Response:
    host = host_of(request)
    try:
        made = host.users.add(sent.text("name"), sent.text("role"))
    except ConfigError as exc:
        return _users_page(request, error=str(exc), status=400)
    host.store.audit(sent.user.name, "add-user", made.name, made.role.value)
    return _users_page(request, made=made)


@router.post("/console/users/{name}/{change}")
def change_user(name: str, change: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    host = host_of(request)
    yourself = name.casefold() == sent.user.name.casefold()
    if yourself and change in ("role", "disable", "remove"):
        raise Problem(409, "you cannot change your own role, or disable or remove yourself")
    if yourself and change == "password":
        raise Problem(
            409, "change your own password on your account page (it asks the current one)"
        )
    detail: Any = ""
    if change == "key":
        made = host.users.new_key(name)
        host.store.audit(sent.user.name, "new-key", made.name)
        return _users_page(request, made=made)
    if change == "password":
        return _reset_password(request, name, sent)
    if change == "role":
        detail = sent.text("role")
        host.users.set_role(name, detail)
        notice = "role"
    elif change in ("disable", "enable"):
        host.users.disable(name, change == "disable")
        notice = f"{change}d"
    elif change == "remove":
        host.users.remove(name)
        notice = "removed"
    else:
        raise Problem(404, f"no such change: {change[:20]!r}")
    host.store.audit(sent.user.name, f"{change}-user", name, detail)
    return RedirectResponse(f"/console/users?notice={notice}", status_code=303)


def _reset_password(request: Request, name: str, sent: Posted) -> Response:
    """The password the admin typed (the policy applies), else a generated one shown once;
    either way every session and token of the user ends."""
    host = host_of(request)
    typed = str(sent.form.get("password") or "")[:MAX_PASSWORD]
    try:
        if typed:
            changed = host.users.set_password(name, typed)
            made = None
        else:
            made = host.users.new_password(name)
    except ConfigError as exc:
        return _users_page(
            request, error=f"The password of {name} is not changed: {exc}.", status=400
        )
    host.store.audit(sent.user.name, "reset-password", made.name if made else changed.name)
    if made is not None:
        return _users_page(request, made=made)
    return RedirectResponse("/console/users?notice=password", status_code=303)


@router.get("/console/audit")
def audit(request: Request, offset: int = 0, visitor: Visitor = ADMIN_PAGE) -> Response:
    offset = max(0, offset)
    host = host_of(request)
    rows = host.store.audit_log(offset, AUDIT_PAGE + 1)
    lines = audit_lines(host, rows[:AUDIT_PAGE])
    context = {"rows": lines, "offset": offset, "more": len(rows) > AUDIT_PAGE}
    return render(request, "audit.html", context)
