"""Cortex's search over a listing's objects (analyzers, jobs, users): its query language as
elastic4play reads it (``services/JsonFormat.scala`` ``queryReads``, ``services/QueryDSL.scala``)
and cortex4py builds it (``query.py``), and its ``range`` and ``sort`` parameters.

Operators: ``{}`` and ``_any`` (everything), ``_field``/``_value`` and ``{"field": value}`` (a
term: equal, or one of a list's items), ``_and``, ``_or``, ``_not``, ``_in``
(``_field``/``_values``), ``_id``, ``_type``, ``_contains`` (the field has a value), ``_gt``,
``_gte``, ``_lt``, ``_lte`` (``{"field": value}``), ``_between`` (``_field``/``_from``/``_to``,
both ends excluded, as elastic4play's ``~<>``), ``_like`` (a match: the value, case folded, is in
the field between word boundaries; a value with ``*``, ``?`` or ``%`` is a pattern of the whole
field instead), ``_wildcard`` and ``_strict`` (a pattern, an exact value), and ``_string`` (a
Lucene query string: :mod:`tqops.server.api.cortex_lucene`). Fields may be dotted paths
(``parameters.organisation``); numbers compare as numbers, other values as text.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

from tqops.server.api.cortex_lucene import Node, parse_lucene
from tqops.server.auth import Problem

__all__ = ["field_value", "matches", "page", "same", "words"]

_WORD = re.compile(r"\w+")
_RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "_gt": lambda found, bound: _compare(found, bound) > 0,
    "_gte": lambda found, bound: _compare(found, bound) >= 0,
    "_lt": lambda found, bound: _compare(found, bound) < 0,
    "_lte": lambda found, bound: _compare(found, bound) <= 0,
}
#: what a query may not use here: what it would do means nothing over these listings
_UNSUPPORTED = ("_parent", "_child")


def page(
    items: list[dict[str, Any]], range_: Any, sort: Any, default: Optional[str] = None
) -> list[Any]:
    """Cortex's ``sort`` (``+name``, ``-name``, ``name``, or a list of those, applied in order)
    and ``range`` (``all``, ``FROM-TO``, or ``N``: ten from N); ``default`` is the range when
    none is given (all of it unless said: Cortex's own is ``0-10``)."""
    for key in reversed(_sort_keys(sort)):  # stable sorts, the last key first
        field = key.lstrip("+-")
        items = sorted(items, key=lambda i: _sort_value(field_value(i, field)))
        if key.startswith("-"):
            present = [i for i in items if field_value(i, field) is not None]
            absent = [i for i in items if field_value(i, field) is None]
            items = present[::-1] + absent  # a missing value goes last either way
    bounds = page_bounds(range_, default)
    return items if bounds is None else items[bounds[0] : bounds[1]]


def page_bounds(range_: Any, default: Optional[str] = None) -> Optional[tuple[int, int]]:
    """``range`` as (start, end), or None for all of it; as elastic4play's DBFind reads it, a
    range that ends before it starts, or ``N`` alone, is ten from its start."""
    if range_ is None or range_ == "":
        range_ = default
    if range_ is None or range_ == "all":
        return None
    text = str(range_).strip()
    found = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9}))?", text)
    if not found:
        raise Problem(400, f"range is 'all', 'FROM-TO' or 'FROM', not {text[:20]!r}")
    start = int(found.group(1))
    end = int(found.group(2)) if found.group(2) is not None else start
    return (start, end) if end > start else (start, start + 10)


def _sort_keys(sort: Any) -> list[str]:
    if not sort:
        return []
    keys = [sort] if isinstance(sort, str) else sort
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise Problem(400, "sort is a field name (+name, -name) or a list of them")
    return [k.strip() for k in keys if k.strip().lstrip("+-")]


def _sort_value(value: Any) -> tuple[int, Any]:
    number = _number(value)
    if value is None:
        return (2, "")
    return (0, number) if number is not None else (1, str(value))


def matches(query: Any, item: dict[str, Any]) -> bool:
    """Whether ``item`` (one object of a listing, as Cortex shows it) is one ``query`` finds;
    a 400 naming what is wrong for a query this language does not have."""
    if query is None or query == {}:
        return True
    if not isinstance(query, dict):
        raise Problem(400, "a query is a JSON object")
    if "_field" in query:
        return has(item, query["_field"], query.get("_value"))
    if len(query) == 1:
        ((operator, argument),) = query.items()
        if str(operator).startswith("_"):
            return _operator(str(operator), argument, item)
    unknown = [k for k in query if str(k).startswith("_")]
    if unknown:
        raise Problem(400, f"the query operator {str(unknown[0])[:30]} takes an object of its own")
    return all(has(item, field, value) for field, value in query.items())


def _operator(operator: str, argument: Any, item: dict[str, Any]) -> bool:
    if operator in ("_and", "_or"):
        if not isinstance(argument, (list, tuple)):  # a tuple: cortex4py's, before JSON
            raise Problem(400, f"{operator} takes a list of queries")
        test = all if operator == "_and" else any
        return test(matches(q, item) for q in argument)
    if operator == "_not":
        return not matches(argument, item)
    if operator == "_any":
        return True
    if operator in ("_id", "_type"):
        return same(item.get("id" if operator == "_id" else "_type"), argument)
    if operator == "_contains":
        return _present(field_value(item, _text(argument, operator)))
    if operator == "_string":
        return _lucene(parse_lucene(_text(argument, operator)), item)
    if operator in _RANGES:
        field, bound = _one_pair(argument, operator)
        return _in_range(item, field, lambda found: _RANGES[operator](found, bound))
    if operator == "_between":
        inner = _object(argument, operator, ("_field", "_from", "_to"))
        low, high = inner["_from"], inner["_to"]
        within = lambda found: _compare(found, low) > 0 and _compare(found, high) < 0  # noqa: E731
        return _in_range(item, _text(inner["_field"], "_between._field"), within)
    if operator == "_in":
        inner = _object(argument, operator, ("_field", "_values"))
        if not isinstance(inner["_values"], (list, tuple)):
            raise Problem(400, "_in._values is a list of values")
        return any(has(item, inner["_field"], value) for value in inner["_values"])
    if operator in ("_like", "_wildcard", "_strict"):
        inner = _object(argument, operator, ("_field", "_value"))
        found = field_value(item, _text(inner["_field"], f"{operator}._field"))
        test = {"_like": like, "_wildcard": _glob_case, "_strict": same}[operator]
        return any(test(value, inner["_value"]) for value in _values(found))
    if operator in _UNSUPPORTED:
        raise Problem(400, f"the query operator {operator} is not supported here")
    if isinstance(argument, (dict, list, tuple)) or argument is None:  # as elastic4play: invalid
        raise Problem(400, f"{operator[:30]} is no query operator Cortex has")
    return has(item, operator, argument)  # elastic4play reads {"_x": value} as a term, too


def has(item: dict[str, Any], field: Any, value: Any) -> bool:
    """A term: the field holds ``value`` (or a list holding it)."""
    return any(same(found, value) for found in _values(field_value(item, str(field))))


def field_value(item: dict[str, Any], field: str) -> Any:
    """A field of ``item``, a dotted path walking into objects (None where there is none)."""
    found: Any = item
    for part in field.split("."):
        if not isinstance(found, dict) or part not in found:
            return None
        found = found[part]
    return found


def same(found: Any, value: Any) -> bool:
    """Two values as a term query compares them: numbers as numbers, booleans as true and
    false, anything else as text."""
    if found is None or isinstance(found, (dict, list)):
        return False
    if isinstance(found, bool) or isinstance(value, bool):
        return str(found).lower() == str(value).lower()
    numbers = _number(found), _number(value)
    if None not in numbers:
        return numbers[0] == numbers[1]
    return str(found) == str(value)


def like(found: Any, value: Any) -> bool:
    """elastic4play's ``like`` as a phrase: ``value`` (case folded) is in ``found`` between
    word boundaries (``microsoft`` in ``www.microsoft.com``, ``8.8.8.8`` not in
    ``8.8.8.80``); a value holding ``*``, ``?`` or ``%`` is a pattern of the whole field."""
    if found is None or isinstance(found, (dict, list)):
        return False
    text = str(value).lower()
    if any(c in text for c in "*?%"):
        return fnmatch.fnmatchcase(str(found).lower(), text.replace("%", "*"))
    if not text.strip():
        return same(found, value)
    return re.search(rf"(?<!\w){re.escape(text.strip())}(?!\w)", str(found).lower()) is not None


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _glob_case(found: Any, value: Any) -> bool:
    return found is not None and fnmatch.fnmatchcase(str(found), str(value))


def _values(found: Any) -> list[Any]:
    return found if isinstance(found, list) else [found]


def _present(found: Any) -> bool:
    """Whether a field has a value, as Elasticsearch's ``exists`` (an empty text has one)."""
    return found is not None and found != []


def _in_range(item: dict[str, Any], field: str, test: Callable[[Any], bool]) -> bool:
    found = field_value(item, field)
    return any(
        v is not None and not isinstance(v, (dict, list)) and test(v) for v in _values(found)
    )


def _compare(found: Any, bound: Any) -> int:
    """-1, 0 or 1: numbers as numbers, anything else as text."""
    numbers = _number(found), _number(bound)
    pair: tuple[Any, Any] = numbers if None not in numbers else (str(found), str(bound))
    return (pair[0] > pair[1]) - (pair[0] < pair[1])


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value)) if re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", str(value)) else None
    except ValueError:
        return None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise Problem(400, f"{where} takes a field name or text, not {str(value)[:30]!r}")
    return value


def _one_pair(argument: Any, operator: str) -> tuple[str, Any]:
    if not isinstance(argument, dict) or len(argument) != 1:
        raise Problem(400, f'{operator} takes one field and its bound: {{"field": value}}')
    ((field, bound),) = argument.items()
    return str(field), bound


def _object(argument: Any, operator: str, keys: Sequence[str]) -> dict[str, Any]:
    missing = [k for k in keys if not isinstance(argument, dict) or k not in argument]
    if missing:
        raise Problem(
            400, f"{operator} takes an object with {', '.join(keys)}; {missing[0]} is missing"
        )
    return argument  # type: ignore[no-any-return]


def _lucene(node: Node, item: dict[str, Any]) -> bool:
    """A parsed query string over ``item``: a term is a match (:func:`like`) of the field, or
    of any text of the item where it names none; a phrase is a part of the text."""
    kind = node[0]
    if kind in ("and", "or"):
        test = all if kind == "and" else any
        return test(_lucene(child, item) for child in node[1])
    if kind == "not":
        return not _lucene(node[1], item)
    if kind == "all":
        return True
    field = node[1]
    if kind == "exists":
        return _present(field_value(item, field))
    found = _values(field_value(item, field)) if field else list(_texts(item))
    if kind == "range":
        _, _, low, high, low_in, high_in = node
        return any(_within(v, low, high, low_in, high_in) for v in found if v is not None)
    text = node[2]
    if kind == "phrase":
        return any(v is not None and text.lower() in str(v).lower() for v in found)
    if kind == "pattern":
        pattern = text.lower()
        return any(
            fnmatch.fnmatchcase(str(v).lower(), pattern)
            or any(fnmatch.fnmatchcase(w, pattern) for w in words(str(v)))
            for v in found
            if v is not None and not isinstance(v, (dict, list))
        )
    return any(like(v, text) for v in found)


def _within(found: Any, low: Any, high: Any, low_in: bool, high_in: bool) -> bool:
    if isinstance(found, (dict, list)):
        return False
    if low is not None and (_compare(found, low) < 0 or (not low_in and _compare(found, low) == 0)):
        return False
    return high is None or not (
        _compare(found, high) > 0 or (not high_in and _compare(found, high) == 0)
    )


def _texts(item: Any) -> Iterator[Any]:
    """Every value of ``item``, into its objects and lists."""
    if isinstance(item, dict):
        for value in item.values():
            yield from _texts(value)
    elif isinstance(item, list):
        for value in item:
            yield from _texts(value)
    else:
        yield item
