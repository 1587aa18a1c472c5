"""Integrations and their configuration (admin): the installed operations; upload (with the
upgrade report to confirm or cancel); enable, disable, remove; the configuration form drawn
from the manifest, the host's settings of an operation, and Test Connection, of the saved
configuration or of the form's values before they are saved. Every outcome of a test is shown,
a configuration that cannot be tested included (in the fields' labels)."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError, OperationError
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host
from tqops.server.users import User
from tqops.server.web.forms import draw_fields, field_values, problems_of, readable
from tqops.server.web.pending import PendingUpload, pending_uploads
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute, error_status
from tqops.server.web.sessions import ADMIN_FORM, ADMIN_PAGE, VIEWER_PAGE, Posted, Visitor
from tqops.tlp import LEVELS

__all__ = ["UPLOAD_PATHS", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
UPLOAD_PATHS = ("/console/integrations",)
CONFIG_PREFIX = "config."
NOTICES = {
    "installed": "{label} {version} is installed.",
    "upgraded": "{label} is upgraded to {version}.",
    "enabled": "{label} is enabled.",
    "disabled": "{label} is disabled: its actions do not run until it is enabled again.",
    "removed": "The integration is removed.",
    "cancelled": "Nothing was installed.",
    "configured": "The configuration of {label} is saved.",
    "settings": "The host's settings of {label} are saved.",
}


def _notice(host: Host, notice: Optional[str], name: Optional[str]) -> str:
    """A notice from a fixed list (nothing in a URL is shown as it was written)."""
    text = NOTICES.get(notice or "")
    if not text:
        return ""
    try:
        view = host.service.view(name) if name else None
    except (LookupError, OperationError):  # a name in a URL that is no operation (any more)
        view = None
    label, version = (view.label, view.version) if view else ("The operation", "")
    return text.format(label=label, version=version)


def _back(where: str, notice: str, name: str = "") -> Response:
    query = f"?notice={notice}" + (f"&op={name}" if name else "")
    return RedirectResponse(f"{where}{query}", status_code=303)


def _list_page(
    request: Request, notice: str = "", error: str = "", status: int = 200, **extra: Any
) -> Response:
    host = host_of(request)
    context = {"operations": host.hosted_operations(), "notice": notice, "error": error}
    context.update({"forceable": None, **extra})
    return render(request, "integrations.html", context, status)


@router.get("/console/integrations")
def integrations(
    request: Request,
    notice: Optional[str] = None,
    op: Optional[str] = None,
    visitor: Visitor = VIEWER_PAGE,
) -> Response:
    return _list_page(request, _notice(host_of(request), notice, op))


def _installer(host: Host) -> Any:
    return host.installer.install


async def _install(
    request: Request, upload: PendingUpload, user: User, confirm: bool, force: bool
) -> Response:
    install = _installer(host_of(request))
    try:
        done = await asyncio.to_thread(
            lambda: install(upload.data, upload.filename, user, confirm=confirm, force=force)
        )
    except ConfigError as exc:
        status = error_status(exc)
        again = None
        if status == 409:  # the same version with other content, or an older one: forceable
            again = pending_uploads(request).keep(user.id, upload.filename, upload.data)
        return _list_page(request, error=str(exc), status=status, forceable=again)
    if done.get("installed"):
        return _back("/console/integrations", "upgraded" if done.get("upgrade") else "installed",
                     str(done.get("operation", "")))  # fmt: skip
    kept = pending_uploads(request).keep(user.id, upload.filename, upload.data)
    current = host_of(request).hosted(str(done["operation"]))
    context = {"report": done, "pending": kept, "current": current}
    return render(request, "upgrade.html", context)


@router.post("/console/integrations")
async def upload(request: Request, sent: Posted = ADMIN_FORM) -> Response:
    """The integration file ``tqops bundle`` writes (the file picker or a dropped file)."""
    given = sent.form.get("file")
    if given is None or isinstance(given, str) or not given.filename:
        return _list_page(request, error="Choose an integration file (.whl) first.", status=400)
    data = await given.read()
    kept = PendingUpload("", sent.user.id, given.filename, data, 0.0)
    return await _install(request, kept, sent.user, confirm=False, force=False)


@router.post("/console/integrations/pending/{token}")
async def answer_pending(token: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    """Confirm an upgrade, force a refused version, or cancel."""
    kept = pending_uploads(request).take(token, sent.user.id)
    answer = sent.text("answer")
    if answer == "cancel":
        return _back("/console/integrations", "cancelled")
    if kept is None:
        raise Problem(410, "that upload is no longer kept (half an hour); upload the file again")
    if answer not in ("confirm", "force"):
        raise Problem(400, "answer confirm, force or cancel")
    return await _install(request, kept, sent.user, confirm=True, force=answer == "force")


@router.post("/console/integrations/{name}/{switch}")
def enable(name: str, switch: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    host = host_of(request)
    if switch == "remove":
        host.installer.remove(name, sent.user)
        return _back("/console/integrations", "removed")
    if switch not in ("enable", "disable"):
        raise Problem(404, f"no such change: {switch[:20]!r}")
    host.set_settings(name, {"enabled": switch == "enable"}, sent.user)
    return _back("/console/integrations", f"{switch}d", name)


# -- one operation: configuration, settings, Test Connection ---------------------------------


def _config_page(
    request: Request,
    name: str,
    problems: Any = None,
    entered: Optional[dict[str, Any]] = None,
    notice: str = "",
    report: Any = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    host = host_of(request)
    stored = host.masked_config(name)
    values = {**stored["values"], **(entered or {})}
    # the fields as they stand for the values the form shows (what was typed included)
    view = host.hosted(name, values)
    fields = draw_fields(
        view.config,
        values,
        stored["secrets_set"],
        problems.by_field if problems else {},
        CONFIG_PREFIX,
    )
    context = {
        "op": view,
        "fields": fields,
        "general": problems.general if problems else (),
        "notice": notice,
        "report": report,
        "tlps": LEVELS,
        "untestable": (),
        "tested": "stored",
        **extra,
    }
    return render(request, "config.html", context, status)


@router.get("/console/operations/{name}")
def configuration(
    name: str,
    request: Request,
    notice: Optional[str] = None,
    visitor: Visitor = ADMIN_PAGE,
) -> Response:
    return _config_page(request, name, notice=_notice(host_of(request), notice, name))


@router.post("/console/operations/{name}/config")
def save_configuration(name: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    host = host_of(request)
    fields = host.service.view(name).config
    values = field_values(fields, sent.form, CONFIG_PREFIX)
    try:
        host.set_config(name, values, sent.user)
    except ConfigError as exc:
        problems = problems_of(exc, [field.name for field in fields])
        # what was typed stays in the form, but never a secret
        secret = {field.name for field in fields if field.secret}
        entered = {k: v for k, v in values.items() if k not in secret}
        return _config_page(request, name, problems, entered, status=400)
    return _back(f"/console/operations/{name}", "configured", name)


@router.post("/console/operations/{name}/settings")
def save_settings(name: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    ttl = sent.text("cache_ttl")
    if not ttl.isdigit():
        raise Problem(400, "the cache TTL is a whole number of seconds (0 turns it off)")
    values: dict[str, Any] = {"max_tlp": sent.text("max_tlp"), "cache_ttl": int(ttl)}
    quota = sent.text("daily_quota") or "0"
    if not quota.isdigit():
        raise Problem(400, "the daily quota is a whole number of look-ups (0: no quota)")
    values["daily_quota"] = int(quota)
    host_of(request).set_settings(name, values, sent.user)
    return _back(f"/console/operations/{name}", "settings", name)


@router.post("/console/operations/{name}/test-connection")
def test_connection(name: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    """Test Connection of the saved configuration."""
    return _tested(request, name, sent, None)


@router.post("/console/operations/{name}/test-values")
def test_values(name: str, request: Request, sent: Posted = ADMIN_FORM) -> Response:
    """Test Connection of the configuration form's values, nothing saved (a secret left
    blank is the saved one)."""
    fields = host_of(request).service.view(name).config
    return _tested(request, name, sent, field_values(fields, sent.form, CONFIG_PREFIX))


def _tested(
    request: Request, name: str, sent: Posted, values: Optional[dict[str, Any]]
) -> Response:
    """Each step with its outcome and the hint for the failing one, or why the configuration
    cannot be tested at all (a fragment for htmx, which swaps a 2xx answer only: a test that
    failed is an answer, not an error of the request)."""
    host = host_of(request)
    report, untestable = None, ()
    try:
        report = host.test_connection(name, sent.user, values)
    except ConfigError as exc:
        untestable = readable(exc)
    context = {
        "report": report,
        "untestable": untestable,
        "tested": "stored" if values is None else "entered",
    }
    if request.headers.get("hx-request"):
        return render(request, "connection.html", context)
    secret = {field.name for field in host.service.view(name).config if field.secret}
    entered = {k: v for k, v in (values or {}).items() if k not in secret}  # never a secret
    status = 400 if untestable else 200
    return _config_page(request, name, entered=entered, status=status, **context)
