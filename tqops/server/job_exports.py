"""A job's results handed on as a STIX 2.1 bundle, a MISP event or a wide CSV (one row per
found indicator, :mod:`tqops.exports`), read from the store a page at a time; each result
carries its input's TLP: the strictest of the one it was queued with and the stored
indicator's (as the job's TLP gate reads it)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from tqops.errors import ConfigError, OperationError
from tqops.exports.misp import misp_event
from tqops.exports.stix import stix_bundle
from tqops.exports.values import Exported, ExportHead, exported
from tqops.exports.wide_csv import plain_summary, wide_csv
from tqops.server.store import Store
from tqops.tlp import Tlp

if TYPE_CHECKING:
    from tqops.server.host import Host

__all__ = ["EXPORTS", "JobExport", "job_export"]

CHUNK = 500
#: each format: what writes it, its media type and the end of its file name
EXPORTS: Mapping[str, tuple[Callable[..., Iterator[str]], str, str]] = {
    "stix": (stix_bundle, "application/stix+json;version=2.1", "stix.json"),
    "misp": (misp_event, "application/json", "misp.json"),
    "wide-csv": (wide_csv, "text/csv; charset=utf-8", "wide.csv"),
}
#: a job's export: its text chunk by chunk, its media type and its file name
JobExport = tuple[Iterator[str], str, str]


def job_export(host: Host, job_id: int, fmt: str) -> JobExport:
    """Job ``job_id``'s results in ``fmt`` (``stix``, ``misp`` or ``wide-csv``); a LookupError
    for no such job, a ValueError for another format (both before anything is read)."""
    if fmt not in EXPORTS:
        raise ValueError(f"an export is one of {', '.join(EXPORTS)}, got {fmt[:20]!r}")
    job = host.job(job_id)
    write, media, suffix = EXPORTS[fmt]
    head = ExportHead(job["operation"], _label(host, job["operation"]), job["action"])
    items = _items(host.store, job_id, int(job["total"]))
    if fmt == "wide-csv":
        main, summary = _reading(host, job["operation"], job["action"])
        body = wide_csv(job_id, head, items, main, summary)
    else:
        body = write(head, items)
    return body, media, f"tqops-job-{job_id}-{suffix}"


def _reading(
    host: Host, operation: str, action: str
) -> tuple[list[tuple[str, str]], Callable[[Mapping[str, Any]], Any]]:
    """The action's main attributes (name, label), as its manifest declares them, and how a
    found indicator's summary reads (the console's), with the API version the operation is
    configured with now; the attributes under their own names where it is no longer
    installed."""
    try:
        values: Optional[Mapping[str, Any]] = host.masked_config(operation)["values"]
    except (LookupError, ValueError, TypeError, KeyError, OperationError):
        values = None  # not configured: the default API version
    try:
        reader = host.service.reader(operation, action, values)
    except (LookupError, ValueError, OperationError):
        return [], plain_summary
    main = [(a.name, a.label) for a in reader.spec.attributes if not a.detail]
    return main, reader.summary


def _label(host: Host, operation: str) -> str:
    """The operation's label (its name when it is no longer installed)."""
    try:
        return str(host.service.describe(operation).label)
    except (ValueError, LookupError):
        return operation


def _items(store: Store, job_id: int, total: int) -> Iterator[Exported]:
    queued = {row["seq"]: row["tlp"] for row in store.job_inputs(job_id, max(total, 1))}
    offset = 0
    while True:
        _, rows = store.results(job_id, None, offset, CHUNK)
        for row in rows:
            result = json.loads(row["result"])
            given = result.get("input") if isinstance(result.get("input"), dict) else {}
            stored = store.indicator_tlp(str(given.get("type")), str(given.get("value")))
            levels = (_level(queued.get(row["seq"])), _level(stored))
            yield exported(result, Tlp.strictest(level for level in levels if level))
        if len(rows) < CHUNK:
            return
        offset += CHUNK


def _level(text: Optional[str]) -> Optional[Tlp]:
    """A stored TLP; RED for one the store holds that is no level (never less than meant)."""
    if text is None:
        return None
    try:
        return Tlp.parse(text, Tlp.RED)
    except ConfigError:
        return Tlp.RED
