"""Run (analyst): the selected indicators, an operation's action that takes their types (the
types it does not take are named, and their results say so), its options drawn from the
manifest with their descriptions and checks, and Run. An operation that is disabled or not
configured is listed, marked, and cannot be started: its Run button is disabled with the
reason, and the host refuses a run of it in one line."""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

import attrs
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tqops.errors import ConfigError, InputError
from tqops.server.auth import Problem, host_of
from tqops.server.host import MAX_INDICATORS_PER_CALL, Host
from tqops.server.hosted import HostedOperation
from tqops.server.web.forms import OPTION_PREFIX, draw_fields, field_values, problems_of
from tqops.server.web.rendering import render
from tqops.server.web.route import ConsoleRoute
from tqops.server.web.sessions import ANALYST_FORM, ANALYST_PAGE, Posted, Visitor
from tqops.service import ActionView, OptionView

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


@attrs.frozen
class Choice:
    """An operation's action, as the Run page offers it for the selection."""

    operation: HostedOperation
    action: ActionView
    #: the selected types it takes, and those it does not, with how many of each
    taken: dict[str, int]
    not_taken: dict[str, int]
    #: why it cannot run now: "disabled" or "not configured" ("" when it can run)
    blocked: str = ""
    #: the problems of its stored configuration, in the fields' labels
    missing: tuple[str, ...] = ()

    @property
    def refusal(self) -> str:
        """The one line the host answers to a run of it."""
        if not self.blocked:
            return ""
        what = f" ({'; '.join(self.missing)})" if self.missing else ""
        fix = "enable" if self.blocked == "disabled" else "configure"
        return f"{self.operation.label} is {self.blocked}{what}: an admin can {fix} it"

    @property
    def key(self) -> str:
        return f"{self.operation.name}/{self.action.name}"

    @property
    def options(self) -> tuple[OptionView, ...]:
        """The options the stored configuration takes (as the run will check them)."""
        return self.action.applicable_options


def _choices(host: Host, counts: Counter[str]) -> list[Choice]:
    """Each operation's actions, with the selected types each takes and does not; those that
    can run first."""
    found = []
    for op in host.hosted_operations():
        if not isinstance(op, HostedOperation):
            continue
        blocked, missing = host.blocked(op.name)
        for action in op.actions:
            takes = set(action.indicator_types)
            found.append(
                Choice(
                    op,
                    action,
                    {t: n for t, n in sorted(counts.items()) if t in takes},
                    {t: n for t, n in sorted(counts.items()) if t not in takes},
                    blocked,
                    missing,
                )
            )
    found.sort(key=lambda c: (bool(c.blocked), -sum(c.taken.values())))
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
    current = next((c for c in choices if c.key == chosen), choices[0] if choices else None)
    fields = []
    if current is not None:
        defaults = {o.name: o.default for o in current.options}
        fields = draw_fields(
            current.options,
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
    choice = next((c for c in _choices(host, Counter()) if c.key == key), None)
    if choice is None:
        raise Problem(400, f"no operation has the action {key[:80]!r}")
    if choice.blocked:
        raise Problem(409, choice.refusal)
    values = field_values(choice.options, sent.form, OPTION_PREFIX, only_shown=False)
    options = {k: v for k, v in values.items() if v is not None}
    operation, action = choice.operation.name, choice.action.name
    try:
        job = host.create_job(operation, action, options, [r["id"] for r in rows], None, sent.user)
    except (InputError, ConfigError) as exc:
        problems = problems_of(exc, [o.name for o in choice.options])
        return _run_page(request, ids, scope, kind, text, key, values, problems, 400)
    return RedirectResponse(f"/console/jobs/{job['id']}", status_code=303)
