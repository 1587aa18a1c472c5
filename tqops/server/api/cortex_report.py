"""A host job as Cortex shows it, and its report, after Cortex's ``models/Job.scala`` (the
job's fields, ``analyzer*`` beside ``worker*``), ``controllers/JobCtrl.scala`` (the report of
each status) and what TheHive's ``cortex/dto/v0/Job.scala`` reads (``OutputJob``,
``OutputReport``: ``summary.taxonomies``, ``full``, ``success``, ``artifacts``).

A job run through Cortex's API echoes what its request carried (the data type as the client
named it, TLP and PAP numbers, message, label, every parameter); any other job shows its
first input under the first Cortex data type of its indicator type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Optional

from tqops.model import LEVELS
from tqops.server.api.common import (
    CORTEX_LEVELS,
    CORTEX_TYPES,
    ActionRef,
    actions,
    epoch_ms,
    job_results,
    tlp_number,
)
from tqops.server.api.cortex_base import ORGANIZATION, entity
from tqops.server.host import Host

__all__ = ["Refs", "action_refs", "job_json"]

#: the host's actions by (operation, action)
Refs = Mapping[tuple[str, str], ActionRef]
_STATUS = {"queued": "Waiting", "running": "InProgress"}
_NO_INPUT = {"type": "", "value": "", "tlp": "AMBER"}


def action_refs(host: Host) -> dict[tuple[str, str], ActionRef]:
    return {(ref.operation, ref.action): ref for ref in actions(host)}


def job_json(
    host: Host,
    view: Mapping[str, Any],
    refs: Refs,
    record: Optional[Mapping[str, Any]] = None,
    with_report: bool = False,
) -> dict[str, Any]:
    """Job ``view`` (the host's) as Cortex answers it; ``record`` is what the store kept of
    its Cortex request (:meth:`~tqops.server.store.Store.cortex_requests`)."""
    ref = refs.get((view["operation"], view["action"]))
    name = ref.analyzer_name if ref else f"{view['operation']}_{view['action']}"
    analyzer_id = ref.analyzer_id if ref else name
    first = (host.store.job_inputs(view["id"], 1) or [_NO_INPUT])[0]
    request: Mapping[str, Any] = (record or {}).get("request") or {}
    state, error = _state(host, view, bool((record or {}).get("deleted_at")))
    created, ended = epoch_ms(view["created_at"]), epoch_ms(view["finished_at"])
    job = entity("job", str(view["id"]), created, view["created_by"], ended)
    tlp = request.get("tlp")
    job.update(
        {
            "type": "analyzer",
            "organization": ORGANIZATION,
            "status": state,
            "dataType": request.get("dataType") or CORTEX_TYPES.get(first["type"], ("other",))[0],
            "data": first["value"],
            "tlp": tlp if isinstance(tlp, int) else tlp_number(first["tlp"]),
            "pap": request.get("pap", 2),
            "message": request.get("message", ""),
            # the action's options as the host shows them (a secret one masked) over the rest
            "parameters": {**(request.get("parameters") or {}), **view["options"]},
            "startDate": epoch_ms(view["started_at"]),
            "endDate": ended,
            "date": created,
        }
    )
    if request.get("label") is not None:
        job["label"] = request["label"]
    for prefix in ("worker", "analyzer"):
        job[f"{prefix}Id"] = job[f"{prefix}DefinitionId"] = analyzer_id
        job[f"{prefix}Name"] = name
    if state == "Failure":
        job["errorMessage"] = error
    if with_report:
        job["report"] = _report(host, job, state, error, ref)
    return job


def _state(host: Host, view: Mapping[str, Any], deleted: bool) -> tuple[str, str]:
    """(Cortex status, error message) of a host job, from its counts: no result or only
    errors is a failure (with the first error), anything else a success."""
    if deleted:
        return "Deleted", ""
    if host.jobs.running(view["id"]) and view["status"] not in _STATUS:
        return "InProgress", ""
    if view["status"] in _STATUS:
        return _STATUS[view["status"]], ""
    if view["status"] != "done":
        return "Failure", view["error"] or f"the job was {view['status']}"
    if not view["done"]:
        return "Failure", "the job has no result"
    if view["failed"] >= view["done"]:
        _, rows = host.store.results(view["id"], "error", 0, 1)
        first = json.loads(rows[0]["result"]).get("error") if rows else None
        return "Failure", str(first or "every input failed")
    return "Success", ""


def _report(
    host: Host, job: Mapping[str, Any], state: str, error: str, ref: Optional[ActionRef]
) -> Any:
    """The report of each status, as Cortex's ``JobCtrl.getJobWithReport`` answers it."""
    if state == "Failure":
        keys = ("dataType", "data", "tlp", "pap", "message", "parameters")
        return {"errorMessage": error, "input": {k: job[k] for k in keys}, "success": False}
    if state != "Success":
        return "Running" if state == "InProgress" else state
    results = job_results(host, int(job["id"]))
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
    headline = _headline(host, ref, results) if ref is not None else None
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


def _artifact(indicator: Mapping[str, Any], label: str, tlp: int) -> dict[str, Any]:
    count = len(indicator.get("attributes", []))
    return {
        "dataType": CORTEX_TYPES.get(indicator["type"], ("other",))[0],
        "data": indicator["value"],
        "message": f"{label}: {indicator['type']} with {count} attributes",
        "tags": [label],
        "tlp": tlp,
    }
