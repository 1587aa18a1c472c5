"""Cortex's job routes (``conf/routes``, ``controllers/JobCtrl.scala``): a job, its report
(at once or once it ends), its artifacts, the statuses of several, the listing and search
(``GET /api/job``, ``POST /api/job/_search``, with :mod:`tqops.server.api.cortexquery`'s
language) and deletion.

A deleted job leaves Cortex's listings and searches and answers ``Deleted`` by its id, as in
Cortex; the host keeps the job, its results and its audit entries (a job still running is
cancelled). Listings look at the newest :data:`MAX_SCAN` jobs and, as Cortex, answer the first
ten of them unless the request gives a ``range`` (``all``, ``0-100``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Optional

from fastapi import Query, Request, Response

from tqops.server.api.common import wait_for_job
from tqops.server.api.cortex_base import read_body, router
from tqops.server.api.cortex_report import Refs, action_refs, job_json
from tqops.server.api.cortexquery import matches, page, page_bounds
from tqops.server.auth import AnalystUser, CurrentUser, Problem, host_of
from tqops.server.host import Host

__all__ = ["MAX_SCAN", "MAX_WAIT", "cortex_job"]

#: how long ``waitreport`` waits at the most, whatever ``atMost`` says (``Inf`` included)
MAX_WAIT = 300.0
#: how many of the newest jobs a listing or search looks at
MAX_SCAN = 5_000
_PAGE = 200
#: the range of a listing that names none: Cortex's (elastic4play's DBFind), the first ten
CORTEX_RANGE = "0-10"
#: a duration's units (seconds first: a bare number is seconds), each as (short, long prefix)
_UNITS = {"s": ("s", "sec"), "ns": ("ns", "nano"), "us": ("us", "micro"), "ms": ("ms", "milli")}
_UNITS.update({"m": ("m", "min"), "h": ("h", "hour"), "d": ("d", "day")})
_SECONDS = {"s": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_OPEN = ("queued", "running")
#: sorts that are the store's own order (newest first), so a page can stop early
_NEWEST_FIRST = ((), ("-createdAt",), ("-date",), ("-id",))


def cortex_job(host: Host, job_id: Any, with_report: bool = False) -> dict[str, Any]:
    """Job ``job_id`` as Cortex answers it (404 in Cortex's words when there is none)."""
    view = _view(host, str(job_id))
    record = host.store.cortex_request(view["id"])
    return job_json(host, view, action_refs(host), record, with_report)


def _view(host: Host, job_id: str) -> dict[str, Any]:
    try:
        if not job_id.isdigit() or len(job_id) > 18:
            raise LookupError(job_id)
        return host.job(int(job_id))
    except LookupError:
        raise Problem(404, f"Job {job_id[:40]} not found") from None


@router.get("/job")
async def list_jobs(
    request: Request,
    user: CurrentUser,
    dataTypeFilter: Optional[str] = None,
    dataFilter: Optional[str] = None,
    analyzerFilter: Optional[str] = None,
    range: Optional[str] = None,
    sort: Optional[str] = None,
) -> list[Any]:
    """Cortex's job list: each filter a match (``like``) of its field."""
    query: list[Any] = []
    for field, value in (("dataType", dataTypeFilter), ("data", dataFilter)):
        if value:
            query.append({"_like": {"_field": field, "_value": value}})
    if analyzerFilter:
        names = ("analyzerId", "analyzerName")
        query.append({"_or": [{"_like": {"_field": n, "_value": analyzerFilter}} for n in names]})
    return await asyncio.to_thread(_found, host_of(request), {"_and": query}, range, sort)


@router.post("/job/_search")
async def search_jobs(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    body = await read_body(request)
    found = (body.get("query") or {}, body.get("range") or range, body.get("sort") or sort)
    return await asyncio.to_thread(_found, host_of(request), *found)


def _found(host: Host, query: Any, range_: Any, sort: Any) -> list[Any]:
    """The jobs ``query`` finds among the newest :data:`MAX_SCAN` (deleted ones left out),
    sorted and cut to ``range_``."""
    matches(query, {})  # a query that does not parse is refused before any job is read
    bounds = page_bounds(range_, CORTEX_RANGE)
    keys = tuple(sort) if isinstance(sort, list) else ((sort,) if sort else ())
    early = bounds is not None and keys in _NEWEST_FIRST
    refs: Refs = action_refs(host)
    found: list[dict[str, Any]] = []
    for offset in range(0, MAX_SCAN, _PAGE):
        rows = host.store.jobs(offset, _PAGE)
        records = host.store.cortex_requests(row["id"] for row in rows)
        for row in rows:
            record = records.get(row["id"])
            if record and record["deleted_at"]:
                continue
            job = job_json(host, host.job(row["id"]), refs, record)
            if matches(query, job):
                found.append(job)
        if len(rows) < _PAGE or (early and bounds and len(found) >= bounds[1]):
            break
    return page(found, range_, sort, CORTEX_RANGE)


@router.get("/job/{job_id}")
def get_job(job_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    return cortex_job(host_of(request), job_id)


@router.delete("/job/{job_id}", status_code=204)
def delete_job(job_id: str, request: Request, user: AnalystUser) -> Response:
    """Cortex's deletion (204): the job leaves Cortex's listings; an open one is cancelled."""
    host = host_of(request)
    view = _view(host, job_id)
    # an open job (queued or running) is cancelled: a worker would still take a queued one
    cancelled = host.jobs.cancel(view["id"]) if view["status"] in _OPEN else False
    host.store.delete_cortex_job(view["id"])
    detail = "deleted through Cortex's API" + (", cancelled while open" if cancelled else "")
    host.store.audit(user.name, "delete", f"job {view['id']}", detail)
    return Response(status_code=204)


@router.get("/job/{job_id}/report")
def get_report(job_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    return cortex_job(host_of(request), job_id, with_report=True)


@router.get("/job/{job_id}/waitreport")
async def wait_report(
    job_id: str, request: Request, user: CurrentUser, atMost: str = Query("1minute")
) -> dict[str, Any]:
    host = host_of(request)
    view = await asyncio.to_thread(_view, host, job_id)
    await wait_for_job(host, view["id"], _seconds(atMost))
    return await asyncio.to_thread(cortex_job, host, view["id"], True)


@router.get("/job/{job_id}/artifacts")
def get_artifacts(job_id: str, request: Request, user: CurrentUser) -> list[Any]:
    report = cortex_job(host_of(request), job_id, with_report=True)["report"]
    return report.get("artifacts", []) if isinstance(report, dict) else []


@router.post("/job/status")
async def job_statuses(request: Request, user: CurrentUser) -> dict[str, str]:
    """``{"jobIds": [...]}``: each job's status, ``NotFound`` for one that is not."""
    ids = (await read_body(request)).get("jobIds") or []
    if not isinstance(ids, list):
        raise Problem(400, "jobIds is a list of job ids")
    return await asyncio.to_thread(_statuses, host_of(request), [str(i) for i in ids][:1000])


def _statuses(host: Host, ids: list[str]) -> dict[str, str]:
    answer = {}
    for job_id in ids:
        try:
            answer[job_id] = cortex_job(host, job_id)["status"]
        except Problem:
            answer[job_id] = "NotFound"
    return answer


def _seconds(text: str) -> float:
    """Cortex's ``atMost`` (``1minute``, ``30seconds``, ``1 minute`` as TheHive writes a
    Scala duration, ``1m``, ``Inf``) in seconds, capped at :data:`MAX_WAIT`."""
    if text.strip().lower() in ("inf", "infinite", "duration.inf"):
        return MAX_WAIT
    found = _DURATION.match(text)
    unit = found.group(2).lower() if found else ""
    key = next(
        (k for k, (short, long) in _UNITS.items() if unit in (short, "") or unit.startswith(long)),
        None,
    )
    if not found or key is None:
        raise Problem(400, f"atMost is a duration such as 1minute or 30seconds, not {text[:20]!r}")
    return min(MAX_WAIT, float(found.group(1)) * _SECONDS[key])
