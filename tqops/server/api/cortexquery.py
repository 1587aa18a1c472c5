"""Cortex's search: its query language (``_field``/``_value``, ``_and``, ``_or``, ``_not``,
``_in``, ``_id``, ``_like``/``_wildcard``, ``{"field": value}``) over a listing's objects, and
its ``range`` and ``sort`` parameters, as CortexDocs ``api/api-guide.md`` and cortex4py's
``query.py`` state them."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Optional

from tqops.server.auth import Problem

__all__ = ["matches", "page"]


def page(items: list[dict[str, Any]], range_: Optional[str], sort: Optional[str]) -> list[Any]:
    """Cortex's ``sort`` (``+name``, ``-name``) and ``range`` (``all``, ``0-10``)."""
    if sort:
        field = sort.lstrip("+-")
        items = sorted(items, key=lambda i: str(i.get(field, "")), reverse=sort[0] == "-")
    if not range_ or range_ == "all":
        return items
    found = re.fullmatch(r"(\d+)-(\d+)", range_)
    if not found:
        raise Problem(400, f"range is 'all' or 'FROM-TO', not {range_[:20]!r}")
    return items[int(found.group(1)) : int(found.group(2))]


def matches(query: Any, item: dict[str, Any]) -> bool:
    """Cortex's query language over one analyzer: ``_field``/``_value``, ``_and``, ``_or``,
    ``_not``, ``_in``, ``_id``, ``_like``/``_wildcard``, and ``{"field": value}``."""
    if not query:
        return True
    if not isinstance(query, dict):
        raise Problem(400, "a query is a JSON object")
    if "_and" in query:
        return all(matches(q, item) for q in query["_and"])
    if "_or" in query:
        return any(matches(q, item) for q in query["_or"])
    if "_not" in query:
        return not matches(query["_not"], item)
    if "_field" in query:
        return _has(item, query["_field"], query.get("_value"))
    if "_in" in query:
        inner = query["_in"]
        return any(_has(item, inner.get("_field"), v) for v in inner.get("_values", ()))
    if "_id" in query:
        return item["id"] == query["_id"]
    for operator in ("_like", "_wildcard"):
        if operator in query:
            inner = query[operator]
            pattern = str(inner.get("_value", "")).replace("%", "*")
            return fnmatch.fnmatchcase(str(item.get(inner.get("_field"), "")), pattern)
    unknown = [k for k in query if str(k).startswith("_")]
    if unknown:
        raise Problem(400, f"the query operator {unknown[0][:30]} is not supported here")
    return all(_has(item, field, value) for field, value in query.items())


def _has(item: dict[str, Any], field: Any, value: Any) -> bool:
    found = item.get(str(field))
    return value in found if isinstance(found, list) else str(found) == str(value)
