"""Indicators: the store filtered by type and text, sorted and paged; adding by pasting a list
or uploading a CSV (analyst); the selection (checkboxes, all on the page, or all that match
the filter) that the Run page takes; a search of every job's stored results; and one
indicator's page: its stored attributes, its enrichment history, Run, Delete and the pivots
(an operation run on it, or on a value a job found, in one step)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional
from urllib.parse import urlencode

import attrs
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError, InputError
from tqops.model import IndicatorType
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host, parse_indicator_csv
from tqops.server.hosted import HostedOperation
from tqops.server.web.paste import items_from_paste
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, VIEWER_PAGE, Posted, Visitor
from tqops.tlp import LEVELS

__all__ = ["PAGE_SIZE", "PAGE_SIZES", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 50
#: the page sizes the list offers
PAGE_SIZES = (25, 50, 100, 200)
TYPES = tuple(t.value for t in IndicatorType)
#: the list's sortable columns (the store's sorts), each with its header
SORTABLE = {"type": "Type", "value": "Value", "tlp": "TLP", "added": "Added"}
#: types whose values are one unbroken token (a hash): the list never wraps them mid-value
UNBROKEN = ("MD5", "SHA-1", "SHA-256", "SHA-512", "Fuzzy Hash")
#: how many jobs an indicator's page lists, and how many results a search page shows
HISTORY_LIMIT = 100
SEARCH_PAGE = 25
#: a search of stored results takes 3 to 200 characters (shorter would match nearly all)
SEARCH_MIN, SEARCH_MAX = 3, 200


@attrs.frozen
class Listing:
    """How the list is filtered, sorted and paged, as its links and forms carry it."""

    kind: str = ""
    text: str = ""
    sort: str = "added"
    descending: bool = True
    size: int = PAGE_SIZE

    def query(self, **changes: Any) -> str:
        """The list's query string with ``changes`` (``offset`` among them)."""
        values = {"type": self.kind, "q": self.text, "sort": self.sort,
                  "order": "desc" if self.descending else "asc", "size": self.size}  # fmt: skip
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def sorted_by(self, column: str) -> str:
        """The list sorted by ``column``: the other way round when it is sorted by it
        already, else newest, last and strictest first for added and TLP, A to Z otherwise."""
        fresh = column in ("added", "tlp")
        descending = not self.descending if column == self.sort else fresh
        return "/console/indicators?" + self.query(
            sort=column, order="desc" if descending else "asc"
        )


def _listing(request: Request, listing: Listing, offset: int) -> dict[str, Any]:
    store = host_of(request).store
    total, rows = store.indicators(
        listing.kind or None, listing.text or None, offset, listing.size,
        listing.sort, listing.descending,
    )  # fmt: skip
    return {
        "rows": rows,
        "total": total,
        "offset": offset,
        "page_size": listing.size,
        "page_sizes": PAGE_SIZES,
        "listing": listing,
        "sortable": SORTABLE,
        "filter": {"type": listing.kind, "q": listing.text},
        "types": TYPES,
        "tlps": LEVELS,
        "unbroken": UNBROKEN,
    }


def _indicators_page(
    request: Request,
    listing: Optional[Listing] = None,
    offset: int = 0,
    added: Optional[dict[str, Any]] = None,
    deleted: str = "",
    status: int = 200,
) -> Response:
    context = {
        **_listing(request, listing or Listing(), offset),
        "added": added,
        "deleted": deleted,
    }
    return render(request, "indicators.html", context, status)


@router.get("/console/indicators")
def indicators(
    request: Request,
    type: str = "",
    q: str = "",
    offset: int = 0,
    sort: str = "added",
    order: str = "desc",
    size: int = PAGE_SIZE,
    deleted: str = "",
    visitor: Visitor = VIEWER_PAGE,
) -> Response:
    listing = Listing(
        type if type in TYPES else "",
        q.strip()[:200],
        sort if sort in SORTABLE else "added",
        order != "asc",
        size if size in PAGE_SIZES else PAGE_SIZE,
    )
    return _indicators_page(request, listing, max(0, offset), deleted=deleted[:200])


def _summary(items: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What adding did: how many were new or stored already, and each line's note or error."""
    lines = []
    new = known = 0
    for row in rows:
        item = items[row["index"]]
        where = item.get("where") or (f"Line {item['line']}" if item.get("line") else "")
        if row.get("error"):
            if row["error"].startswith(where):  # the error names its line itself
                where = ""
            lines.append({"line": where, "error": row["error"]})
            continue
        new += bool(row.get("created"))
        known += not row.get("created")
        if row.get("note"):
            lines.append({"line": where, "note": row["note"], "value": row.get("value")})
    errors = sum(1 for line in lines if "error" in line)
    return {"new": new, "known": known, "errors": errors, "lines": lines}


@router.post("/console/indicators")
async def add(request: Request, sent: Posted = ANALYST_FORM) -> Response:
    """Pasted lines and a CSV file (``type,value[,tlp]``), each read on its own."""
    tlp = sent.text("tlp") or None
    items = items_from_paste(str(sent.form.get("text") or ""), tlp)
    upload = sent.form.get("file")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data = await upload.read()
        source = _file_name(upload.filename)
        rows = parse_indicator_csv(data, source)
        for row in rows:
            # each row by its line in the file: 1-based, the header (if any) is line 1
            row["where"] = f"{source} line {row['line']}" if row.get("line") else source
            if not row.get("tlp") and tlp:
                row["tlp"] = tlp
        items += rows
    if not items:
        added = {"new": 0, "known": 0, "errors": 1, "lines": [
            {"line": "", "error": "paste indicators or choose a CSV file first"}]}  # fmt: skip
        return _indicators_page(request, added=added, status=400)
    host = host_of(request)
    rows = await asyncio.to_thread(host.add_indicators, items, sent.user)
    return _indicators_page(request, added=_summary(items, rows))


def _file_name(name: str) -> str:
    """An uploaded file's name as messages show it (no path, no control character, short)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(c for c in base if c.isprintable())[:60]
    return shown or "the CSV file"


# -- labels ----------------------------------------------------------------------------------


def _labels(host: Host, operation: str, action: str) -> str:
    """``DCSO TIE: Search DCSO TIE``: an operation's and an action's labels from the manifest
    (the names as they are for an operation no longer installed)."""
    try:
        manifest = host.service.describe(operation)
        return f"{manifest.label}: {manifest.action(action).label}"
    except (ValueError, LookupError, ConfigError):
        return f"{operation}: {action}"


def _verdict(result: Optional[str]) -> Optional[dict[str, Any]]:
    """A stored result's verdict (None without one, or for a result not read as JSON)."""
    try:
        found = json.loads(result) if result else None
    except ValueError:
        return None
    verdict = found.get("verdict") if isinstance(found, dict) else None
    return verdict if isinstance(verdict, dict) else None


# -- pivots ----------------------------------------------------------------------------------


@attrs.frozen
class Pivot:
    """An action an indicator of some type can be run through in one step."""

    key: str
    label: str


def pivots(host: Host, kind: str) -> list[Pivot]:
    """The actions of every enabled, configured operation that take ``kind``."""
    found = []
    for op in host.hosted_operations():
        if not isinstance(op, HostedOperation) or not op.enabled or not op.configured:
            continue
        for action in op.actions:
            if kind in action.indicator_types:
                found.append(Pivot(f"{op.name}/{action.name}", f"{op.label}: {action.label}"))
    return found


def _check_pivot(host: Host, key: str, kind: str) -> None:
    """Refuse an action that is not among ``kind``'s pivots, naming it by its labels."""
    if key not in {p.key for p in pivots(host, kind)}:
        operation, _, action = key.partition("/")
        raise Problem(
            400,
            f"{_labels(host, operation[:60], action[:60])} cannot run on this {kind[:40]}: it is "
            f"disabled, not configured, or does not take {kind[:40]}",
        )


def _run_one(request: Request, host: Host, indicator_id: int, key: str, sent: Posted) -> Response:
    """Run an action on one stored indicator with the action's default options; the job's
    page (an htmx request is told where it is through ``HX-Redirect``)."""
    operation, _, action = key.partition("/")
    row = host.store.indicator(indicator_id)
    if row is None:
        raise Problem(404, f"no indicator with id {indicator_id}")
    _check_pivot(host, key, row["type"])
    try:
        job = host.create_job(operation, action, {}, [indicator_id], None, sent.user)
    except (InputError, ConfigError) as exc:
        raise Problem(400, " ".join(str(exc).split())) from None
    where = f"/console/jobs/{job['id']}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": where})
    return RedirectResponse(where, status_code=303)


def _found_in(host: Host, job_id: int, seq: int, kind: str, value: str) -> dict[str, Any]:
    """The indicator a job's result found, by its type and value (404 when it found none)."""
    row = host.store.stored_result(job_id, seq)
    if row is not None:
        for found in json.loads(row["result"]).get("indicators", []):
            if (found.get("type"), found.get("value")) == (kind, value):
                return dict(found)
    raise Problem(404, f"job {job_id} found no such indicator in its result {seq + 1}")


@router.get("/console/indicators/pivot")
def pivot_menu(
    request: Request,
    job: int,
    seq: int,
    type: str,
    value: str,
    visitor: Visitor = VIEWER_PAGE,
) -> Response:
    """What a job's found indicator can be run through: a fragment of buttons on the job's
    page (htmx), or a page of its own."""
    host = host_of(request)
    found = _found_in(host, job, seq, type, value)
    context = {
        "found": found,
        "job_id": job,
        "seq": seq,
        "pivots": pivots(host, str(found.get("type"))),
        "fragment": bool(request.headers.get("hx-request")),
    }
    template = "indicator_pivot_menu.html" if context["fragment"] else "indicator_pivot.html"
    return render(request, template, context)


@router.post("/console/indicators/pivot")
def pivot(request: Request, sent: Posted = ANALYST_FORM) -> Response:
    """Run an action on what a job found, in one step: the found value is stored as an
    indicator first (with its TLP, the stricter of its sources' and the search's; a stored
    indicator's is never lowered), then the job is queued on it."""
    try:
        return _pivot(request, sent)
    except Problem as exc:
        if not request.headers.get("hx-request"):
            raise
        # the menu on the job's page says why, in place (htmx swaps no error answer)
        return render(request, "indicator_pivot_error.html", {"message": exc.message})


def _pivot(request: Request, sent: Posted) -> Response:
    host = host_of(request)
    job_id, seq = sent.text("pivot_job"), sent.text("pivot_seq")
    if not job_id.isdigit() or not seq.isdigit():
        raise Problem(400, "a pivot names the job and the result it found the indicator in")
    kind, value = sent.text("pivot_type"), str(sent.form.get("pivot_value") or "")
    _found_in(host, int(job_id), int(seq), kind, value)
    key = sent.text("pivot_action")
    _check_pivot(host, key, kind)
    done = host.import_summary(int(job_id), [int(seq)], sent.user, only=(kind, value))
    if not done["indicators"]:
        raise Problem(400, f"the platform does not take this {kind[:40]} as an indicator")
    return _run_one(request, host, done["indicators"][0], key, sent)


# -- searching every job's results -------------------------------------------------------------


@router.get("/console/indicators/found")
def search(
    request: Request, q: str = "", offset: int = 0, visitor: Visitor = VIEWER_PAGE
) -> Response:
    """Which jobs found a value: the stored results that contain it, newest job first."""
    host = host_of(request)
    text = " ".join(q.split())
    problem = ""
    total, stopped, rows = 0, False, []
    if text and not SEARCH_MIN <= len(text) <= SEARCH_MAX:
        problem = f"search for {SEARCH_MIN} to {SEARCH_MAX} characters"
    elif text:
        total, stopped, rows = host.store.search_results(text, max(0, offset), SEARCH_PAGE)
    found = []
    for row in rows:
        result = json.loads(row["result"])
        wanted = text.lower()
        matches = [
            i for i in result.get("indicators", [])
            if wanted in json.dumps(i, ensure_ascii=False).lower()
        ]  # fmt: skip
        found.append(
            {
                "job_id": row["job_id"],
                "seq": row["seq"],
                "status": row["status"],
                "operation": _labels(host, row["operation"], row["action"]),
                "by": row["created_by"],
                "at": row["created_at"],
                "input": result.get("input") or {},
                "verdict": _verdict(row["result"]),
                "matches": matches[:5],
            }
        )
    context = {
        "q": text,
        "problem": problem,
        "total": total,
        "stopped": stopped,
        "found": found,
        "offset": max(0, offset),
        "page_size": SEARCH_PAGE,
    }
    return render(request, "indicators_found.html", context, 400 if problem else 200)


# -- one indicator ---------------------------------------------------------------------------


def _history(host: Host, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs that searched an indicator, newest first, with this input's verdict."""
    rows = host.store.indicator_history(row["id"], row["type"], row["value"], HISTORY_LIMIT)
    return [
        {
            "job_id": r["job_id"],
            "seq": r["seq"],
            "operation": _labels(host, r["operation"], r["action"]),
            "at": r["created_at"],
            "by": r["created_by"],
            "job_status": r["job_status"],
            "status": r["status"],
            "verdict": _verdict(r["result"]),
        }
        for r in rows
    ]


@router.get("/console/indicators/{indicator_id}")
def indicator_page(indicator_id: int, request: Request, visitor: Visitor = VIEWER_PAGE) -> Response:
    host = host_of(request)
    row = host.store.indicator(indicator_id)
    if row is None:
        raise Problem(404, f"no indicator with id {indicator_id}")
    context = {
        "indicator": row,
        "attributes": host.store.indicator_attributes_stored(indicator_id),
        "history": _history(host, row),
        "history_limit": HISTORY_LIMIT,
        "pivots": pivots(host, row["type"]),
        "unbroken": UNBROKEN,
    }
    return render(request, "indicator.html", context)


@router.post("/console/indicators/{indicator_id}/run")
def run_on(indicator_id: int, request: Request, sent: Posted = ANALYST_FORM) -> Response:
    """Run an action on this indicator now, with the action's default options."""
    return _run_one(request, host_of(request), indicator_id, sent.text("action"), sent)


@router.post("/console/indicators/{indicator_id}/delete")
def delete(indicator_id: int, request: Request, sent: Posted = ANALYST_FORM) -> Response:
    """Delete an indicator and its attributes (the jobs that searched it keep their inputs
    and results); on the audit log."""
    host = host_of(request)
    row = host.store.indicator(indicator_id)
    if row is None or not host.store.delete_indicator(indicator_id):
        raise Problem(404, f"no indicator with id {indicator_id}")
    shown = f"{row['type']} {row['value']}"
    host.store.audit(sent.user.name, "delete", f"indicator {indicator_id}", shown[:300])
    where = "/console/indicators?" + urlencode({"deleted": shown[:200]})
    return RedirectResponse(where, status_code=303)
