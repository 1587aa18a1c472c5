"""A job's results as downloads, read from the store a page at a time: JSON in the contract
of ``tqops run --format json``, and CSV with one row per attribute of each found indicator,
each row with its input's verdict and the indicator's match (cells a spreadsheet would take as
a formula are quoted as text)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from tqops.server.store import Store

__all__ = ["CSV_COLUMNS", "results_csv", "results_json"]

CHUNK = 500
CSV_COLUMNS = (
    "input_type",
    "input_value",
    "status",
    "error",
    "reason",
    "verdict_level",
    "verdict_score",
    "verdict_reasons",
    "indicator_type",
    "indicator_value",
    "indicator_match",
    "indicator_published_at",
    "attribute_name",
    "attribute_value",
    "attribute_published_at",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _results(store: Store, job_id: int) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        _, rows = store.results(job_id, None, offset, CHUNK)
        for row in rows:
            yield json.loads(row["result"])
        if len(rows) < CHUNK:
            return
        offset += CHUNK


def results_json(store: Store, job: dict[str, Any]) -> Iterator[str]:
    head = {"operation": job["operation"], "action": job["action"]}
    yield json.dumps(head)[:-1] + ', "results": ['
    for number, result in enumerate(_results(store, job["id"])):
        yield ("," if number else "") + "\n " + json.dumps(result)
    yield "\n]}\n"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA) and not _number(text):
        return "'" + text
    return text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(result: dict[str, Any]) -> Iterator[list[Any]]:
    given = result.get("input") or {}
    status, error, reason = result.get("status"), result.get("error"), result.get("reason")
    verdict = result.get("verdict") or {}  # none on results stored before verdicts
    reasons = "; ".join(verdict.get("reasons") or []) or None
    head = [given.get("type"), given.get("value"), status, error, reason]
    head += [verdict.get("level"), verdict.get("score"), reasons]
    found = result.get("indicators") or []
    if not found:
        yield [*head, None, None, None, None, None, None, None]
    for indicator in found:
        about = [indicator.get("type"), indicator.get("value"), indicator.get("match")]
        about.append(indicator.get("published_at"))
        attributes = indicator.get("attributes") or []
        if not attributes:
            yield [*head, *about, None, None, None]
        for attribute in attributes:
            yield [
                *head,
                *about,
                attribute.get("name"),
                attribute.get("value"),
                attribute.get("published_at"),
            ]


def results_csv(store: Store, job_id: int) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for result in _results(store, job_id):
        for row in _rows(result):
            writer.writerow([_cell(v) for v in row])
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
