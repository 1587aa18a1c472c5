"""ThreatQ's indicator API over the host's store, as its clients read and feed it:

- threatqsdk: ``GET /api/indicator/types`` (``?name=FQDN`` filters by name: the SDK takes
  ``data[0]``), ``GET /api/indicator/statuses``, ``GET /api/indicators/{id}`` and
  ``POST /api/indicators/consume/new`` (its upload: a list of ``{"type", "status", "value",
  "attributes"?, "sources"?, ...}``, answered with the stored records).
- XSOAR's ThreatQ v2: its reputation commands send ``POST /api/indicators/query?limit=500
  &offset=0&sort=id`` with ``{"criteria": {"value": V}}`` (earlier versions
  ``{"value": {"+equals": V}}``), then ``GET /api/indicators/{id}?with=attributes,sources,
  score,type``, ``GET /api/indicator/statuses/{status_id}`` and ``GET /api/indicator/types/
  {type_id}``; its list command ``GET /api/indicators?with=...``; its advanced search
  ``POST /api/search/advanced?limit=N``; older versions search with ``GET /api/search?query=
  V&limit=N``. Its bodies come without a Content-Type: read as JSON.
- Elastic's ThreatQ integration: ``GET /api/indicators/query/hash/{collection}?sort=
  updated_at&limit=N&cursorMark=*``, then each poll with the answer's ``nextCursorMark``:
  the indicators changed since (new ones, a verdict, new attributes), oldest first. The
  host's data collections: ``all`` and ``active`` (status Active).

An indicator record carries ``id``, ``value``, ``type_id``/``type``, ``class``,
``status_id``/``status``, ``score`` (0-10), ``tlp``, ``created_at``, ``updated_at``,
``sources`` and ``attributes`` whatever ``with`` asks. Its status is the one a client gave
it, replaced by each later verdict of a job on it (``Whitelisted`` excepted); its score is
that verdict's, 0 when none scored it. Errors are ``{"errors": ["<one line>"]}``; a body with
a field this API does not know, an operator it does not have or a number out of range is a
422 naming it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from fastapi import APIRouter, Path, Query, Request

from tqops.dates import isoformat_utc, parse_datetime, platform_format
from tqops.errors import InputError
from tqops.model import IndicatorType
from tqops.server.api.common import parsed_json, protocol_route
from tqops.server.api.threatq import Reader, Runner, render_error
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host
from tqops.server.store.indicators import DEFAULT_STATUS, ORDERS, Group, Match
from tqops.server.users import User

__all__ = ["STATUSES", "router", "threatq_score"]

router = APIRouter(
    prefix="/api",
    tags=["threatq"],
    include_in_schema=False,
    route_class=protocol_route(render_error),
)

#: ThreatQ's indicator statuses (its ids), and what each means here
STATUSES: Mapping[int, tuple[str, str]] = {
    1: ("Active", "A threat: what detection tools are fed (a malicious verdict gives it)."),
    2: ("Expired", "No longer a threat."),
    3: ("Indirect", "Related to a threat, not one itself."),
    4: ("Review", "For an analyst to review (the status of what no verdict called malicious)."),
    5: ("Whitelisted", "No risk: never deployed, and no verdict changes it."),
}
_STATUS_IDS = {name.casefold(): number for number, (name, _) in STATUSES.items()}
_HOST_CLASS = {"MD5", "SHA-1", "SHA-256", "SHA-512", "Filename", "File Path", "Fuzzy Hash"}
_HOST_CLASS |= {"Mutex", "Registry Key"}
#: ids the store's columns hold (PostgreSQL's INTEGER): a larger one is found nowhere
MAX_ID = 2**31 - 1
MAX_PAGE = 1000
MAX_CONSUMED = 10_000
#: how many conditions a query may hold
MAX_CONDITIONS = 500
#: a feed sends only changes at least this old, so that one committed a moment later with
#: an earlier time (a write in flight while the page was read) is never behind its cursor
FEED_SETTLE_SECONDS = 2.0
#: the host's data collections (Elastic's ``query/hash/{collection}``)
COLLECTIONS: Mapping[str, Optional[Match]] = {
    "all": None,
    "active": Match("status", "eq", "Active"),
}
#: the fields of one indicator of ``consume``/``consume/new`` (threatqsdk's Indicator and
#: BulkIndicator, tqops' own ``Indicator.to_threatq()``); relations are read, not kept
_CONSUME_FIELDS = frozenset(
    {
        "type",
        "status",
        "value",
        "class",
        "normalize",
        "description",
        "published_at",
        "last_detected_at",
        "attributes",
        "sources",
        "indicators",
        "events",
        "adversaries",
    }
)
_QUERY_FIELDS = frozenset({"criteria", "filters", "fields"})
_CRITERIA_FIELDS = ("id", "value", "type", "type_id", "status", "status_id")
_OPERATORS = {"+equals": "eq", "+not": "ne", "+contains": "contains", "+like": "contains"}
_OPERATORS["+in"] = "in"
#: the store's field a criteria field tests (a type or status id, by its name)
_STORED_FIELD = {"type_id": "type", "status_id": "status"}
_ID = re.compile(r"[0-9]{1,10}")
_CURSOR = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\|\d{1,10}")


# -- types and statuses -----------------------------------------------------------------------


def type_row(kind: IndicatorType) -> dict[str, Any]:
    """An indicator type as ThreatQ lists it: its id, name and class."""
    number = list(IndicatorType).index(kind) + 1
    return {
        "id": number,
        "name": kind.value,
        "class": "host" if kind.value in _HOST_CLASS else "network",
    }


def status_row(number: int) -> dict[str, Any]:
    name, description = STATUSES[number]
    return {"id": number, "name": name, "description": description}


def _type_named(name: str) -> IndicatorType:
    try:
        return IndicatorType.from_name(name)
    except InputError as exc:
        raise Problem(422, str(exc)) from None


def _type_numbered(number: int) -> IndicatorType:
    kinds = list(IndicatorType)
    if not 1 <= number <= len(kinds):  # out of range is no type, as the host says of ids
        raise Problem(404, f"no indicator type with id {number}")
    return kinds[number - 1]


def _status_named(name: str) -> str:
    number = _STATUS_IDS.get(" ".join(name.split()).casefold())
    if number is None:
        names = ", ".join(n for n, _ in STATUSES.values())
        raise Problem(422, f"unknown indicator status {name[:40]!r}; expected one of: {names}")
    return STATUSES[number][0]


def _status_numbered(number: int) -> str:
    if number not in STATUSES:
        raise Problem(404, f"no indicator status with id {number}")
    return STATUSES[number][0]


@router.get("/indicator/types")
def indicator_types(user: Reader, name: Optional[str] = Query(None, max_length=200)) -> dict:
    """Every indicator type, or the one named ``name`` (case-insensitively; none: empty)."""
    rows = [type_row(kind) for kind in IndicatorType]
    if name is not None:
        wanted = " ".join(name.split()).casefold()
        rows = [row for row in rows if row["name"].casefold() == wanted]
    return {"total": len(rows), "data": rows}


@router.get("/indicator/types/{type_id}")
def indicator_type(type_id: int, user: Reader) -> dict:
    return {"data": type_row(_type_numbered(type_id))}


@router.get("/indicator/statuses")
def indicator_statuses(user: Reader, name: Optional[str] = Query(None, max_length=200)) -> dict:
    """Every indicator status, or the one named ``name`` (case-insensitively)."""
    rows = [status_row(number) for number in STATUSES]
    if name is not None:
        wanted = " ".join(name.split()).casefold()
        rows = [row for row in rows if row["name"].casefold() == wanted]
    return {"total": len(rows), "data": rows}


@router.get("/indicator/statuses/{status_id}")
def indicator_status(status_id: int, user: Reader) -> dict:
    _status_numbered(status_id)
    return {"data": status_row(status_id)}


# -- records ----------------------------------------------------------------------------------


def threatq_score(score: Any) -> int:
    """A verdict's 0-100 score on ThreatQ's 0-10 scale, rounded half up; 0 (ThreatQ's own
    default) when no verdict scored the indicator."""
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return 0
    return min(10, max(0, int(score / 10 + 0.5)))


def _stamp(iso: Optional[str]) -> Optional[str]:
    return platform_format(parse_datetime(iso)) if iso else None


def _record(row: Mapping[str, Any], attributes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A stored indicator as ThreatQ answers one, with its attributes."""
    kind = type_row(IndicatorType.from_name(row["type"]))
    status_id = _STATUS_IDS.get(str(row["status"] or DEFAULT_STATUS).casefold(), 4)
    source = row["source"] or "tqops"
    sources = [{"name": source, "tlp": {"name": row["tlp"]}}]
    for attribute in attributes:
        if all(s["name"] != attribute["source"] for s in sources):
            sources.append({"name": attribute["source"]})
    created, updated = _stamp(row["created_at"]), _stamp(row["updated_at"] or row["created_at"])
    return {
        "id": row["id"],
        "value": row["value"],
        "type_id": kind["id"],
        "type": kind,
        "class": kind["class"],
        "status_id": status_id,
        "status": status_row(status_id),
        "score": threatq_score(row["score"]),
        "description": None,
        "tlp": {"name": row["tlp"]},
        "created_at": created,
        "published_at": created,
        "updated_at": updated,
        "touched_at": updated,
        "sources": sources,
        "attributes": [
            {
                "indicator_id": row["id"],
                "name": a["name"],
                "value": a["value"],
                "published_at": _stamp(a["published_at"]),
                "sources": [{"name": a["source"]}],
            }
            for a in attributes
        ],
        "adversaries": [],
    }


def _records(host: Host, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    attributes = host.store.attributes_of([int(row["id"]) for row in rows])
    return [_record(row, attributes[int(row["id"])]) for row in rows]


def _order(sort: Optional[str]) -> str:
    order = (sort or "id").strip()
    if order not in ORDERS:
        raise Problem(422, f"sort {order[:40]!r} is not one of: {', '.join(ORDERS)}")
    return order


def _page(
    host: Host, condition: Union[Match, Group, None], sort: Optional[str], offset: int, limit: int
) -> dict[str, Any]:
    total, rows = host.store.find_indicators(condition, _order(sort), offset, limit)
    return {"total": total, "offset": offset, "limit": limit, "data": _records(host, rows)}


Limit = Query(100, ge=1, le=MAX_PAGE)
Offset = Query(0, ge=0, le=MAX_ID)
With = Query(None, alias="with", max_length=500)


@router.get("/indicators")
def list_indicators(
    request: Request,
    user: Reader,
    value: Optional[str] = Query(None, max_length=16_384),
    type_id: Optional[int] = Query(None, ge=1, le=MAX_ID),
    status_id: Optional[int] = Query(None, ge=1, le=MAX_ID),
    sort: Optional[str] = Query(None, max_length=40),
    limit: int = Limit,
    offset: int = Offset,
    with_: Optional[str] = With,
) -> dict[str, Any]:
    """The store's indicators: ``value`` (equal, case-insensitively), ``type_id`` and
    ``status_id`` filter; every record carries its relations, whatever ``with`` asks."""
    parts: list[Match] = []
    if value is not None:
        parts.append(Match("value", "eq", value))
    if type_id is not None:
        parts.append(Match("type", "eq", _type_numbered(type_id).value))
    if status_id is not None:
        parts.append(Match("status", "eq", _status_numbered(status_id)))
    return _page(host_of(request), Group("AND", tuple(parts)), sort, offset, limit)


@router.get("/indicators/{indicator_id}")
def get_indicator(
    indicator_id: int, request: Request, user: Reader, with_: Optional[str] = With
) -> dict[str, Any]:
    host = host_of(request)
    # an id no column holds is no id, as the host answers one over 64 bits
    row = host.store.indicator(indicator_id) if 0 < indicator_id <= MAX_ID else None
    if row is None:
        raise Problem(404, f"no indicator with id {indicator_id}")
    return {"data": _records(host, [row])[0]}


@router.get("/search")
def search(
    request: Request,
    user: Reader,
    query: str = Query(min_length=1, max_length=16_384),
    limit: int = Query(10, ge=1, le=MAX_PAGE),
) -> dict[str, Any]:
    """ThreatQ's quick search: the indicators whose value holds ``query``."""
    condition = Match("value", "contains", query)
    total, rows = host_of(request).store.find_indicators(condition, "id", 0, limit)
    found = [{"object": "indicator", "id": r["id"], "value": r["value"]} for r in rows]
    return {"total": total, "data": found}


@router.post("/search/advanced")
async def advanced_search(
    request: Request, user: Reader, limit: int = Query(10, ge=1, le=MAX_PAGE)
) -> dict[str, Any]:
    """ThreatQ's advanced search as XSOAR's ``threatq-advanced-search`` sends it:
    ``{"indicators": [[{"field", "operator", "value"}, ...], ...]}``, each inner list ANDed,
    the lists ORed; fields ``indicator_value`` (``is``, ``is not``, ``like``),
    ``indicator_type`` and ``indicator_status`` (``is``, ``is not``; by id or name)."""
    body = await _json(request)
    if not isinstance(body, dict) or set(body) != {"indicators"}:
        raise Problem(422, 'expected {"indicators": [[{"field", "operator", "value"}]]} @ $')
    groups = body["indicators"]
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise Problem(422, "expected a list of lists of filters @ $.indicators")
    budget = _Budget()
    either = Group(
        "OR",
        tuple(
            Group(
                "AND",
                tuple(
                    _filter(item, f"$.indicators[{i}][{j}]", budget) for j, item in enumerate(group)
                ),
            )
            for i, group in enumerate(groups)
        ),
    )
    total, rows = await asyncio.to_thread(
        host_of(request).store.find_indicators, either, "id", 0, limit
    )
    found = [{"object": "indicator", "id": r["id"], "value": r["value"]} for r in rows]
    return {"total": total, "data": found}


#: an advanced search's fields: the criteria field each is, and the operators it takes
_FILTERS: Mapping[str, tuple[str, frozenset[str]]] = {
    "indicator_value": ("value", frozenset({"is", "is not", "like"})),
    "indicator_type": ("type", frozenset({"is", "is not"})),
    "indicator_status": ("status", frozenset({"is", "is not"})),
}
_FILTER_OPS = {"is": "+equals", "is not": "+not", "like": "+contains"}


def _filter(item: Any, where: str, budget: _Budget) -> Match:
    if not isinstance(item, dict) or set(item) != {"field", "operator", "value"}:
        raise Problem(422, f'expected {{"field", "operator", "value"}} @ {where}')
    field, operator = item["field"], item["operator"]
    if field not in _FILTERS:
        raise Problem(422, f"unknown field {str(field)[:40]!r} @ {where}: {', '.join(_FILTERS)}")
    name, operators = _FILTERS[field]
    if operator not in operators:
        raise Problem(422, f"{field} takes {', '.join(sorted(operators))} @ {where}.operator")
    budget.spend()
    value = item["value"]
    if name != "value" and (isinstance(value, int) or str(value).strip().isdigit()):
        name += "_id"  # XSOAR sends a type by its id
    return _match(name, {_FILTER_OPS[operator]: value}, f"{where}.value")


# -- queries ----------------------------------------------------------------------------------


class _Budget:
    """Counts a query's conditions (a bound, like the body's depth)."""

    def __init__(self) -> None:
        self.left = MAX_CONDITIONS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Problem(422, f"a query holds at most {MAX_CONDITIONS} conditions")


def _criteria(given: Any, where: str, budget: _Budget) -> Group:
    """ThreatQ's ``criteria`` (and ``filters``): fields ANDed, ``+or``/``+and`` lists of
    criteria, a field's value given as is or with one operator."""
    if not isinstance(given, dict):
        raise Problem(422, f"expected a JSON object @ {where}")
    parts: list[Union[Match, Group]] = []
    for key, value in given.items():
        if key in ("+or", "+and"):
            if not isinstance(value, list):
                raise Problem(422, f"expected a list of criteria @ {where}.{key}")
            inner = tuple(
                _criteria(item, f"{where}.{key}[{index}]", budget)
                for index, item in enumerate(value)
            )
            parts.append(Group("OR" if key == "+or" else "AND", inner))
        elif key in _CRITERIA_FIELDS:
            budget.spend()
            parts.append(_match(key, value, f"{where}.{key}"))
        else:
            fields = ", ".join((*_CRITERIA_FIELDS, "+or", "+and"))
            raise Problem(422, f"unknown field {str(key)[:40]!r} @ {where}; expected {fields}")
    return Group("AND", tuple(parts))


def _match(field: str, given: Any, where: str) -> Match:
    """One field's condition: ``V`` or ``{"+equals" | "+not" | "+contains" | "+like" | "+in":
    V}``."""
    op = "eq"
    if isinstance(given, dict):
        if len(given) != 1 or next(iter(given)) not in _OPERATORS:
            names = ", ".join(_OPERATORS)
            raise Problem(422, f"expected one operator of {names} @ {where}")
        key, given = next(iter(given.items()))
        op, where = _OPERATORS[key], f"{where}.{key}"
    stored = _STORED_FIELD.get(field, field)
    if op == "in":
        if not isinstance(given, list) or len(given) > MAX_CONDITIONS:
            raise Problem(422, f"expected a list of at most {MAX_CONDITIONS} values @ {where}")
        return Match(stored, op, [_one(field, v, where) for v in given])
    if op == "contains" and field != "value":
        raise Problem(422, f"{field} takes +equals, +not or +in @ {where}")
    return Match(stored, op, _one(field, given, where))


def _one(field: str, given: Any, where: str) -> Any:
    """One value of ``field`` as the store holds it: a type or status by name, an id."""
    if isinstance(given, bool) or not isinstance(given, (str, int)):
        raise Problem(422, f"expected a string or a number @ {where}")
    if field in ("id", "type_id", "status_id"):
        digits = str(given).strip()
        if not _ID.fullmatch(digits) or not 0 < int(digits) <= MAX_ID:
            raise Problem(422, f"expected an id (a positive number) @ {where}")
        number = int(digits)
        if field == "type_id":
            kinds = list(IndicatorType)
            if number > len(kinds):
                raise Problem(422, f"no indicator type with id {number} @ {where}")
            return kinds[number - 1].value
        if field == "status_id":
            if number not in STATUSES:
                raise Problem(422, f"no indicator status with id {number} @ {where}")
            return STATUSES[number][0]
        return number
    text = str(given)
    if len(text) > 16_384:
        raise Problem(422, f"a value is at most 16384 characters @ {where}")
    if field == "type":
        return _type_named(text).value
    if field == "status":
        return _status_named(text)
    return text


@router.post("/indicators/query")
async def query_indicators(
    request: Request,
    user: Reader,
    sort: Optional[str] = Query(None, max_length=40),
    limit: int = Limit,
    offset: int = Offset,
) -> dict[str, Any]:
    """ThreatQ's indicator query: ``{"criteria": {...}, "filters"?: {...}, "fields"?: [...]}``
    (the records carry every field, whatever ``fields`` lists)."""
    body = await _json(request)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Problem(422, 'expected {"criteria": {...}} @ $')
    unknown = sorted(str(k)[:40] for k in body if k not in _QUERY_FIELDS)
    if unknown:
        expected = ", ".join(sorted(_QUERY_FIELDS))
        raise Problem(422, f"unknown field {unknown[0]!r} @ $; expected {expected}")
    fields = body.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise Problem(422, "expected a list of field names @ $.fields")
    budget = _Budget()
    parts = [
        _criteria(body[key], f"$.{key}", budget) for key in ("criteria", "filters") if key in body
    ]
    host = host_of(request)
    return await asyncio.to_thread(_page, host, Group("AND", tuple(parts)), sort, offset, limit)


@router.get("/indicators/query/hash/{collection}")
def collection_feed(
    request: Request,
    user: Reader,
    collection: str = Path(max_length=100),
    sort: str = Query("updated_at", max_length=40),
    limit: int = Limit,
    cursor_mark: str = Query("*", alias="cursorMark", max_length=200),
) -> dict[str, Any]:
    """A data collection as a feed: the indicators changed after ``cursorMark`` (``*``: from
    the start), oldest change first, and the mark to ask with next (the same one when
    nothing changed since)."""
    if collection not in COLLECTIONS:
        raise Problem(404, f"no data collection {collection[:60]!r}: {', '.join(COLLECTIONS)}")
    if sort != "updated_at":
        raise Problem(422, "a data collection is read in the order of change: sort=updated_at")
    after = _cursor(cursor_mark)
    until = datetime.now(timezone.utc) - timedelta(seconds=FEED_SETTLE_SECONDS)
    host = host_of(request)
    total, rows = host.store.changed_indicators(
        COLLECTIONS[collection], after, isoformat_utc(until) or "", limit
    )
    mark = cursor_mark
    if rows:
        last = rows[-1]
        mark = _mark(str(last["updated_at"]), int(last["id"]))
    return {"total": total, "data": _records(host, rows), "nextCursorMark": mark, "limit": limit}


def _mark(updated_at: str, indicator_id: int) -> str:
    return base64.urlsafe_b64encode(f"{updated_at}|{indicator_id}".encode()).decode()


def _cursor(mark: str) -> Optional[tuple[str, int]]:
    """The position a ``cursorMark`` this host gave stands for (``*``: None)."""
    if mark == "*":
        return None
    try:
        text = base64.urlsafe_b64decode(mark.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not _CURSOR.fullmatch(text):
        raise Problem(400, "cursorMark is not one this host gave: start again with cursorMark=*")
    updated_at, _, number = text.partition("|")
    return updated_at, int(number)


# -- consuming --------------------------------------------------------------------------------


@router.post("/indicators/consume")
async def consume(request: Request, user: Runner) -> dict[str, Any]:
    """Indicators in the consume payload (one object or a list) into the host's store, each
    with its attributes, its first source (name and TLP) and the status it names."""
    host = host_of(request)
    payloads = await _consume_body(request)
    data, errors = await asyncio.to_thread(_store_consumed, host, payloads, user)
    if errors and not data:
        raise Problem(400, "; ".join(errors)[:2000])
    brief = [{"id": r["id"], "value": r["value"], "type": r["type"]} for r in data]
    for row, item in zip(brief, data):
        row["created"] = item["created"]
    return {"total": len(brief), "data": brief, **({"errors": errors} if errors else {})}


@router.post("/indicators/consume/new")
async def consume_new(request: Request, user: Runner) -> dict[str, Any]:
    """threatqsdk's upload: as ``consume``, answered with each stored indicator's record."""
    host = host_of(request)
    payloads = await _consume_body(request)
    data, errors = await asyncio.to_thread(_store_consumed, host, payloads, user)
    if errors and not data:
        raise Problem(400, "; ".join(errors)[:2000])
    records = await asyncio.to_thread(_records_of, host, [int(r["id"]) for r in data])
    return {"total": len(records), "data": records, **({"errors": errors} if errors else {})}


def _records_of(host: Host, ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = [host.store.indicator(i) for i in ids]
    return _records(host, [row for row in rows if row is not None])


async def _consume_body(request: Request) -> list[Any]:
    body = await _json(request)
    payloads = body if isinstance(body, list) else [body]
    if len(payloads) > MAX_CONSUMED:
        raise Problem(413, f"at most {MAX_CONSUMED} indicators per call")
    for index, payload in enumerate(payloads):
        if isinstance(payload, dict):
            unknown = sorted(str(k)[:40] for k in payload if k not in _CONSUME_FIELDS)
            if unknown:
                raise Problem(422, f"unknown field {unknown[0]!r} @ $[{index}]")
    return payloads


def _store_consumed(host: Host, payloads: list[Any], user: User) -> tuple[list[Any], list[str]]:
    read = [_consumed(payload) for payload in payloads]
    by_source: dict[str, list[int]] = {}
    for index, (_, source) in enumerate(read):
        by_source.setdefault(source, []).append(index)
    data: list[Any] = []
    failed: list[tuple[int, str]] = []
    for source, indexes in by_source.items():
        rows = host.add_indicators([read[i][0] for i in indexes], user, source)
        for index, row in zip(indexes, rows):
            if "error" in row:
                failed.append((index, f"indicator {index}: {row['error']}"))
                continue
            item = read[index][0]
            attributes = [(a["name"], a["value"], a["published_at"]) for a in item["attributes"]]
            host.store.add_attributes(row["id"], attributes, source)
            if item["status"]:
                host.store.set_indicator_status(row["id"], item["status"])
            kind = type_row(IndicatorType.from_name(row["type"]))
            data.append({"id": row["id"], "value": row["value"], "type": kind})
            data[-1]["created"] = row["created"]
    return data, [message for _, message in sorted(failed)]


def _named(given: Any) -> Any:
    """A type or status given by name, ``{"name": ...}`` or ``{"id": ...}``: its name (an id
    as ``#N``), or what it is."""
    if isinstance(given, dict):
        if "name" in given:
            return given["name"]
        if "id" in given:
            return f"#{given['id']}"
    return given


def _consumed(payload: Any) -> tuple[dict[str, Any], str]:
    """(indicator item for the host, source name) from one consume payload; an item that
    cannot be read carries its ``error``."""
    if not isinstance(payload, dict):
        return {"error": "an indicator is a JSON object"}, ""
    try:
        kind = _named(payload.get("type"))
        if isinstance(kind, str) and kind.startswith("#"):
            kind = _type_numbered(int(kind[1:])).value
        status = _named(payload.get("status"))
        if isinstance(status, str) and status.startswith("#"):
            status = _status_numbered(int(status[1:]))
        elif status is not None:
            status = _status_named(str(status))
        for key in ("published_at", "last_detected_at"):
            if payload.get(key):
                _when(payload[key])
    except (Problem, ValueError, TypeError, OverflowError, OSError) as exc:
        return {"error": " ".join(str(exc).split())[:200]}, ""
    sources = [s for s in payload.get("sources") or [] if isinstance(s, dict)]
    source = str(sources[0].get("name") or "ThreatQ API") if sources else "ThreatQ API"
    tlp = sources[0].get("tlp") if sources else None
    tlp = tlp.get("name") if isinstance(tlp, dict) else tlp
    try:
        attributes = [
            {
                "name": str(a["name"]),
                "value": str(a["value"]),
                "published_at": isoformat_utc(_when(a.get("published_at"))),
            }
            for a in payload.get("attributes") or []
        ]
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        return {"error": f"an attribute needs a name, a value and a valid date ({exc})"}, ""
    item = {"type": kind, "value": payload.get("value"), "tlp": tlp, "attributes": attributes}
    return {**item, "status": status}, source[:200]


def _when(text: Any) -> Any:
    return parse_datetime(text) if text else None


async def _json(request: Request) -> Any:
    """The body as JSON, whatever its Content-Type says (XSOAR sends none)."""
    return parsed_json(await request.body() or b"null")
