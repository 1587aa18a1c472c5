"""Coverage of saved responses by a mapping table: per row, how many records it read a value
from, and the record keys no row reads (ignored on purpose, or not mapped at all).

Offline only (``tqops map --coverage``): it walks every record once more, so it never slows a
run down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Optional

import attrs

from tqops.manifest.feedpath import walk
from tqops.mapping.drift import ITEMS, KeyNode
from tqops.mapping.table import Table
from tqops.mapping.values import flatten, scalar_text

__all__ = ["Coverage", "KeyCoverage", "RowCoverage", "coverage"]


@attrs.frozen
class RowCoverage:
    """A mapping row: its path, what it makes, and how many records gave it a value."""

    path: str
    makes: str
    records: int


@attrs.frozen
class KeyCoverage:
    """A record key (path relative to the record) no row reads, and in how many records."""

    key: str
    records: int
    ignored: bool


@attrs.frozen
class Coverage:
    """How a table covered the records of some responses."""

    records: int
    rows: tuple[RowCoverage, ...]
    unread: tuple[KeyCoverage, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": [attrs.asdict(row) for row in self.rows],
            "unread": [attrs.asdict(key) for key in self.unread],
        }


def _gives(values: Iterable[Any]) -> bool:
    """Whether any value is a scalar with text (what makes an attribute)."""
    for value in values:
        items = flatten(value) if isinstance(value, list) else (value,)
        if any(scalar_text(item) for item in items):
            return True
    return False


def _unread(value: Any, keys: Optional[KeyNode], label: str, found: dict[str, bool]) -> None:
    """Collect into ``found`` the keys under ``value`` the table does not read (key ->
    ignored?); a key not read is reported, not what lies under it."""
    if keys is None or keys.ignored:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            child = keys.children.get(key)
            if child is None or child.ignored:
                found[label + key] = child is not None
            elif child.children:
                _unread(inner, child, f"{label}{key}.", found)
    elif isinstance(value, list):
        child = keys.children.get(ITEMS)
        for item in value:
            _unread(item, child, f"{label.rstrip('.')}[].", found)


def coverage(table: Table, documents: Iterable[Any]) -> Coverage:
    """What ``table`` reads of the records of ``documents``."""
    records = 0
    value_hits = 0
    hits: Counter[int] = Counter()
    unread: Counter[str] = Counter()
    ignored: set[str] = set()
    for document in documents:
        for record, _ in walk(document, table.prefix):
            records += 1
            value_steps = table.values[0].steps
            value_hits += _gives(value for value, _ in walk(record, value_steps))
            for index, row in enumerate(table.rows):
                base = record if row.value.in_record else document
                hits[index] += _gives(value for value, _ in walk(base, row.value.steps))
            found: dict[str, bool] = {}
            _unread(record, table.keys, "", found)
            unread.update(list(found))  # each key once per record
            ignored.update(key for key, flag in found.items() if flag)
    indicator = table.spec.indicator
    rows = [RowCoverage(str(indicator.path), "Indicator value", value_hits)]
    for index, spec in enumerate(table.spec.attributes):
        makes = spec.name or (
            f"name from {spec.name_path}" if spec.name_path else f"name{spec.name_separator}value"
        )
        rows.append(RowCoverage(str(spec.path), makes, hits[index]))
    keys = tuple(
        KeyCoverage(key, count, key in ignored)
        for key, count in sorted(unread.items(), key=lambda item: (item[0] in ignored, item[0]))
    )
    return Coverage(records, tuple(rows), keys)
