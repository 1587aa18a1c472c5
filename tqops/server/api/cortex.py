"""Cortex's analyzer API, as cortex4py and TheHive call it: each action of an installed operation
is an analyzer (``DCSO_TIE_Search``), each run a job of the host, its result the report.

Wire format after Cortex's own controllers and documentation (TheHive-Project/Cortex
``JobCtrl.scala``, ``models/Job.scala``, ``services/ErrorHandler.scala``; CortexDocs
``api/api-guide.md``) and cortex4py 2.1 (``api.py``, ``controllers/analyzers.py``,
``controllers/jobs.py``). ``Authorization: Bearer`` takes the host's API keys; errors are
``{"type", "message"}`` with 401, 403 and 404 as cortex4py maps them.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from tqops import __version__
from tqops.model import LEVELS
from tqops.server.api.common import (
    CORTEX_LEVELS,
    CORTEX_TYPES,
    ActionRef,
    actions,
    epoch_ms,
    find_action,
    job_results,
    parsed_json,
    platform_type,
    protocol_route,
    tlp_from_number,
    tlp_number,
    wait_for_job,
)
from tqops.server.api.cortexquery import matches, page
from tqops.server.auth import AnalystUser, CurrentUser, Problem, host_of
from tqops.server.host import Host

__all__ = ["router"]

_KINDS = {400: "BadRequest", 401: "AuthenticationError", 403: "AuthorizationError"}
_KINDS.update({404: "NotFoundError", 413: "BadRequest", 422: "BadRequest"})


def _render(status: int, message: str, headers: Optional[dict[str, str]]) -> JSONResponse:
    kind = _KINDS.get(status, "InternalError")
    return JSONResponse({"type": kind, "message": message}, status_code=status, headers=headers)


router = APIRouter(
    prefix="/api", tags=["cortex"], include_in_schema=False, route_class=protocol_route(_render)
)
#: how long ``waitreport`` waits at the most, whatever ``atMost`` says (``Inf`` included)
MAX_WAIT = 300.0
_STATUS = {"queued": "Waiting", "running": "InProgress"}
#: a duration's units (seconds first: a bare number is seconds), each as (short, long prefix)
_UNITS = {"s": ("s", "sec"), "ns": ("ns", "nano"), "us": ("us", "micro"), "ms": ("ms", "milli")}
_UNITS.update({"m": ("m", "min"), "h": ("h", "hour"), "d": ("d", "day")})
_SECONDS = {"s": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


# -- analyzers --------------------------------------------------------------------------------


def _analyzer(ref: ActionRef) -> dict[str, Any]:
    return {
        "id": ref.analyzer_id,
        "name": ref.analyzer_name,
        "version": ".".join(ref.manifest.version.split(".")[:2]),
        "description": ref.description,
        "author": ref.manifest.vendor or "",
        "url": "",
        "license": "",
        "dataTypeList": ref.cortex_types(),
        "workerDefinitionId": ref.analyzer_id,
        "analyzerDefinitionId": ref.analyzer_id,
        "baseConfig": ref.operation,
        "jobCache": int(ref.settings["cache_ttl"]) // 60,
        "maxTlp": tlp_number(str(ref.settings["max_tlp"])),
        "maxPap": 3,
        "rate": None,
        "rateUnit": None,
        "type": "analyzer",
        "createdBy": "tqops",
    }


def _analyzers(host: Host) -> list[dict[str, Any]]:
    """The enabled analyzers (Cortex lists no disabled one)."""
    return [_analyzer(ref) for ref in actions(host, enabled_only=True)]


def _ref(host: Host, analyzer: str) -> ActionRef:
    for ref in actions(host, enabled_only=True):
        if analyzer in (ref.analyzer_id, ref.analyzer_name):
            return ref
    raise Problem(404, f"analyzer {analyzer[:80]} not found")


@router.get("/status")
def status(user: CurrentUser) -> dict[str, Any]:
    # versions.Cortex is what TheHive reads to know what it talks to: the API this speaks
    return {
        "versions": {"Cortex": "3.1.8", "tqops": __version__},
        "config": {"authType": ["key"], "capabilities": ["authByKey"], "ssoAutoLogin": False},
    }


@router.get("/analyzer")
def list_analyzers(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    return page(_analyzers(host_of(request)), range, sort)


@router.post("/analyzer/_search")
async def search_analyzers(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    body = await _body(request)
    query = body.get("query") or {}
    found = [a for a in _analyzers(host_of(request)) if matches(query, a)]
    return page(found, body.get("range") or range, body.get("sort") or sort)


@router.get("/analyzer/type/{data_type}")
def analyzers_for_type(data_type: str, request: Request, user: CurrentUser) -> list[Any]:
    return [a for a in _analyzers(host_of(request)) if data_type in a["dataTypeList"]]


@router.get("/analyzer/{analyzer_id}")
def get_analyzer(analyzer_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    return _analyzer(_ref(host_of(request), analyzer_id))


@router.post("/analyzer/{analyzer_id}/run")
async def run_analyzer(
    analyzer_id: str, request: Request, user: AnalystUser, force: Optional[str] = None
) -> dict[str, Any]:
    """Run an analyzer on one observable: a job of the host, behind its TLP gate and cache
    (``force`` is taken: every run is a new job; the host's cache TTL decides reuse)."""
    host = host_of(request)
    ref = _ref(host, analyzer_id)
    body = await _body(request)
    data_type, data = body.get("dataType"), body.get("data")
    if data_type == "file":
        raise Problem(400, "file observables are not supported: send a value")
    if not isinstance(data_type, str) or not isinstance(data, str) or not data.strip():
        raise Problem(400, "a run needs dataType and data (text)")
    options = body.get("parameters") or {}
    if not isinstance(options, dict):
        raise Problem(400, "parameters is a JSON object of the action's options")
    kind = platform_type(data_type, data, CORTEX_TYPES, ref.types)
    inputs = [{"type": kind, "value": data, "tlp": tlp_from_number(body.get("tlp"))}]
    view = await asyncio.to_thread(
        host.create_job, ref.operation, ref.action, options, None, inputs, user
    )
    return await asyncio.to_thread(_job, host, view)


# -- jobs -------------------------------------------------------------------------------------


def _job_id(job_id: str) -> int:
    if not job_id.isdigit():
        raise Problem(404, f"Job {job_id[:40]} not found")
    return int(job_id)


def _view(host: Host, job_id: str) -> dict[str, Any]:
    try:
        return host.job(_job_id(job_id))
    except LookupError:
        raise Problem(404, f"Job {job_id[:40]} not found") from None


def _state(host: Host, view: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """(Cortex status, error message, results) of a host job."""
    if host.jobs.running(view["id"]) and view["status"] not in ("queued", "running"):
        return "InProgress", "", []
    if view["status"] in _STATUS:
        return _STATUS[view["status"]], "", []
    results = job_results(host, view["id"])
    if view["status"] != "done":
        return "Failure", view["error"] or f"the job was {view['status']}", results
    errors = [r["error"] for r in results if r["status"] == "error"]
    if not results or len(errors) == len(results):
        return "Failure", errors[0] if errors else "the job has no result", results
    return "Success", "", results


def _job(host: Host, view: dict[str, Any], with_report: bool = False) -> dict[str, Any]:
    done = (view["operation"], view["action"])
    ref = find_action(host, lambda r: (r.operation, r.action) == done)
    name = ref.analyzer_name if ref else f"{view['operation']}_{view['action']}"
    analyzer_id = ref.analyzer_id if ref else name
    first = (host.store.job_inputs(view["id"], 1) or [{"type": "", "value": "", "tlp": "AMBER"}])[0]
    state, error, results = _state(host, view)
    created, ended = epoch_ms(view["created_at"]), epoch_ms(view["finished_at"])
    job: dict[str, Any] = {
        "id": str(view["id"]),
        "type": "analyzer",
        "organization": "tqops",
        "status": state,
        "dataType": CORTEX_TYPES.get(first["type"], ("other",))[0],
        "data": first["value"],
        "tlp": tlp_number(first["tlp"]),
        "pap": 2,
        "message": "",
        "parameters": view["options"],
        "startDate": epoch_ms(view["started_at"]),
        "endDate": ended,
        "date": created,
        "createdAt": created,
        "createdBy": view["created_by"],
        "updatedAt": ended or created,
    }
    for prefix in ("worker", "analyzer"):
        job[f"{prefix}Id"] = job[f"{prefix}DefinitionId"] = analyzer_id
        job[f"{prefix}Name"] = name
    if state == "Failure":
        job["errorMessage"] = error
    if with_report:
        job["report"] = _report(job, state, error, results, ref, host)
    return job


def _report(
    job: dict[str, Any],
    state: str,
    error: str,
    results: list[dict[str, Any]],
    ref: Optional[ActionRef],
    host: Optional[Host] = None,
) -> Any:
    if state == "Failure":
        keys = ("dataType", "data", "tlp", "pap", "message", "parameters")
        return {"errorMessage": error, "input": {k: job[k] for k in keys}, "success": False}
    if state != "Success":
        return "Running" if state == "InProgress" else state
    found = [i for r in results for i in r.get("indicators", [])]
    label = ref.label if ref else job["analyzerName"]
    namespace = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")
    predicate = ref.action.replace("_", " ").title().replace(" ", "") if ref else "Result"
    # a skip is policy, not a failure of the analyzer: a success whose info taxonomy says so
    # (the reason is in the full report), as TheHive shows any short report
    skipped = all(r["status"] == "skipped" for r in results)
    level = _verdict_level(results)
    taxonomies = [
        {
            "level": CORTEX_LEVELS[level],
            "namespace": namespace,
            "predicate": "Verdict",
            "value": level,
        },
        {
            "level": "info",
            "namespace": namespace,
            "predicate": predicate,
            "value": "skipped" if skipped else f"{len(found)} found",
        },
    ]
    headline = _headline(host, ref, results) if host is not None and ref is not None else None
    if headline is not None:  # after the two above, whose places readers count on
        taxonomies.append(headline)
    return {
        "summary": {"taxonomies": taxonomies},
        "full": results[0] if len(results) == 1 else {"results": results},
        "success": True,
        "artifacts": [_artifact(i, label, job["tlp"]) for i in found],
        "operations": [],
    }


def _headline(host: Host, ref: ActionRef, results: list[dict[str, Any]]) -> Optional[dict]:
    """An info taxonomy of the most alarming value among the exact matches of the attribute
    the action's reading makes its headline (DCSO TIE: ``Severity`` ``5/6``), read with the
    operation's API version as configured now; None where there is no such value."""
    exact = [i for r in results for i in r.get("indicators", []) if i.get("match") == "exact"]
    if not exact:
        return None
    try:
        config = host.config(ref.operation)
    except (LookupError, ValueError):  # no stored configuration (any more): no headline
        return None
    found = host.service.headline(ref.operation, ref.action, exact, config)
    if found is None:
        return None
    namespace = re.sub(r"[^A-Za-z0-9]+", "_", ref.label).strip("_")
    return {"level": "info", "namespace": namespace, "predicate": found["label"],
            "value": found["text"]}  # fmt: skip


def _verdict_level(results: list[dict[str, Any]]) -> str:
    """The most alarming verdict level of the results (unknown for those stored without)."""
    levels = [(r.get("verdict") or {}).get("level", "unknown") for r in results]
    known = [level for level in levels if level in LEVELS]
    return max(known, key=LEVELS.index, default="unknown")


def _artifact(indicator: dict[str, Any], label: str, tlp: int) -> dict[str, Any]:
    count = len(indicator.get("attributes", []))
    return {
        "dataType": CORTEX_TYPES.get(indicator["type"], ("other",))[0],
        "data": indicator["value"],
        "message": f"{label}: {indicator['type']} with {count} attributes",
        "tags": [label],
        "tlp": tlp,
    }


@router.get("/job/{job_id}")
def get_job(job_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    host = host_of(request)
    return _job(host, _view(host, job_id))


@router.get("/job/{job_id}/report")
def get_report(job_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    host = host_of(request)
    return _job(host, _view(host, job_id), with_report=True)


@router.get("/job/{job_id}/waitreport")
async def wait_report(
    job_id: str, request: Request, user: CurrentUser, atMost: str = Query("1m")
) -> dict[str, Any]:
    host = host_of(request)
    view = await asyncio.to_thread(_view, host, job_id)
    view = await wait_for_job(host, view["id"], _seconds(atMost))
    return await asyncio.to_thread(_job, host, view, True)


@router.get("/job/{job_id}/artifacts")
def get_artifacts(job_id: str, request: Request, user: CurrentUser) -> list[Any]:
    host = host_of(request)
    report = _job(host, _view(host, job_id), with_report=True)["report"]
    return report.get("artifacts", []) if isinstance(report, dict) else []


@router.post("/job/status")
async def job_statuses(request: Request, user: CurrentUser) -> dict[str, str]:
    """``{"jobIds": [...]}``: each job's status, ``NotFound`` for one that is not."""
    ids = (await _body(request)).get("jobIds") or []
    if not isinstance(ids, list):
        raise Problem(400, "jobIds is a list of job ids")
    return await asyncio.to_thread(_statuses, host_of(request), [str(i) for i in ids][:1000])


def _statuses(host: Host, ids: list[str]) -> dict[str, str]:
    answer = {}
    for job_id in ids:
        try:
            answer[job_id] = _job(host, _view(host, job_id))["status"]
        except Problem:
            answer[job_id] = "NotFound"
    return answer


def _seconds(text: str) -> float:
    """Cortex's ``atMost`` (``1minute``, ``30seconds``, ``1m``, ``Inf``) in seconds, capped."""
    if text.strip().lower() in ("inf", "infinite"):
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


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    body = parsed_json(raw)
    if not isinstance(body, dict):
        raise Problem(400, "the body is a JSON object")
    return body
