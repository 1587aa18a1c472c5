"""Jobs: the history (who ran what, when, on how many inputs); one job's live progress (fed
by its events), Cancel and Resume; its results, filtered by status, with each found
indicator's attributes; downloads as JSON and CSV; and "Add to platform"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from tqops.server.auth import Problem, host_of
from tqops.server.jobs import FINISHED
from tqops.server.web.exports import results_csv, results_json
from tqops.server.web.rendering import render, render_text
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, VIEWER_PAGE, Posted, Visitor

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 50
STATUSES = ("ok", "no_results", "skipped", "error")
EVENT_EVERY = 0.25


@router.get("/console/jobs")
def history(request: Request, offset: int = 0, visitor: Visitor = VIEWER_PAGE) -> Response:
    host = host_of(request)
    offset = max(0, offset)
    jobs = [host.job(row["id"]) for row in host.store.jobs(offset, PAGE_SIZE + 1)]
    context = {"jobs": jobs[:PAGE_SIZE], "offset": offset, "more": len(jobs) > PAGE_SIZE}
    return render(request, "jobs.html", context)


def _results(request: Request, job_id: int, status: str, offset: int) -> dict[str, Any]:
    store = host_of(request).store
    total, rows = store.results(job_id, status or None, offset, PAGE_SIZE)
    counts = {s: store.results(job_id, s, 0, 1)[0] for s in STATUSES}
    results = [{"seq": row["seq"], **json.loads(row["result"])} for row in rows]
    return {
        "results": results,
        "total": total,
        "counts": counts,
        "all": sum(counts.values()),
        "status": status,
        "offset": offset,
        "page_size": PAGE_SIZE,
    }


def _progress(job: dict[str, Any], running: bool) -> dict[str, Any]:
    return {"job": job, "running": running, "live": running or job["status"] not in FINISHED}


@router.get("/console/jobs/{job_id}")
def job_page(
    job_id: int,
    request: Request,
    status: str = "",
    offset: int = 0,
    added: Optional[int] = None,
    attributes: int = 0,
    to: int = 0,
    refused: int = 0,
    indicator: Optional[int] = None,
    visitor: Visitor = VIEWER_PAGE,
) -> Response:
    host = host_of(request)
    job = host.job(job_id)
    status = status if status in STATUSES else ""
    context = {
        **_progress(job, host.jobs.running(job_id)),
        **_results(request, job_id, status, max(0, offset)),
        "added": added,
        # what "Add to platform" stored (the notice links the one indicator it added to)
        "imported": {
            "attributes": attributes,
            "to": to,
            "refused": refused,
            "indicator": indicator,
        },
    }
    if request.headers.get("hx-request"):  # the results, refreshed when the job ends
        return render(request, "job_results.html", context)
    return render(request, "job.html", context)


def _event(name: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n"


@router.get("/console/jobs/{job_id}/events")
async def events(job_id: int, request: Request, visitor: Visitor = VIEWER_PAGE) -> Response:
    """The job's progress as server-sent events of HTML: ``progress`` while it runs, then
    ``end`` (the page closes the stream and fetches the results)."""
    host = host_of(request)
    await asyncio.to_thread(host.job, job_id)  # 404 before the stream starts

    def fragment(job: dict[str, Any], running: bool) -> str:
        return render_text(request, "job_progress.html", _progress(job, running))

    async def stream() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            job = await asyncio.to_thread(host.job, job_id)
            running = host.jobs.running(job_id)
            if job["status"] in FINISHED and not running:
                yield _event("end", fragment(job, False))
                return
            if job != last:
                yield _event("progress", fragment(job, running))
                last = job
            await asyncio.sleep(EVENT_EVERY)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


@router.get("/console/jobs/{job_id}/results.{kind}")
def download(job_id: int, kind: str, request: Request, visitor: Visitor = VIEWER_PAGE) -> Response:
    host = host_of(request)
    job = host.job(job_id)
    if kind not in ("json", "csv"):
        raise Problem(404, "results download as .json or .csv")
    body = results_json(host.store, job) if kind == "json" else results_csv(host.store, job_id)
    media = "application/json" if kind == "json" else "text/csv; charset=utf-8"
    name = f"tqops-job-{job_id}-results.{kind}"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/console/jobs/{job_id}/import")
def add_to_platform(job_id: int, request: Request, sent: Posted = ANALYST_FORM) -> Response:
    """The found indicators of the chosen results (all of them with ``everything``) are added
    to the indicator store, the operation as their source."""
    seqs: Optional[list[int]] = None
    if not sent.text("everything"):
        seqs = [int(s) for s in sent.texts("seq") if s.isdigit()]
        if not seqs:
            raise Problem(400, "choose the results whose indicators to add, or add them all")
    done = host_of(request).import_summary(job_id, seqs, sent.user)
    where = f"/console/jobs/{job_id}?added={done['new']}&attributes={done['attributes']}"
    where += f"&to={len(done['indicators'])}&refused={done['refused']}"
    if len(done["indicators"]) == 1:
        where += f"&indicator={done['indicators'][0]}"
    return RedirectResponse(where, status_code=303)


@router.post("/console/jobs/{job_id}/{change}")
def cancel_or_resume(
    job_id: int, change: str, request: Request, sent: Posted = ANALYST_FORM
) -> Response:
    host = host_of(request)
    if change == "resume":
        host.resume(job_id, sent.user)
    elif change == "cancel":
        if host.job(job_id)["status"] in FINISHED:
            raise Problem(409, f"job {job_id} has ended already")
        host.jobs.cancel(job_id)
        host.store.audit(sent.user.name, "cancel", f"job {job_id}")
    else:
        raise Problem(404, f"no such change: {change[:20]!r}")
    return RedirectResponse(f"/console/jobs/{job_id}", status_code=303)
