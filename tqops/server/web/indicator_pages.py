"""Indicators: the store filtered by type and text and paged; adding by pasting a list or
uploading a CSV (analyst); and the selection (checkboxes, all on the page, or all that match
the filter) that the Run page takes."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tqops.model import IndicatorType
from tqops.server.auth import host_of
from tqops.server.host import parse_indicator_csv
from tqops.server.web.paste import items_from_paste
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, VIEWER_PAGE, Posted, Visitor
from tqops.tlp import LEVELS

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 50
TYPES = tuple(t.value for t in IndicatorType)


def _listing(request: Request, kind: str, text: str, offset: int) -> dict[str, Any]:
    store = host_of(request).store
    total, rows = store.indicators(kind or None, text or None, offset, PAGE_SIZE)
    return {
        "rows": rows,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "filter": {"type": kind, "q": text},
        "types": TYPES,
        "tlps": LEVELS,
    }


def _indicators_page(
    request: Request,
    kind: str = "",
    text: str = "",
    offset: int = 0,
    added: Optional[dict[str, Any]] = None,
    status: int = 200,
) -> Response:
    context = {**_listing(request, kind, text, offset), "added": added}
    return render(request, "indicators.html", context, status)


@router.get("/console/indicators")
def indicators(
    request: Request,
    type: str = "",
    q: str = "",
    offset: int = 0,
    visitor: Visitor = VIEWER_PAGE,
) -> Response:
    kind = type if type in TYPES else ""
    return _indicators_page(request, kind, q.strip()[:200], max(0, offset))


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
