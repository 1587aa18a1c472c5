"""The native REST API under ``/api/v1``: operations, their configuration, indicators and jobs.

Every route names the role it needs (viewer < analyst < admin); answers never carry a secret:
configurations come back masked, and writing the mask back leaves a secret as it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, Optional, Union

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from tqops.errors import ConfigError
from tqops.server.api.models import (
    AddedIndicators,
    AuditLog,
    ConfigValues,
    ConfigView,
    ConnectionReportView,
    ErrorBody,
    Imported,
    ImportIn,
    IndicatorDetail,
    IndicatorPage,
    Indicators,
    InstallView,
    JobIn,
    JobList,
    JobResults,
    JobView,
    OperationList,
    OperationView,
    Removed,
    Settings,
    UserView,
)
from tqops.server.auth import AdminUser, AnalystUser, CurrentUser, Problem, host_of
from tqops.server.host import parse_indicator_csv
from tqops.server.job_exports import job_export
from tqops.server.jobs import FINISHED

__all__ = ["UPLOAD_PATHS", "router"]

#: every error answers ``{"error": ...}``: the caller's (4xx) and the host's or a vendor's (5xx)
ERRORS: dict[Union[int, str], dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "The request was refused"},
    "5XX": {"model": ErrorBody, "description": "A vendor or the host failed"},
}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
UPLOAD_PATHS = ("/api/v1/integrations",)
#: each concern's routes, tagged with it in the OpenAPI document (included at the end)
operations_api = APIRouter(prefix="/operations", tags=["operations"])
integrations_api = APIRouter(prefix="/integrations", tags=["integrations"])
indicators_api = APIRouter(prefix="/indicators", tags=["indicators"])
jobs_api = APIRouter(prefix="/jobs", tags=["jobs"])
users_api = APIRouter(tags=["users"])


class Page:
    """``offset`` and ``limit`` query parameters of a listing."""

    def __init__(
        self, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
    ) -> None:
        self.offset = offset
        self.limit = limit


Paged = Annotated[Page, Depends(Page)]


# -- operations ----------------------------------------------------------------------------


@operations_api.get("", response_model=OperationList, response_model_exclude_unset=True)
def operations(request: Request, user: CurrentUser) -> dict[str, Any]:
    """Every installed operation; one that failed to load shows its ``error``."""
    return {"operations": host_of(request).operations()}


@operations_api.get("/{name}", response_model=OperationView, response_model_exclude_unset=True)
def operation(name: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    return host_of(request).operation_view(name)


@operations_api.get("/{name}/config", response_model=ConfigView)
def get_config(name: str, request: Request, user: AdminUser) -> dict[str, Any]:
    """The stored configuration, secrets masked."""
    return host_of(request).masked_config(name)


@operations_api.put("/{name}/config", response_model=ConfigView)
def put_config(name: str, body: ConfigValues, request: Request, user: AdminUser) -> Any:
    """Enter values (every invalid field listed); answers the configuration, secrets masked."""
    return host_of(request).set_config(name, body.values, user)


@operations_api.put(
    "/{name}/settings", response_model=OperationView, response_model_exclude_unset=True
)
def put_settings(name: str, body: Settings, request: Request, user: AdminUser) -> Any:
    values = body.model_dump(exclude_none=True)
    return host_of(request).set_settings(name, values, user)


@operations_api.post("/{name}/test-connection", response_model=ConnectionReportView)
def test_connection(name: str, request: Request, user: AdminUser) -> dict[str, Any]:
    return host_of(request).test_connection(name, user).to_dict()


# -- integrations --------------------------------------------------------------------------

_WHEEL = {"type": "string", "format": "binary", "description": "the file tqops bundle wrote"}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "properties": {"file": _WHEEL}}
        }
    },
}


@integrations_api.post(
    "",
    response_model=InstallView,
    response_model_exclude_unset=True,
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload_integration(
    request: Request, user: AdminUser, confirm: bool = False, force: bool = False
) -> dict[str, Any]:
    """Multipart ``file``: the integration file ``tqops bundle`` writes. Another version of an
    installed operation answers with the upgrade report; ``?confirm=true`` installs it;
    ``?force=true`` replaces the same version or installs an older one."""
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception:  # python-multipart's errors are its own; the answer is the same
        raise Problem(400, "expected a multipart/form-data body with a 'file' part") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Problem(400, "expected a multipart/form-data body with a 'file' part")
    data = await upload.read()
    install = host_of(request).installer.install
    return await asyncio.to_thread(
        lambda: install(data, upload.filename or "", user, confirm=confirm, force=force)
    )


@integrations_api.delete("/{name}", response_model=Removed)
def remove_integration(name: str, request: Request, user: AdminUser) -> dict[str, Any]:
    return host_of(request).installer.remove(name, user)


# -- indicators ----------------------------------------------------------------------------

#: the body is read by the route (JSON or CSV), so the document is told its two forms here
#: (IndicatorIn is among the document's schemas: JobIn's inputs are IndicatorIn too)
_INDICATORS_SCHEMA = Indicators.model_json_schema(ref_template="#/components/schemas/{model}")
_INDICATORS_SCHEMA.pop("$defs", None)
_INDICATORS_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _INDICATORS_SCHEMA},
        "text/csv": {"schema": {"type": "string", "description": "rows: type,value[,tlp]"}},
    },
}


@indicators_api.post(
    "",
    status_code=201,
    response_model=AddedIndicators,
    response_model_exclude_unset=True,
    openapi_extra={"requestBody": _INDICATORS_BODY},
)
async def add_indicators(request: Request, user: AnalystUser) -> dict[str, Any]:
    """JSON ``{"indicators": [{"type", "value", "tlp"?}]}`` or ``text/csv`` rows
    ``type,value[,tlp]``; each indicator answers its ``id`` or its ``error``."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(400, "the body is not UTF-8 text") from None
    if kind == "text/csv":
        items = parse_indicator_csv(text)
    else:
        try:
            parsed = Indicators.model_validate_json(text)
        except ValueError:
            raise Problem(
                400, 'expected JSON {"indicators": [{"type", "value", "tlp"?}]} or text/csv'
            ) from None
        items = [i.model_dump() for i in parsed.indicators]
    host = host_of(request)
    rows = await asyncio.to_thread(host.add_indicators, items, user)
    return {"indicators": rows}


@indicators_api.get("", response_model=IndicatorPage)
def list_indicators(
    request: Request,
    user: CurrentUser,
    page: Paged,
    type: Optional[str] = None,
    q: Optional[str] = None,
) -> dict[str, Any]:
    offset, limit = page.offset, page.limit
    total, rows = host_of(request).store.indicators(type, q, offset, limit)
    keys = ("id", "type", "value", "tlp", "note", "source", "created_at")
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "indicators": [{k: r[k] for k in keys} for r in rows],
    }


@indicators_api.get("/{indicator_id}", response_model=IndicatorDetail)
def get_indicator(indicator_id: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    found = host_of(request).indicator_view(indicator_id)
    if found is None:
        raise Problem(404, f"no indicator with id {indicator_id}")
    return found


@indicators_api.delete(
    "/{indicator_id}",
    status_code=204,
    response_model=None,
    responses={204: {"description": "Deleted"}},
)
def delete_indicator(indicator_id: int, request: Request, user: AnalystUser) -> None:
    host = host_of(request)
    if not host.store.delete_indicator(indicator_id):
        raise Problem(404, f"no indicator with id {indicator_id}")
    host.store.audit(user.name, "delete", f"indicator {indicator_id}")


# -- jobs ------------------------------------------------------------------------------------


@jobs_api.post("", status_code=202, response_model=JobView)
def create_job(body: JobIn, request: Request, user: AnalystUser) -> dict[str, Any]:
    """Queue a job on stored indicators (``indicator_ids``) or on ``inputs`` given here."""
    inputs = [i.model_dump() for i in body.inputs] if body.inputs is not None else None
    if body.indicator_ids is None and inputs is None:
        raise ConfigError("a job needs indicator_ids or inputs")
    given = (body.operation, body.action, body.options, body.indicator_ids, inputs, user)
    # 409 for an operation that is disabled or not configured
    return host_of(request).create_job(*given, refuse_blocked=True)


@jobs_api.get("", response_model=JobList)
def list_jobs(request: Request, user: CurrentUser, page: Paged) -> dict[str, Any]:
    host = host_of(request)
    return {"jobs": [host.job(row["id"]) for row in host.store.jobs(page.offset, page.limit)]}


@jobs_api.get("/{job_id}", response_model=JobView)
def get_job(job_id: int, request: Request, user: CurrentUser) -> dict[str, Any]:
    return host_of(request).job(job_id)


@jobs_api.get("/{job_id}/results", response_model=JobResults, response_model_exclude_unset=True)
def job_results(
    job_id: int,
    request: Request,
    user: CurrentUser,
    page: Paged,
    status: Optional[str] = None,
) -> dict[str, Any]:
    """A job's results in input order (``status``: ok, no_results, skipped or error)."""
    host = host_of(request)
    job = host.job(job_id)
    offset, limit = page.offset, page.limit
    total, rows = host.store.results(job_id, status, offset, limit)
    return {
        "operation": job["operation"],
        "action": job["action"],
        "total": total,
        "offset": offset,
        "limit": limit,
        "results": [json.loads(row["result"]) for row in rows],
    }


@jobs_api.post("/{job_id}/cancel", response_model=JobView)
def cancel_job(job_id: int, request: Request, user: AnalystUser) -> dict[str, Any]:
    host = host_of(request)
    job = host.job(job_id)
    if job["status"] in FINISHED:
        raise Problem(409, f"job {job_id} is {job['status']} already")
    host.jobs.cancel(job_id)
    host.store.audit(user.name, "cancel", f"job {job_id}")
    host.jobs.wait(job_id, 10.0)
    return host.job(job_id)


@jobs_api.delete(
    "/{job_id}",
    status_code=204,
    response_model=None,
    responses={204: {"description": "Deleted, with its inputs and results"}},
)
def delete_job(job_id: int, request: Request, user: AnalystUser) -> None:
    """Delete a job with its inputs and results: its owner or an admin may (403 for others).
    An open job is cancelled first (409 if its calls are still stopping after 10 s: try
    again). The indicators its results added to the store stay."""
    host_of(request).jobs.delete(job_id, user)


@jobs_api.post("/{job_id}/resume", response_model=JobView)
def resume_job(job_id: int, request: Request, user: AnalystUser) -> dict[str, Any]:
    return host_of(request).resume(job_id, user)


@jobs_api.post("/{job_id}/import", response_model=Imported)
def import_results(
    job_id: int, body: ImportIn, request: Request, user: AnalystUser
) -> dict[str, Any]:
    """What the job's results found (``seqs``: some of them) into the indicator store."""
    return {"added": host_of(request).import_results(job_id, body.seqs, user)}


_EVENTS = {
    200: {
        "description": "``event: progress`` with the job's view while it runs, then ``end``",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@jobs_api.get(
    "/{job_id}/events", response_class=StreamingResponse, response_model=None, responses=_EVENTS
)
async def job_events(job_id: int, request: Request, user: CurrentUser) -> StreamingResponse:
    """Server-sent events: ``progress`` while the job runs, then ``end``."""
    host = host_of(request)
    await asyncio.to_thread(host.job, job_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            view = await asyncio.to_thread(host.job, job_id)
            if view != last:
                yield f"event: progress\ndata: {json.dumps(view)}\n\n"
                last = view
            if view["status"] in FINISHED and not host.jobs.running(job_id):
                yield f"event: end\ndata: {json.dumps(view)}\n\n"
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(stream(), media_type="text/event-stream")


_EXPORT = {
    200: {
        "description": "The job's results as a STIX 2.1 bundle, a MISP event or a wide CSV "
        "(one row per found indicator), streamed",
        "content": {
            "application/stix+json;version=2.1": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@jobs_api.get(
    "/{job_id}/export", response_class=StreamingResponse, response_model=None, responses=_EXPORT
)
def export_job(
    job_id: int,
    request: Request,
    user: CurrentUser,
    fmt: Annotated[Literal["stix", "misp", "wide-csv"], Query(alias="format")],
) -> StreamingResponse:
    """The job's results to hand on: ``format=stix`` a STIX 2.1 bundle, ``format=misp`` a
    MISP event, ``format=wide-csv`` a CSV of one row per found indicator; each input's TLP
    marks what is said about it."""
    body, media, name = job_export(host_of(request), job_id, fmt)
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(body, media_type=media, headers=disposition)


# -- users and audit -------------------------------------------------------------------------


@users_api.get("/audit", response_model=AuditLog)
def audit(request: Request, user: AdminUser, page: Paged) -> dict[str, Any]:
    """Who did what, newest first."""
    return {"audit": host_of(request).store.audit_log(page.offset, page.limit)}


@users_api.get("/me", response_model=UserView)
def me(user: CurrentUser) -> dict[str, Any]:
    """The user the API key belongs to."""
    return user.to_dict()


for _concern in (operations_api, integrations_api, indicators_api, jobs_api, users_api):
    router.include_router(_concern)
