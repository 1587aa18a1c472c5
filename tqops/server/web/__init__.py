"""The console: pages served by ``tqops serve`` where an admin uploads and configures
integrations and an analyst selects indicators, runs an action and reads its results.

Server-rendered (Jinja2, autoescaped) with htmx for the live parts, both served by the host
itself; a login session per browser; every page under a Content-Security-Policy that allows
no inline script. The pages are a view of the same :class:`~tqops.server.host.Host` as the
REST API.
"""

from __future__ import annotations

from fastapi import APIRouter

from tqops.server.web import account, indicator_pages, job_pages, operations, people, run_page

__all__ = ["UPLOAD_PATHS", "router"]

#: the console's routes that take an integration file (the host's larger body limit)
UPLOAD_PATHS = operations.UPLOAD_PATHS

router = APIRouter(include_in_schema=False)
for part in (account, operations, indicator_pages, run_page, job_pages, people):
    router.include_router(part.router)
