"""What a mapping table reads, what it deliberately ignores, and what it would lose unsaid.

Every path of a table that lies in the record (values, types, published dates, names, the
TLP) and every ``ignore`` entry make a trie of keys (:class:`KeyNode`). It is laid over the
rows' trie once (:func:`mark_known`): each object the mapper visits then carries the set of
keys it may hold, and one ``issuperset`` per object finds a key the vendor added (the drift
check), which a run tells once per key (:func:`drift_warning`, :class:`DriftLog`).
:func:`envelope_problem` says when a whole response does not have the shape the table
expects (another API generation's, say), instead of mapping it to nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any, Optional

import attrs

from tqops.manifest.feedpath import EACH, FeedPath, Step
from tqops.mapping.rows import Node

__all__ = [
    "ITEMS",
    "DriftLog",
    "KeyNode",
    "describe_json",
    "drift_warning",
    "envelope_problem",
    "key_trie",
    "mark_known",
]

#: the child of a KeyNode that stands for a list's elements
ITEMS = "[]"


@attrs.define
class KeyNode:
    """The keys a table reads below one place of the record."""

    children: dict[str, KeyNode] = attrs.field(factory=dict)
    #: a path of the table ends here
    read: bool = False
    #: listed in ``ignore``: this key and everything under it is deliberately not read
    ignored: bool = False

    def child(self, step: Step) -> Optional[KeyNode]:
        return self.children.get(step if isinstance(step, str) else ITEMS)


def key_trie(read: Iterable[tuple[Step, ...]], ignored: Iterable[tuple[Step, ...]]) -> KeyNode:
    """The trie of the keys the table reads (paths relative to the record) and ignores."""
    root = KeyNode()
    for steps, flag in [*((s, "read") for s in read), *((s, "ignored") for s in ignored)]:
        node = root
        for step in steps:
            key = step if isinstance(step, str) else ITEMS
            node = node.children.setdefault(key, KeyNode())
        setattr(node, flag, True)
    return root


def mark_known(node: Node, keys: Optional[KeyNode], label: str = "", root: bool = True) -> None:
    """Give each object-holding node of the rows' trie the keys it may hold (see the module).

    Only the record and the nodes that read keys of an object are checked: a value a row
    reads as a whole is not taken apart."""
    if keys is None or keys.ignored:
        return
    if root or any(isinstance(key, str) for key in node.keys):
        node.known = frozenset(key for key in keys.children if key != ITEMS)
        node.label = label
    for key, child in node.keys.items():
        if isinstance(key, str):
            mark_known(child, keys.children.get(key), f"{label}{key}.", root=False)
        else:
            mark_known(child, keys.children.get(ITEMS), f"{label[:-1]}[].", root=False)
    if node.each is not None:
        mark_known(node.each, keys.children.get(ITEMS), f"{label.rstrip('.')}[].", root=False)


def describe_json(value: Any) -> str:
    """What a JSON value is, for messages: ``an object with keys hasMore, next, results``."""
    if isinstance(value, dict):
        keys = sorted(json.dumps(str(k), ensure_ascii=False)[1:-1] for k in value)  # one line
        shown = ", ".join(k[:40] for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"an object with keys {shown}" if keys else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


def _expected(prefix: tuple[Step, ...]) -> str:
    path = FeedPath(prefix)
    if prefix == (EACH,):
        return f"a list of records ({path})"
    if len(prefix) == 2 and isinstance(prefix[0], str) and prefix[1] is EACH:
        return f"an object with the list {prefix[0]!r} ({path})"
    return f"records at {path}"


def envelope_problem(document: Any, prefix: tuple[Step, ...]) -> Optional[str]:
    """Why ``document`` cannot hold records at ``prefix`` ("expected ..., got ..."), or None.

    An empty list of records fits; a missing or null list, or a value of another shape, does
    not: a response of another API generation maps to an error, never to "no results"."""
    node, got = document, None
    for index, step in enumerate(prefix):
        if step is EACH:
            if not isinstance(node, list):
                got = got or describe_json(node)
                break
            if index == len(prefix) - 1 or not node:
                return None
            node = node[0]  # records nested deeper: the first element shows the shape
            continue
        if isinstance(step, str):
            if not isinstance(node, dict) or step not in node:
                got = describe_json(node)
                break
            if node[step] is None:
                got = f"an object whose {step!r} is null"
                break
            node = node[step]
        else:
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                got = describe_json(node)
                break
            node = node[step]
    else:
        return None
    return f"expected {_expected(prefix)}, got {got}"


def drift_warning(label: str, keys: Iterable[str]) -> str:
    """The drift check's one warning (each key on one line, at most 20 named)."""
    names = sorted(json.dumps(key, ensure_ascii=False)[1:-1][:80] for key in keys)
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{label} returned fields this operation does not map: {', '.join(names[:20])}{more}"


class DriftLog:
    """The record keys a run has already warned about: each is named once per run."""

    def __init__(self) -> None:
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def new(self, keys: Iterable[str]) -> list[str]:
        """The keys not told yet (now told)."""
        with self._lock:
            fresh = sorted(set(keys) - self._told)
            self._told.update(fresh)
        return fresh
