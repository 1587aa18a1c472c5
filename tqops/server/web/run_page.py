"""Run (analyst): the selected indicators, an operation's action that takes their types (the
types it does not take are named, and their results say so), its options drawn from the
manifest with their descriptions and checks, and Run."""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError, InputError
from tqops.server.auth import Problem, host_of
from tqops.server.host import MAX_INDICATORS_PER_CALL, Host
from tqops.server.web.forms import OPTION_PREFIX, draw_fields, field_values, problems_of
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, ANALYST_PAGE, Posted, Visitor

__all__ = ["router"]

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _selected(
    host: Host, ids: list[str], scope: str, kind: str, text: str
) -> tuple[list[dict[str, Any]], int]:
    """The selected indicators (by id, or all that match the filter) and how many matched."""
    if scope == "filter":
        total, rows = host.store.indicators(kind or None, text or None, 0, MAX_INDICATORS_PER_CALL)
        return rows, total
    found = [host.store.indicator(int(i)) for i in ids[:MAX_INDICATORS_PER_CALL] if i.isdigit()]
    rows = [row for row in found if row is not None]
    return rows, len(rows)


def _effective(op: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The operation's configuration as a run sees it: each unset field at its default."""
    return {
        f["name"]: values.get(f["name"]) if values.get(f["name"]) is not None else f.get("default")
        for f in op["config"]
    }


def _applies(option: dict[str, Any], config: dict[str, Any]) -> bool:
    terms = (option.get("when") or {}).get("terms") or ()
    return all(config.get(name) in allowed for name, allowed in terms)


def _as_configured(option: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """An option with the format the configuration picks for it (``format_when``)."""
    by_value = option.get("format_when")
    if not by_value:
        return option
    picked = dict(by_value.get("cases") or ()).get(config.get(by_value.get("field")))
    return {**option, "format": picked} if picked else option


def _choices(host: Host, counts: Counter[str]) -> list[dict[str, Any]]:
    """Each enabled operation's actions, with the selected types each takes and does not."""
    found = []
    for op in host.operations():
        if "error" in op or not op["enabled"]:
            continue
        config = _effective(op, host.masked_config(op["name"])["values"])
        for action in op["actions"]:
            takes = set(action["indicator_types"])
            options = [_as_configured(o, config) for o in action["options"] if _applies(o, config)]
            found.append(
                {
                    "key": f"{op['name']}/{action['name']}",
                    "operation": op,
                    "action": action,
                    "options": options,
                    "taken": {t: n for t, n in sorted(counts.items()) if t in takes},
                    "not_taken": {t: n for t, n in sorted(counts.items()) if t not in takes},
                }
            )
    found.sort(key=lambda c: -sum(c["taken"].values()))
    return found


def _run_page(
    request: Request,
    ids: list[str],
    scope: str,
    kind: str,
    text: str,
    chosen: str = "",
    entered: Optional[dict[str, Any]] = None,
    problems: Any = None,
    status: int = 200,
) -> Response:
    host = host_of(request)
    rows, matched = _selected(host, ids, scope, kind, text)
    counts = Counter(row["type"] for row in rows)
    choices = _choices(host, counts)
    current = next((c for c in choices if c["key"] == chosen), choices[0] if choices else None)
    fields = []
    if current is not None:
        defaults = {o["name"]: o.get("default") for o in current["options"]}
        fields = draw_fields(
            current["options"],
            {**defaults, **(entered or {})},
            {},
            problems.by_field if problems else {},
            OPTION_PREFIX,
        )
    context = {
        "rows": rows,
        "matched": matched,
        "counts": sorted(counts.items()),
        "choices": choices,
        "current": current,
        "fields": fields,
        "general": problems.general if problems else (),
        "selection": {
            "ids": [str(r["id"]) for r in rows] if scope != "filter" else [],
            "scope": scope,
            "type": kind,
            "q": text,
        },
        "limit": MAX_INDICATORS_PER_CALL,
    }
    fragment = request.headers.get("hx-request") and request.method == "GET"
    return render(request, "run_details.html" if fragment else "run.html", context, status)


@router.get("/console/run")
def run_form(
    request: Request,
    scope: str = "selected",
    type: str = "",
    q: str = "",
    action: str = "",
    visitor: Visitor = ANALYST_PAGE,
) -> Response:
    ids = request.query_params.getlist("id")
    return _run_page(request, ids, scope, type, q, action)


@router.post("/console/run")
def run(request: Request, sent: Posted = ANALYST_FORM) -> Response:
    host = host_of(request)
    ids, scope = sent.texts("id"), sent.text("scope") or "selected"
    kind, text, key = sent.text("type"), sent.text("q"), sent.text("action")
    rows, _ = _selected(host, ids, scope, kind, text)
    if not rows:
        raise Problem(400, "no indicators are selected: choose some on the Indicators page")
    choice = next((c for c in _choices(host, Counter()) if c["key"] == key), None)
    if choice is None:
        raise Problem(400, f"no enabled operation has the action {key[:80]!r}")
    values = field_values(choice["options"], sent.form, OPTION_PREFIX, only_shown=False)
    options = {k: v for k, v in values.items() if v is not None}
    operation, action = choice["operation"]["name"], choice["action"]["name"]
    try:
        job = host.create_job(operation, action, options, [r["id"] for r in rows], None, sent.user)
    except (InputError, ConfigError) as exc:
        problems = problems_of(exc, [str(o["name"]) for o in choice["options"]])
        return _run_page(request, ids, scope, kind, text, key, values, problems, 400)
    return RedirectResponse(f"/console/jobs/{job['id']}", status_code=303)
