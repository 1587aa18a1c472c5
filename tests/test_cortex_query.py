"""Cortex's query language over one job as Cortex shows it, case by case: each operator
elastic4play reads and cortex4py builds, Lucene query strings, and the errors a query that
does not parse gets (a 400 naming what is wrong); ``range`` and ``sort``."""

from __future__ import annotations

import pytest
from cortex4py.query import And, Between, Contains, Eq, Gt, Gte, In, Lt, Lte, Not, Or, String

from tqops.server.api.cortexquery import matches, page
from tqops.server.auth import Problem

JOB = {
    "id": "7",
    "_id": "7",
    "_type": "job",
    "status": "Success",
    "dataType": "domain",
    "data": "www.microsoft.com",
    "tlp": 2,
    "pap": 2,
    "message": "",
    "label": "Case 42 lookup",
    "createdAt": 1_700_000_000_000,
    "parameters": {"organisation": "SOC", "user": "analyst@thehive.local"},
    "dataTypeList": ["domain", "fqdn"],
}

CASES = [
    ({}, True),
    ({"_any": 1}, True),
    (Eq("status", "Success"), True),
    (Eq("status", "success"), False),  # a term is exact
    (Eq("tlp", "2"), True),  # numbers as numbers
    (Eq("dataTypeList", "fqdn"), True),  # one of a list's items
    ({"dataType": "domain"}, True),
    ({"dataType": "domain", "tlp": 3}, False),
    (Eq("parameters.organisation", "SOC"), True),
    (Eq("parameters.nothing", "SOC"), False),
    (And(Eq("status", "Success"), Eq("tlp", 2)), True),
    (And(Eq("status", "Success"), Eq("tlp", 3)), False),
    (Or(Eq("tlp", 3), Eq("pap", 2)), True),
    (Not(Eq("status", "Success")), False),
    (In("status", ["Failure", "Success"]), True),
    (In("status", ["Failure"]), False),
    ({"_id": "7"}, True),
    ({"_type": "job"}, True),
    (Contains("label"), True),
    (Contains("message"), True),  # an empty text is a value, as Elasticsearch's exists
    (Contains("errorMessage"), False),
    (Gt("tlp", 1), True),
    (Gt("tlp", 2), False),
    (Gte("tlp", 2), True),
    (Lt("createdAt", 1_700_000_000_001), True),
    (Lte("createdAt", 1_699_999_999_999), False),
    (Between("tlp", 1, 3), True),
    (Between("tlp", 2, 3), False),  # both ends excluded, as elastic4play's ~<>
    ({"_like": {"_field": "data", "_value": "MICROSOFT"}}, True),
    ({"_like": {"_field": "data", "_value": "micro"}}, False),  # whole words
    ({"_like": {"_field": "data", "_value": "%.microsoft.%"}}, True),
    ({"_wildcard": {"_field": "data", "_value": "www.*"}}, True),
    ({"_wildcard": {"_field": "data", "_value": "WWW.*"}}, False),
    ({"_strict": {"_field": "label", "_value": "Case 42 lookup"}}, True),
    (String("status:Success"), True),
    (String("dataType:domain AND tlp:3"), False),
    (String("dataType:ip OR tlp:2"), True),
    (String("dataType:ip tlp:2"), True),  # side by side is OR, Lucene's default
    (String("+dataType:ip tlp:2"), False),  # + is required
    (String("tlp:2 -status:Success"), False),
    (String("NOT status:Failure"), True),
    (String("microsoft"), True),  # a bare term: any field
    (String('label:"42 lookup"'), True),
    (String('label:"lookup 42"'), False),
    (String("data:*soft*"), True),
    (String("tlp:[2 TO 3]"), True),
    (String("tlp:{2 TO 3]"), False),
    (String("createdAt:>=1700000000000"), True),
    (String("createdAt:<1700000000000"), False),
    (String("_exists_:label AND NOT _exists_:errorMessage"), True),
    (String("label:(nothing OR lookup)"), True),
    (String("parameters.user:analyst@thehive.local"), True),
    (String("(status:Failure OR tlp:2) AND dataType:domain"), True),
    (String("*"), True),
    ({"_status": "Success"}, False),  # elastic4play reads {"_x": value} as a term
]


@pytest.mark.parametrize(("query", "found"), CASES, ids=[str(q)[:60] for q, _ in CASES])
def test_a_query_finds_what_cortex_would(query, found):
    assert matches(query, JOB) is found


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([], "a query is a JSON object"),
        ({"_and": {}}, "_and takes a list of queries"),
        ({"_between": {"_field": "tlp"}}, "_between takes an object with _field, _from, _to"),
        ({"_in": {"_field": "tlp", "_values": 2}}, "_in._values is a list of values"),
        ({"_gt": {"tlp": 1, "pap": 1}}, "_gt takes one field and its bound"),
        ({"_parent": {"_type": "case", "_id": "1"}}, "the query operator _parent is not"),
        ({"_contains": 5}, "_contains takes a field name or text"),
        ({"_betwen": {"_field": "tlp", "_from": 1, "_to": 3}}, "_betwen is no query operator"),
        (String("status:("), "the _string query expects a term at the end"),
        (String("AND tlp:2"), "the _string query expects a term at column 1"),
        (String("tlp:[1 2]"), "the _string query's range at column 5 is not [LOW TO HIGH]"),
        (String('"open'), "the _string query does not parse at column 1"),
        (String("(tlp:2"), "the _string query expects ')' at the end"),
    ],
)
def test_a_query_that_does_not_parse_is_a_400_saying_why(query, message):
    with pytest.raises(Problem) as caught:
        matches(query, JOB)
    assert caught.value.status == 400 and str(caught.value.message).startswith(message)


def test_range_and_sort_as_cortex_takes_them():
    items = [{"n": 2, "s": "b"}, {"n": 10, "s": "a"}, {"s": "c"}, {"n": 1, "s": "a"}]
    assert [i.get("n") for i in page(items, "all", "-n")] == [10, 2, 1, None]
    assert [i.get("n") for i in page(items, None, "+n")] == [1, 2, 10, None]
    assert [i.get("n") for i in page(items, "1-3", ["+s", "-n"])] == [1, 2]
    assert page(items, "2", None) == items[2:]  # ten from 2, as elastic4play reads it
    assert page(items, "3-1", None) == items[3:]
    assert page(items, None, None) == items and page(items, None, None, "0-1") == items[:1]
    with pytest.raises(Problem, match="range is 'all', 'FROM-TO' or 'FROM'"):
        page(items, "a-b", None)
    with pytest.raises(Problem, match="sort is a field name"):
        page(items, None, [1])
