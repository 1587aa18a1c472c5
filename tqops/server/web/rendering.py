"""The console's HTML: one Jinja2 environment with autoescape on for every template, the
Content-Security-Policy every page carries, and the package's own static files.

Whatever a vendor, an uploaded file or a user wrote reaches a page only as text: templates
never mark a value safe, and no page has an inline script, event handler or style attribute,
so the policy can refuse them all.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from tqops import __version__
from tqops.server.auth import Problem
from tqops.server.users import Role

__all__ = ["CSP", "STATIC", "TEMPLATES", "render", "render_text", "static_file"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: the policy of every console answer: scripts and styles only from the host's own files
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the static files served, and how long a browser may keep them (their URLs carry the
#: tqops version, so a new version is fetched anew)
STATIC_FILES = ("console.css", "console.js", "htmx.min.js", "htmx-ext-sse.min.js", "favicon.svg")
STATIC_MAX_AGE = 86400


def _when(text: Optional[str]) -> str:
    """``2020-03-16T14:56:56Z`` as ``2020-03-16 14:56 UTC`` (other text as it is)."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _count(number: Any, word: str) -> str:
    """``1 indicator``, ``3 indicators``."""
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["count"] = _count
    env.globals["version"] = __version__
    return env


def render_text(request: Request, template: str, context: Optional[dict[str, Any]] = None) -> str:
    """A template as text, with the visitor and their session's CSRF token."""
    visitor = getattr(request.state, "visitor", None)
    role = visitor.user.role if visitor else None
    values = {
        "visitor": visitor,
        "user": visitor.user if visitor else None,
        "is_admin": bool(role and role.allows(Role.ADMIN)),
        "is_analyst": bool(role and role.allows(Role.ANALYST)),
        "csrf": visitor.csrf if visitor else "",
        "path": request.url.path,
        **(context or {}),
    }
    return environment().get_template(template).render(values)


def render(
    request: Request,
    template: str,
    context: Optional[dict[str, Any]] = None,
    status: int = 200,
    headers: Optional[dict[str, str]] = None,
) -> HTMLResponse:
    """A page (or an htmx fragment) with the policy."""
    html = render_text(request, template, context)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Content-Security-Policy"] = CSP
    return response


def static_file(name: str) -> Response:
    """One of the package's static files (by name from a fixed list: no path is read from
    the request)."""
    if name not in STATIC_FILES:
        raise Problem(404, f"no static file {name[:60]!r}")
    kind = {".css": "text/css", ".svg": "image/svg+xml"}.get(name[name.rfind(".") :])
    return Response(
        (STATIC / name).read_bytes(),
        media_type=f"{kind or 'text/javascript'}; charset=utf-8",
        headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE}"},
    )
