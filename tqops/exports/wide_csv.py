"""A job's results as a wide CSV: one row per found indicator, for a spreadsheet or a pivot
table. Each row says which job and which input (its value, type and TLP) it answers, that
input's verdict, whether the indicator is the one searched (``exact``) or one the vendor named
beside it (``related``), the indicator's type, value and date, and its main attributes as the
console's summary reads them (values on their scales), one column each, in the order the
manifest declares them; the attributes it does not declare share one last column.

Cells are text a spreadsheet never runs: one that starts as a formula would (``=``, ``+``,
``-``, ``@``, a tab or a carriage return) and is no number is written after a ``'``. Values
come as the run stored them, the secrets a vendor echoed already masked; no option of the job
(a password-type one could be a secret) is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Callable

from tqops.exports.values import Exported, ExportHead, clean

__all__ = ["FIXED_COLUMNS", "OTHERS", "csv_cell", "wide_csv"]

#: the columns every wide CSV has, before the main attributes' own
FIXED_COLUMNS = (
    "job",
    "operation",
    "action",
    "input_type",
    "input_value",
    "input_tlp",
    "verdict_level",
    "verdict_score",
    "verdict_reasons",
    "relation",
    "found_type",
    "found_value",
    "found_published_at",
    "attributes",
)
#: the last column: the attributes the manifest does not declare, ``label: text; ...``
OTHERS = "other_attributes"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
#: the longest cell (a spreadsheet takes 32,767 characters at most)
MAX_CELL = 32000
#: how much text is gathered before it is handed on
FLUSH = 65536

#: a found indicator's summary lines: ``[{"name", "label", "text"}]``
Summary = Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]]]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell a spreadsheet takes as text, never as a formula."""
    text = clean(value, MAX_CELL)
    if text.startswith(_FORMULA) and not _number(text):
        return "'" + text
    return text


def plain_summary(found: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A found indicator's attributes under their own names, the distinct values of each
    (for an operation no longer installed: no labels, no scales)."""
    values: dict[str, list[str]] = {}
    for item in found.get("attributes") or ():
        if isinstance(item, Mapping) and "name" in item:
            seen = values.setdefault(str(item["name"]), [])
            value = str(item.get("value", ""))
            if value not in seen:
                seen.append(value)
    return [{"name": n, "label": n, "text": ", ".join(v)} for n, v in values.items()]


def _rows(
    job: int,
    head: ExportHead,
    item: Exported,
    main: Sequence[str],
    summary: Summary,
) -> Iterator[list[Any]]:
    result = item.result
    given = result.get("input") if isinstance(result.get("input"), Mapping) else {}
    verdict = result.get("verdict") if isinstance(result.get("verdict"), Mapping) else {}
    reasons = "; ".join(str(r) for r in verdict.get("reasons") or ()) or None
    start = [job, head.label, head.action, given.get("type"), given.get("value")]
    start += [item.tlp.value, verdict.get("level"), verdict.get("score"), reasons]
    for found in result.get("indicators") or ():
        if not isinstance(found, Mapping):
            continue
        relation = "related" if found.get("match") == "related" else "exact"
        attributes = [a for a in found.get("attributes") or () if isinstance(a, Mapping)]
        row = [*start, relation, found.get("type"), found.get("value")]
        row += [found.get("published_at"), len(attributes)]
        lines = {str(line["name"]): line for line in summary(found)}
        row += [lines[name]["text"] if name in lines else None for name in main]
        others = [f"{line['label']}: {line['text']}" for n, line in lines.items() if n not in main]
        yield [*row, "; ".join(others) or None]


def wide_csv(
    job: int,
    head: ExportHead,
    items: Iterable[Exported],
    main: Sequence[tuple[str, str]] = (),
    summary: Summary = plain_summary,
) -> Iterator[str]:
    """The wide CSV of job ``job``'s results, streamed: ``main`` are the main attributes'
    (name, label), one column each under its label; ``summary`` reads a found indicator's
    attributes into lines (the console's summary)."""
    names = [name for name, _ in main]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in (*FIXED_COLUMNS, *(label for _, label in main), OTHERS)])
    for item in items:
        for row in _rows(job, head, item, names, summary):
            writer.writerow([csv_cell(v) for v in row])
        if out.tell() > FLUSH:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
