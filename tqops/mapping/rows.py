"""Mapping rows resolved against the record, merged into one trie.

The indicator path's ``[]`` prefix names the *record*; every other path is resolved against it
into a :class:`Relative`: read from the record, from the element of a ``[]`` it shares with its
row (so a row's published date comes from the same observation as its value), or from the
whole document when it lies outside the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Optional

import attrs

from tqops.dates import parse_datetime
from tqops.manifest.feedpath import EACH, FeedPath, Step, walk
from tqops.manifest.transforms import Transform
from tqops.mapping.values import first, scalar_text

__all__ = [
    "Node",
    "Relative",
    "Row",
    "build_trie",
    "depth",
    "earliest",
    "evaluate",
    "name_text",
    "relative",
    "split_pair",
    "subtree",
]


@attrs.frozen
class Relative:
    """A path evaluated from an anchor: the record, or the element of a shared ``[]``."""

    level: int  # 0: the base (record or document); n: the element of the row's n-th []
    steps: tuple[Step, ...]
    in_record: bool


def relative(row: tuple[Step, ...], dep: FeedPath, prefix: tuple[Step, ...]) -> Relative:
    """``dep`` as read beside a value at ``row`` (steps under the record ``prefix``)."""
    steps = dep.steps
    if steps[: len(prefix)] != prefix:
        return Relative(0, steps, in_record=False)
    steps = steps[len(prefix) :]
    level = cut = 0
    for index, (a, b) in enumerate(zip(row, steps)):
        if a != b:
            break
        if a is EACH:
            level += 1
            cut = index + 1
    return Relative(level, steps[cut:], in_record=True)


@attrs.frozen
class Row:
    """An attribute row of the table, its paths resolved against the record."""

    label: str
    name: Optional[str]
    value: Relative
    name_from: Optional[Relative]
    published: tuple[Relative, ...]
    transforms: tuple[Transform, ...]
    #: rows with the same published paths share this key (their dates are computed once)
    published_key: int = 0
    #: the deepest [] element the published date depends on (0: the record)
    published_level: int = 0
    #: each value is ``name<separator>value`` (the row's name comes from the value)
    separator: Optional[str] = None


@attrs.define
class Node:
    """A trie of the rows' value paths: one visit of a record feeds every row."""

    keys: dict[Any, Node] = attrs.field(factory=dict)
    each: Optional[Node] = None
    rows: list[int] = attrs.field(factory=list)
    #: the keys the table reads or ignores in an object here (None: not checked for drift)
    known: Optional[frozenset[str]] = None
    #: where this node is, relative to the record (``observations[].``), for drift reports
    label: str = ""


def build_trie(rows: Sequence[Row]) -> Node:
    """The trie of the value paths of the rows inside the record (by their indexes)."""
    root = Node()
    for index, row in enumerate(rows):
        if not row.value.in_record:
            continue
        node = root
        for step in row.value.steps:
            if step is EACH:
                if node.each is None:
                    node.each = Node()
                node = node.each
            else:
                node = node.keys.setdefault(step, Node())
        node.rows.append(index)
    return root


def subtree(node: Node) -> list[int]:
    """The indexes of the rows ending at ``node`` or below it."""
    found = list(node.rows)
    for child in node.keys.values():
        found += subtree(child)
    if node.each is not None:
        found += subtree(node.each)
    return found


def depth(node: Node) -> int:
    """How many levels the trie nests (1: the record alone)."""
    children = [*node.keys.values(), *([node.each] if node.each is not None else [])]
    return 1 + max((depth(child) for child in children), default=0)


def evaluate(path: Relative, document: Any, record: Any, scopes: tuple[Any, ...]) -> Iterable[Any]:
    """Every value ``path`` reaches from its anchor (``scopes``: the row's [] elements)."""
    if not path.in_record:
        base = document
    elif path.level == 0:
        base = record
    else:
        base = scopes[path.level - 1]
    return (value for value, _ in walk(base, path.steps))


def earliest(
    paths: tuple[Relative, ...], document: Any, record: Any, scopes: tuple[Any, ...]
) -> Optional[datetime]:
    """The earliest date the first path with a date reaches; None when none has one."""
    for path in paths:
        moments = []
        steps = path.steps
        if len(steps) == 1 and type(steps[0]) is str and path.in_record:
            # the common case, a key of the record or of an element: no walk
            base = scopes[path.level - 1] if path.level else record
            raw = base.get(steps[0]) if isinstance(base, dict) else None
            if raw is not None:
                try:
                    return parse_datetime(raw)
                except ValueError:
                    pass
            continue
        if path.in_record and len(steps) == 3 and steps[1] is EACH and type(steps[0]) is str:
            # the next most common: a key of each element of a list (``observations[].x``)
            base = scopes[path.level - 1] if path.level else record
            items = base.get(steps[0]) if isinstance(base, dict) else None
            key = steps[2]
            if isinstance(items, list) and type(key) is str:
                found: Optional[datetime] = None
                for element in items:
                    raw = element.get(key) if isinstance(element, dict) else None
                    if raw is not None:
                        try:
                            moment = parse_datetime(raw)
                        except ValueError:
                            continue
                        if found is None or moment < found:
                            found = moment
                if found is not None:
                    return found
                continue
        for raw in evaluate(path, document, record, scopes):
            try:
                moments.append(parse_datetime(raw))
            except ValueError:
                continue
        if moments:
            return min(moments)
    return None


def name_text(source: Relative, document: Any, record: Any, scopes: tuple[Any, ...]) -> str:
    """The attribute name a ``name_path`` row reads beside its value ('' for none)."""
    return scalar_text(first(evaluate(source, document, record, scopes)))


def split_pair(separator: str, label: str, text: str, state: Any) -> tuple[str, str]:
    """A ``name<separator>value`` text as (name, value); a text without the separator is a
    warning (``label`` names the row) and gives no name."""
    name, found, value = text.partition(separator)
    if not found:
        if name:
            state.warn(f"{label}{name[:80]!r} is not name{separator}value; skipped")
        return "", ""
    return name.strip(), value.strip()
