"""Console logins: a session per login in an HttpOnly, SameSite=Strict cookie (Secure, and
``__Host-`` named, under TLS) that expires; the store keeps only the SHA-256 of its token.

A session keeps the password generation of the login that started it: a password change or
disabling the user ends it, even one that raced the change (a new API key does not: a console
session comes from a password).

Each session has its own CSRF token: every form carries it, and a request that changes
anything is refused without it. The login form, which has no session yet, carries one that
is paired with a short-lived cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable
from typing import Any, Callable, Optional

import attrs
from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from tqops.server.auth import Problem, host_of
from tqops.server.users import Role, User

__all__ = [
    "ADMIN_FORM",
    "ADMIN_PAGE",
    "ANALYST_FORM",
    "ANALYST_PAGE",
    "SESSION_SECONDS",
    "VIEWER_FORM",
    "VIEWER_PAGE",
    "NeedLogin",
    "Posted",
    "Visitor",
    "end_session",
    "login_token",
    "login_token_matches",
    "page",
    "pair_login_token",
    "posted",
    "start_session",
    "visitor_of",
]

KIND = "console"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 1800
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class NeedLogin(Exception):
    """No live session: the console answers with its login page."""


@attrs.frozen
class Visitor:
    """A logged-in user, and their session's CSRF token."""

    user: User
    csrf: str
    token_hash: str


@attrs.frozen
class Posted:
    """A form sent by a logged-in user, its CSRF token checked."""

    visitor: Visitor
    form: FormData

    @property
    def user(self) -> User:
        return self.visitor.user

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else default

    def texts(self, name: str) -> list[str]:
        return [v for v in self.form.getlist(name) if isinstance(v, str)]


def _secure(request: Request) -> bool:
    return bool(getattr(request.app.state, "secure_cookies", False))


def cookie_name(request: Request, what: str = "session") -> str:
    # __Host-: the browser takes it only over HTTPS, for this host, on every path
    return f"__Host-tqops-{what}" if _secure(request) else f"tqops-{what}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _set_cookie(request: Request, response: Response, what: str, value: str, age: int) -> None:
    response.set_cookie(
        cookie_name(request, what),
        value,
        max_age=age,
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def start_session(request: Request, response: Response, user: User) -> None:
    """Log ``user`` in: a new session and its cookie (the login form's cookie is spent); the
    session is bound to ``user``'s generations, those its password was checked under."""
    token = secrets.token_urlsafe(32)
    store = host_of(request).store
    store.add_session(
        KIND,
        _digest(token),
        user.id,
        time.time() + SESSION_SECONDS,
        secrets.token_urlsafe(32),
        generations=user.generations,
    )
    _set_cookie(request, response, "session", token, SESSION_SECONDS)
    response.delete_cookie(cookie_name(request, "login"), path="/", secure=_secure(request))


def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(cookie_name(request))
    if token:
        host_of(request).store.end_session(_digest(token))
    response.delete_cookie(cookie_name(request), path="/", secure=_secure(request))


def visitor_of(request: Request) -> Optional[Visitor]:
    """The user of the request's live session (None without one)."""
    token = request.cookies.get(cookie_name(request))
    if not token or len(token) > 100:
        return None
    row = host_of(request).store.session(KIND, _digest(token))
    if row is None:
        return None
    user = User.of_row(row)
    return Visitor(user, row["csrf"], row["token_hash"])


def _allowed(request: Request, role: Role) -> Visitor:
    found = visitor_of(request)
    if found is None:
        raise NeedLogin()
    request.state.visitor = found
    if not found.user.role.allows(role):
        raise Problem(
            403, f"a {found.user.role.value} may not do this; it needs the {role.value} role"
        )
    return found


def page(role: Role) -> Callable[[Request], Visitor]:
    """A dependency for a page: the login page without a session, 403 without ``role``."""

    def dependency(request: Request) -> Visitor:
        return _allowed(request, role)

    dependency.__name__ = f"page_{role.value}"
    return dependency


def posted(role: Role) -> Callable[[Request], Awaitable[Posted]]:
    """A dependency for a form that changes something: as :func:`page`, and its CSRF token
    (the form's ``csrf`` field or the ``X-CSRF-Token`` header) must be the session's."""

    async def dependency(request: Request) -> Posted:
        found = _allowed(request, role)
        try:
            form = await request.form(max_files=2, max_fields=2000)
        except Exception:  # python-multipart's errors are its own; the answer is the same
            raise Problem(400, "the form could not be read; send it again") from None
        given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        if not isinstance(given, str) or not hmac.compare_digest(given, found.csrf):
            raise Problem(403, "the form is out of date or not from this console; reload it")
        return Posted(found, form)

    dependency.__name__ = f"posted_{role.value}"
    return dependency


#: dependencies of the console's pages (a session with the role) and forms (and the token)
VIEWER_PAGE = Depends(page(Role.VIEWER))
ANALYST_PAGE = Depends(page(Role.ANALYST))
ADMIN_PAGE = Depends(page(Role.ADMIN))
VIEWER_FORM = Depends(posted(Role.VIEWER))
ANALYST_FORM = Depends(posted(Role.ANALYST))
ADMIN_FORM = Depends(posted(Role.ADMIN))


def login_token() -> str:
    """A CSRF token for the login form (see :func:`pair_login_token`)."""
    return secrets.token_urlsafe(32)


def pair_login_token(request: Request, response: Response, token: str) -> None:
    """The login form's token, also in a cookie that lives half an hour."""
    _set_cookie(request, response, "login", token, LOGIN_SECONDS)


def login_token_matches(request: Request, given: Any) -> bool:
    expected = request.cookies.get(cookie_name(request, "login"), "")
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(given, expected)
