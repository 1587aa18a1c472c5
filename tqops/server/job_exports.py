"""A job's results handed on as a STIX 2.1 bundle or a MISP event (:mod:`tqops.exports`), read
from the store a page at a time; each result carries its input's TLP: the strictest of the one
it was queued with and the stored indicator's (as the job's TLP gate reads it)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Callable, Optional

from tqops.errors import ConfigError
from tqops.exports.misp import misp_event
from tqops.exports.stix import stix_bundle
from tqops.exports.values import Exported, ExportHead, exported
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
}
#: a job's export: its text chunk by chunk, its media type and its file name
JobExport = tuple[Iterator[str], str, str]


def job_export(host: Host, job_id: int, fmt: str) -> JobExport:
    """Job ``job_id``'s results in ``fmt`` (``stix`` or ``misp``); a LookupError for no such
    job, a ValueError for another format (both before anything is read)."""
    if fmt not in EXPORTS:
        raise ValueError(f"an export is one of {', '.join(EXPORTS)}, got {fmt[:20]!r}")
    job = host.job(job_id)
    write, media, suffix = EXPORTS[fmt]
    head = ExportHead(job["operation"], _label(host, job["operation"]), job["action"])
    body = write(head, _items(host.store, job_id, int(job["total"])))
    return body, media, f"tqops-job-{job_id}-{suffix}"


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
