"""Jobs: the history (who ran what, when, on how many inputs); one job's live progress (fed
by its events: the numbers, and a few milestones for screen readers), Cancel and Resume; its
results read as answers (each input's verdict first, the found indicators as exact and
related matches, their attributes summed up and grouped per observation), searched, sorted
and filtered by status; downloads as JSON and CSV; and "Add to platform"."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from tqops.dates import parse_datetime
from tqops.errors import OperationError
from tqops.model import LEVELS
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host
from tqops.server.job_exports import job_export
from tqops.server.jobs import FINISHED
from tqops.server.web.exports import results_csv, results_json
from tqops.server.web.rendering import render, render_text
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, VIEWER_PAGE, Posted, Visitor

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 50
STATUSES = ("ok", "no_results", "skipped", "error")
#: what each status reads as (a skip is the host's policy at work: never an error)
STATUS_LABELS = {
    "ok": "Found",
    "no_results": "Nothing found",
    "skipped": "Skipped",
    "error": "Error",
}
#: the orders of a job's results: input order, the most alarming verdict first, input A-Z
SORTS = {"input": "Input order", "verdict": "Most alarming first", "value": "Input value, A to Z"}
#: a search or another order reads this many of the job's results at most (in input order)
MAX_SCANNED = 20_000
EVENT_EVERY = 0.25
#: the progress the live region announces (besides the start and the end): each quarter
QUARTERS = {1: "25 %", 2: "half", 3: "75 %"}
#: a date and time in ISO 8601, as vendors and the JSON contract write them
_ISO_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|z|[+-]\d{2}:?\d{2})?"
)


# -- labels -----------------------------------------------------------------------------------


class Labels:
    """The manifests' labels of operations, actions and options (the internal name where the
    operation is no longer installed), looked up once per page."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._actions: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {}

    def _lookup(self, operation: str, action: str) -> tuple[str, str, dict[str, Any]]:
        key = (operation, action)
        if key not in self._actions:
            try:
                manifest = self.host.service.describe(operation)
                spec = manifest.action(action)
                found = (manifest.label, spec.label, {o.name: o for o in spec.options})
            except (LookupError, ValueError, OperationError):  # uninstalled since
                found = (operation, action, {})
            self._actions[key] = found
        return self._actions[key]

    def of(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """The job's operation and action labels, the title they make, and its options as
        ``(label, text)``."""
        operation, action, options = self._lookup(job["operation"], job["action"])
        shown = []
        for name, value in (job.get("options") or {}).items():
            field = options.get(name)
            label = field.label if field is not None else name
            if isinstance(value, bool):
                text = "on" if value else "off"
            elif field is not None and field.choices and isinstance(value, str):
                text = field.choice_label(value)
            else:
                text = str(value)
            shown.append((label, text))
        # the action's label names its operation as a rule ("Search DCSO TIE"); else both
        title = action if operation.casefold() in action.casefold() else f"{operation}: {action}"
        return {
            "operation_label": operation,
            "action_label": action,
            "title": title,
            "option_texts": shown,
        }


# -- the history ----------------------------------------------------------------------------


@router.get("/console/jobs")
def history(request: Request, offset: int = 0, visitor: Visitor = VIEWER_PAGE) -> Response:
    host = host_of(request)
    offset = max(0, offset)
    labels = Labels(host)
    jobs = [host.job(row["id"]) for row in host.store.jobs(offset, PAGE_SIZE + 1)]
    jobs = [{**job, **labels.of(job)} for job in jobs]
    context = {"jobs": jobs[:PAGE_SIZE], "offset": offset, "more": len(jobs) > PAGE_SIZE}
    return render(request, "jobs.html", context)


# -- one job's results, read as answers -----------------------------------------------------


def moment(text: str) -> str:
    """An ISO 8601 date and time as the console writes every one: ``2020-03-16 14:56 UTC``
    (other text as it is)."""
    try:
        return parse_datetime(text).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError):
        return text


def dates_in(text: str) -> str:
    """Every ISO 8601 date and time in ``text`` written as :func:`moment` writes it."""
    return _ISO_MOMENT.sub(lambda m: moment(m.group(0)), text)


def _reading_of(host: Host, job: Mapping[str, Any]) -> Optional[Any]:
    """How the job's action reads found indicators (labels, scales, groups), with the API
    version the operation is configured with now (masked values: only that field is read);
    None where the operation is no longer installed."""
    name, action = job["operation"], job["action"]
    try:
        values: Optional[Mapping[str, Any]] = host.masked_config(name)["values"]
    except (LookupError, ValueError, TypeError, KeyError, OperationError):
        values = None  # not configured: the default API version
    try:
        return host.service.reader(name, action, values)
    except (LookupError, ValueError, OperationError):
        return None


def _plain_reading(found: Mapping[str, Any]) -> dict[str, Any]:
    """A found indicator's attributes grouped by date, newest first, under their own names
    (for an operation no longer installed: no labels, no scales, no summary)."""
    groups: dict[Optional[str], list[dict[str, Any]]] = {}
    for item in found.get("attributes") or ():
        if isinstance(item, Mapping) and "name" in item:
            published = item.get("published_at") or None
            value = str(item.get("value", ""))
            name = str(item["name"])
            row = {"name": name, "label": name, "value": value, "text": value, "detail": False}
            groups.setdefault(published, []).append(row)
    dated = sorted((d for d in groups if d is not None), reverse=True)
    order = [*dated, *([None] if None in groups else [])]
    return {
        "called": "observation",
        "summary": [],
        "groups": [{"published_at": d, "attributes": groups[d]} for d in order],
    }


def _found_view(found: Mapping[str, Any], reader: Optional[Any]) -> dict[str, Any]:
    """A found indicator as the page shows it: its summary lines, then its groups (newest
    first), each with its attributes' labels and texts (values on their scales, dates in one
    format) and its detail attributes apart."""
    reading = reader.read(found).to_dict() if reader is not None else _plain_reading(found)
    groups = []
    for group in reading["groups"]:
        rows = [
            {"label": a["label"], "text": dates_in(a["text"]), "detail": a["detail"]}
            for a in group["attributes"]
        ]
        groups.append(
            {
                "published_at": group["published_at"],
                "main": [r for r in rows if not r["detail"]],
                "detail": [r for r in rows if r["detail"]],
            }
        )
    return {
        "type": found.get("type", ""),
        "value": found.get("value", ""),
        "match": found.get("match"),
        "published_at": found.get("published_at"),
        "called": reading["called"],
        "summary": [(line["label"], dates_in(line["text"])) for line in reading["summary"]],
        "groups": groups,
        "attributes": sum(len(g["main"]) + len(g["detail"]) for g in groups),
    }


def _result_view(seq: int, result: Mapping[str, Any], reader: Optional[Any]) -> dict[str, Any]:
    found = [f for f in result.get("indicators") or () if isinstance(f, Mapping)]
    views = [_found_view(f, reader) for f in found]
    verdict = result.get("verdict") if isinstance(result.get("verdict"), Mapping) else None
    status = str(result.get("status", ""))
    return {
        "seq": seq,
        "input": result.get("input") or {},
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "verdict": verdict,
        "error": result.get("error"),
        "reason": result.get("reason"),
        "warnings": result.get("warnings") or [],
        # a found indicator without a match (mapped offline) reads as the searched one's
        "exact": [v for v in views if v["match"] != "related"],
        "related": [v for v in views if v["match"] == "related"],
        "attributes": sum(v["attributes"] for v in views),
    }


def _searchable(result: Mapping[str, Any]) -> str:
    """What a search within a job looks in: the input, the found indicators and their
    attributes' values, the verdict's reasons, the error and the reason for a skip."""
    parts = [str((result.get("input") or {}).get("value", ""))]
    for found in result.get("indicators") or ():
        if isinstance(found, Mapping):
            parts.append(str(found.get("value", "")))
            attributes = [a for a in found.get("attributes") or () if isinstance(a, Mapping)]
            parts.extend(str(a.get("value", "")) for a in attributes)
    verdict = result.get("verdict")
    if isinstance(verdict, Mapping):
        parts.extend(str(r) for r in verdict.get("reasons") or ())
    parts.extend(str(result.get(k) or "") for k in ("error", "reason"))
    return "\n".join(parts).casefold()


def _alarm(result: Mapping[str, Any]) -> tuple[int, int]:
    """How alarming a result's verdict is: its level's rank, then its score (none: -1)."""
    verdict = result.get("verdict")
    if not isinstance(verdict, Mapping) or verdict.get("level") not in LEVELS:
        return (-1, -1)
    score = verdict.get("score")
    return (LEVELS.index(verdict["level"]), score if isinstance(score, int) else -1)


def _rows(
    host: Host, job_id: int, status: str, q: str, sort: str, offset: int
) -> tuple[int, list[tuple[int, dict[str, Any]]], bool]:
    """The page of results asked for, the number there are, and whether a search or an order
    had to leave results out (past :data:`MAX_SCANNED`)."""
    if not q and sort == "input":  # the store pages them itself
        total, rows = host.store.results(job_id, status or None, offset, PAGE_SIZE)
        return total, [(row["seq"], json.loads(row["result"])) for row in rows], False
    total, rows = host.store.results(job_id, status or None, 0, MAX_SCANNED)
    results = [(row["seq"], json.loads(row["result"])) for row in rows]
    if q:
        wanted = q.casefold()
        results = [(seq, r) for seq, r in results if wanted in _searchable(r)]
    if sort == "verdict":
        results.sort(key=lambda item: tuple(-n for n in _alarm(item[1])))  # stable: input order
    elif sort == "value":
        results.sort(key=lambda item: str((item[1].get("input") or {}).get("value", "")).casefold())
    return len(results), results[offset : offset + PAGE_SIZE], total > MAX_SCANNED


def _query(**values: Any) -> str:
    """A job page's query string, without the values at their defaults."""
    defaults = {"status": "", "q": "", "sort": "input", "offset": 0}
    return urlencode({k: v for k, v in values.items() if v != defaults.get(k)})


def _refresh(status: str, q: str, sort: str, offset: int) -> str:
    """The query of the results' refreshes while the job runs: the page as it is shown, the
    status always named (``status=`` for all), as each refresh has always been asked."""
    rest = _query(q=q, sort=sort, offset=offset)
    return urlencode({"status": status}) + (f"&{rest}" if rest else "")


def _results(
    request: Request, job: Mapping[str, Any], status: str, q: str, sort: str, offset: int
) -> dict[str, Any]:
    host = host_of(request)
    job_id = job["id"]
    store = host.store
    total, rows, cut = _rows(host, job_id, status, q, sort, offset)
    counts = {s: store.results(job_id, s, 0, 1)[0] for s in STATUSES}
    reader = _reading_of(host, job) if rows else None
    return {
        "results": [_result_view(seq, result, reader) for seq, result in rows],
        "total": total,
        "counts": counts,
        "all": sum(counts.values()),
        "status": status,
        "status_labels": STATUS_LABELS,
        "q": q,
        "sort": sort,
        "sorts": SORTS,
        "cut": cut,
        "max_scanned": MAX_SCANNED,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "refresh_query": _refresh(status, q, sort, offset),
        "pager_base": _query(status=status, q=q, sort=sort),
        "tab_query": {s: _query(status=s, q=q, sort=sort) for s in ("", *STATUSES)},
    }


def _progress(job: dict[str, Any], running: bool) -> dict[str, Any]:
    return {"job": job, "running": running, "live": running or job["status"] not in FINISHED}


@router.get("/console/jobs/{job_id}")
def job_page(
    job_id: int,
    request: Request,
    status: str = "",
    q: str = "",
    sort: str = "input",
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
    job = {**job, **Labels(host).of(job)}
    status = status if status in STATUSES else ""
    sort = sort if sort in SORTS else "input"
    q = " ".join(q.split())[:200]
    context = {
        **_progress(job, host.jobs.running(job_id)),
        **_results(request, job, status, q, sort, max(0, offset)),
        "added": added,
        # what "Add to platform" stored (the notice links the one indicator it added to)
        "imported": {
            "attributes": attributes,
            "to": to,
            "refused": refused,
            "indicator": indicator,
        },
    }
    if request.headers.get("hx-request"):  # the results, refreshed while the job runs
        return render(request, "job_results.html", context)
    return render(request, "job.html", context)


# -- the live progress ----------------------------------------------------------------------


def _event(name: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {name}\n{data}\n"


def _quarter(job: Mapping[str, Any]) -> int:
    """How many quarters of the job's inputs are done (0 to 4)."""
    return int(job["done"]) * 4 // max(int(job["total"]), 1)


def milestone(job: Mapping[str, Any], reached: int) -> tuple[Optional[str], int]:
    """What the live region says now (None: nothing new) and the milestone reached: -1 not
    started, 0 started, 1 to 3 each quarter done (the end is :func:`ended`)."""
    if job["status"] == "queued" and not job["done"]:
        return None, reached
    quarter = min(_quarter(job), 3)
    if reached < 0:
        return f"Job {job['id']} started, on {_count(job['total'], 'input')}.", max(quarter, 0)
    if quarter > reached:
        said = QUARTERS[quarter]
        return f"Job {job['id']}: {said} done, {job['done']} of {job['total']}.", quarter
    return None, reached


def ended(job: Mapping[str, Any]) -> str:
    """The live region's last words on a job."""
    parts = [f"{job['done']} of {job['total']} done"]
    if job["skipped"]:
        parts.append(f"{job['skipped']} skipped")
    if job["failed"]:
        parts.append(f"{job['failed']} failed")
    return f"Job {job['id']} ended: {job['status']}, " + ", ".join(parts) + "."


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"


@router.get("/console/jobs/{job_id}/events")
async def events(job_id: int, request: Request, visitor: Visitor = VIEWER_PAGE) -> Response:
    """The job's progress as server-sent events of HTML: ``progress`` (its numbers) while it
    runs, ``milestone`` when it starts and at each quarter done (what the live region says),
    then ``end`` (the whole progress block; the page closes the stream and fetches the
    results), after the milestone saying it ended."""
    host = host_of(request)
    await asyncio.to_thread(host.job, job_id)  # 404 before the stream starts

    def fragment(template: str, job: dict[str, Any], running: bool) -> str:
        return render_text(request, template, _progress(job, running))

    async def stream() -> AsyncIterator[str]:
        last = None
        reached: Optional[int] = None  # the milestone the page opened at: not announced
        while not await request.is_disconnected():
            job = await asyncio.to_thread(host.job, job_id)
            running = host.jobs.running(job_id)
            if job["status"] in FINISHED and not running:
                yield _event("milestone", ended(job))
                yield _event("end", fragment("job_progress.html", job, False))
                return
            if reached is None:  # opened before any input was done: the start is news
                reached = min(_quarter(job), 3) if job["done"] else -1
            said, reached = milestone(job, reached)
            if said:
                yield _event("milestone", said)
            if job != last:
                yield _event("progress", fragment("job_numbers.html", job, running))
                last = job
            await asyncio.sleep(EVENT_EVERY)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


# -- downloads, adding to the platform, cancel, resume and delete ----------------------------


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


@router.get("/console/jobs/{job_id}/export.{kind}")
def export(job_id: int, kind: str, request: Request, visitor: Visitor = VIEWER_PAGE) -> Response:
    """The results as a STIX 2.1 bundle (``export.stix``), a MISP event (``export.misp``) or
    a wide CSV, one row per found indicator (``export.wide-csv``)."""
    if kind not in ("stix", "misp", "wide-csv"):
        raise Problem(404, "results export as .stix, .misp or .wide-csv")
    body, media, name = job_export(host_of(request), job_id, kind)
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
    if change == "delete":  # its owner or an admin; an open job is cancelled first
        host.jobs.delete(job_id, sent.user)
        return RedirectResponse("/console/jobs", status_code=303)
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
