"""Cortex's analyzer API, as TheHive 4 and 5 and cortex4py call it: each action of an installed
operation is an analyzer (``DCSO_TIE_Search``), each run a job of the host, its result the
report.

Wire format after Cortex's own routes, controllers and models (TheHive-Project/Cortex
``conf/routes``, ``controllers/JobCtrl.scala``, ``models/Job.scala``,
``services/ErrorHandler.scala``; CortexDocs ``api/api-guide.md``), what TheHive sends and
reads (``cortex/client/CortexClient.scala``, ``cortex/dto/v0/``) and cortex4py 2.1 (``api.py``,
``controllers/``). ``Authorization: Bearer`` takes the host's API keys; errors are
``{"type", "message"}`` with 401, 403 and 404 as cortex4py maps them. This module has the
status and the analyzers; :mod:`.cortex_jobs` the jobs, :mod:`.cortex_accounts` users, the
organization, responders and definitions.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Optional

from fastapi import Request

from tqops import __version__
from tqops.server.api import cortex_accounts, cortex_jobs
from tqops.server.api.common import (
    CORTEX_TYPES,
    ActionRef,
    actions,
    platform_type,
    tlp_from_number,
    tlp_number,
)
from tqops.server.api.cortex_base import read_body, router
from tqops.server.api.cortexquery import matches, page
from tqops.server.auth import AnalystUser, CurrentUser, Problem, host_of
from tqops.server.host import Host

__all__ = ["PARTS", "router"]

#: the modules whose routes are on the router too
PARTS = (cortex_jobs, cortex_accounts)
#: what a run request may carry besides its data, each checked as Cortex reads it
_TEXTS = ("message", "label")


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
    body = await read_body(request)
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
    (``force`` is taken: every run is a new job; the host's cache TTL decides reuse). Of the
    ``parameters``, those the action declares as options are its options, checked as any
    run's; the others (TheHive's ``organisation`` and ``user``) are kept with the job."""
    host = host_of(request)
    ref = _ref(host, analyzer_id)
    body = await read_body(request)
    data_type, data = body.get("dataType"), body.get("data")
    if data_type == "file":
        raise Problem(400, "file observables are not supported: send a value")
    if not isinstance(data_type, str) or not isinstance(data, str) or not data.strip():
        raise Problem(400, "a run needs dataType and data (text)")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Problem(400, "parameters is a JSON object")
    tlp = tlp_from_number(body.get("tlp"))  # first: its error names the TLP, not a number
    declared = {option.name for option in ref.spec.options}
    options = {k: v for k, v in parameters.items() if k in declared}
    kept = _kept(body, data_type, {k: v for k, v in parameters.items() if k not in declared})
    kind = platform_type(data_type, data, CORTEX_TYPES, ref.types)
    inputs = [{"type": kind, "value": data, "tlp": tlp}]
    view = await asyncio.to_thread(  # 409: an operation that is not configured
        lambda: host.create_job(
            ref.operation, ref.action, options, None, inputs, user, refuse_blocked=True
        )
    )
    await asyncio.to_thread(host.store.save_cortex_request, view["id"], kept)
    return await asyncio.to_thread(cortex_jobs.cortex_job, host, view["id"])


def _kept(body: dict[str, Any], data_type: str, others: dict[str, Any]) -> dict[str, Any]:
    """What a run request carries beyond the job, as the job will echo it: the data type as
    named, the TLP and PAP numbers (2 when not given, as Cortex), message, label, and the
    parameters that are no option; a 400 naming what is not as Cortex reads it."""
    kept: dict[str, Any] = {"dataType": data_type, "parameters": others}
    for name in _TEXTS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise Problem(400, f"{name} is text, not {type(value).__name__}")
        if value is not None:
            kept[name] = value
    kept["tlp"] = int(body["tlp"]) if body.get("tlp") not in (None, "") else 2
    pap = body.get("pap")
    if pap is not None and (isinstance(pap, bool) or not re.fullmatch(r"[0-3]", str(pap))):
        raise Problem(400, f"pap is a number from 0 to 3, not {str(pap)[:20]!r}")
    kept["pap"] = 2 if pap is None else int(pap)
    return kept
