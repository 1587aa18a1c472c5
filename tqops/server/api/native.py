"""The native REST API under ``/api/v1``: operations, their configuration, indicators and jobs.

Every route names the role it needs (viewer < analyst < admin); answers never carry a secret:
configurations come back masked, and writing the mask back leaves a secret as it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Optional, Union

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tqops.errors import ConfigError
from tqops.server.auth import Problem, host_of, requires
from tqops.server.host import parse_indicator_csv
from tqops.server.jobs import FINISHED
from tqops.server.users import Role, User

__all__ = ["UPLOAD_PATHS", "router"]

router = APIRouter(prefix="/api/v1")
UPLOAD_PATHS = ("/api/v1/integrations",)


class Page:
    """``offset`` and ``limit`` query parameters of a listing."""

    def __init__(
        self, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
    ) -> None:
        self.offset = offset
        self.limit = limit


PAGE = Depends(Page)
VIEWER = Depends(requires(Role.VIEWER))
ANALYST = Depends(requires(Role.ANALYST))
ADMIN = Depends(requires(Role.ADMIN))


class ConfigValues(BaseModel):
    values: dict[str, Union[str, int, float, bool, None]] = Field(
        description="field -> value; '********' leaves a secret unchanged, null unsets"
    )


class Settings(BaseModel):
    enabled: Optional[bool] = None
    max_tlp: Optional[str] = Field(None, description="CLEAR, GREEN, AMBER, AMBER+STRICT, RED")
    cache_ttl: Optional[int] = Field(None, description="seconds; 0 turns the cache off")
    misp_allowed: Optional[bool] = Field(
        None, description="MISP's enrichment modules may use the stored configuration"
    )


class IndicatorIn(BaseModel):
    type: str
    value: str
    tlp: Optional[str] = None


class Indicators(BaseModel):
    indicators: list[IndicatorIn]


class JobIn(BaseModel):
    operation: str
    action: str
    indicator_ids: Optional[list[int]] = None
    inputs: Optional[list[IndicatorIn]] = None
    options: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)


class ImportIn(BaseModel):
    seqs: Optional[list[int]] = Field(None, description="result numbers; all when absent")


# -- operations ----------------------------------------------------------------------------


@router.get("/operations")
def operations(request: Request, user: User = VIEWER) -> dict[str, Any]:
    return {"operations": host_of(request).operations()}


@router.get("/operations/{name}")
def operation(name: str, request: Request, user: User = VIEWER) -> dict[str, Any]:
    return host_of(request).operation_view(name)


@router.get("/operations/{name}/config")
def get_config(name: str, request: Request, user: User = ADMIN) -> dict[str, Any]:
    return host_of(request).masked_config(name)


@router.put("/operations/{name}/config")
def put_config(name: str, body: ConfigValues, request: Request, user: User = ADMIN) -> Any:
    return host_of(request).set_config(name, body.values, user)


@router.put("/operations/{name}/settings")
def put_settings(name: str, body: Settings, request: Request, user: User = ADMIN) -> Any:
    values = body.model_dump(exclude_none=True)
    return host_of(request).set_settings(name, values, user)


@router.post("/operations/{name}/test-connection")
def test_connection(name: str, request: Request, user: User = ADMIN) -> dict[str, Any]:
    return host_of(request).test_connection(name, user).to_dict()


# -- integrations --------------------------------------------------------------------------


@router.post("/integrations")
async def upload_integration(
    request: Request, user: User = ADMIN, confirm: bool = False, force: bool = False
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


@router.delete("/integrations/{name}")
def remove_integration(name: str, request: Request, user: User = ADMIN) -> dict[str, Any]:
    return host_of(request).installer.remove(name, user)


# -- indicators ----------------------------------------------------------------------------


@router.post("/indicators", status_code=201)
async def add_indicators(request: Request, user: User = ANALYST) -> dict[str, Any]:
    """JSON ``{"indicators": [{"type", "value", "tlp"?}]}`` or ``text/csv`` rows
    ``type,value[,tlp]``."""
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


@router.get("/indicators")
def list_indicators(
    request: Request,
    user: User = VIEWER,
    type: Optional[str] = None,
    q: Optional[str] = None,
    page: Page = PAGE,
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


@router.get("/indicators/{indicator_id}")
def get_indicator(indicator_id: int, request: Request, user: User = VIEWER) -> dict[str, Any]:
    found = host_of(request).indicator_view(indicator_id)
    if found is None:
        raise Problem(404, f"no indicator with id {indicator_id}")
    return found


@router.delete("/indicators/{indicator_id}", status_code=204)
def delete_indicator(indicator_id: int, request: Request, user: User = ANALYST) -> None:
    host = host_of(request)
    if not host.store.delete_indicator(indicator_id):
        raise Problem(404, f"no indicator with id {indicator_id}")
    host.store.audit(user.name, "delete", f"indicator {indicator_id}")


# -- jobs ------------------------------------------------------------------------------------


@router.post("/jobs", status_code=202)
def create_job(body: JobIn, request: Request, user: User = ANALYST) -> dict[str, Any]:
    inputs = [i.model_dump() for i in body.inputs] if body.inputs is not None else None
    if body.indicator_ids is None and inputs is None:
        raise ConfigError("a job needs indicator_ids or inputs")
    return host_of(request).create_job(
        body.operation, body.action, body.options, body.indicator_ids, inputs, user
    )


@router.get("/jobs")
def list_jobs(request: Request, user: User = VIEWER, page: Page = PAGE) -> dict[str, Any]:
    host = host_of(request)
    return {"jobs": [host.job(row["id"]) for row in host.store.jobs(page.offset, page.limit)]}


@router.get("/jobs/{job_id}")
def get_job(job_id: int, request: Request, user: User = VIEWER) -> dict[str, Any]:
    return host_of(request).job(job_id)


@router.get("/jobs/{job_id}/results")
def job_results(
    job_id: int,
    request: Request,
    user: User = VIEWER,
    status: Optional[str] = None,
    page: Page = PAGE,
) -> dict[str, Any]:
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


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: int, request: Request, user: User = ANALYST) -> dict[str, Any]:
    host = host_of(request)
    job = host.job(job_id)
    if job["status"] in FINISHED:
        raise Problem(409, f"job {job_id} is {job['status']} already")
    host.jobs.cancel(job_id)
    host.store.audit(user.name, "cancel", f"job {job_id}")
    host.jobs.wait(job_id, 10.0)
    return host.job(job_id)


@router.post("/jobs/{job_id}/resume")
def resume_job(job_id: int, request: Request, user: User = ANALYST) -> dict[str, Any]:
    return host_of(request).resume(job_id, user)


@router.post("/jobs/{job_id}/import")
def import_results(
    job_id: int, body: ImportIn, request: Request, user: User = ANALYST
) -> dict[str, Any]:
    return {"added": host_of(request).import_results(job_id, body.seqs, user)}


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: int, request: Request, user: User = VIEWER) -> StreamingResponse:
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


# -- audit -----------------------------------------------------------------------------------


@router.get("/audit")
def audit(request: Request, user: User = ADMIN, page: Page = PAGE) -> dict[str, Any]:
    return {"audit": host_of(request).store.audit_log(page.offset, page.limit)}


@router.get("/me")
def me(user: User = VIEWER) -> dict[str, Any]:
    return user.to_dict()
