"""Fuzzing: the feed-path parser and the mapper raise only the project's own errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcso_tie_operation import OPERATION as TIE
from tego_operation import OPERATION as TEGO
from tests.support.mapping_oracle import Interpreter, interpret
from tqops import (
    ApiError,
    FeedPath,
    Indicator,
    IndicatorType,
    ManifestError,
    Mapper,
    MappingSpec,
    PathSyntaxError,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
path_alphabet = st.sampled_from(list('.[]"\\-_0123456789abcxyz @$!'))
keys = st.sampled_from(
    [
        "iocs",
        "observations",
        "value",
        "data_type",
        "severity",
        "first_seen",
        "categories",
        "attributes",
        "name",
        "created_at",
        "hotness",
    ]
)
tie_like = st.recursive(
    st.none()
    | st.integers(-3, 10)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "DomainName",
            "IPv4",
            "ExactHash",
            "md5:" + "a" * 32,
            "1.2.3.4/32",
            "2020-05-26 02:37:55+00:00",
            "2020-05-26T02:37:55Z",
            "PEHash",
        ]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(st.text(path_alphabet, max_size=30))
def test_path_parser_raises_only_path_syntax_errors(text):
    try:
        path = FeedPath.parse(text)
    except PathSyntaxError as exc:
        assert "\n" not in str(exc)
        assert 0 <= exc.column <= max(len(text), 1)
        return
    assert FeedPath.parse(str(path)) == path


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.text(path_alphabet, min_size=1, max_size=20), json_values)
def test_path_evaluation_never_raises(text, document):
    try:
        path = FeedPath.parse("." + text.lstrip("."))
    except PathSyntaxError:
        return
    assert isinstance(path.values(document), list)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | st.dictionaries(st.just("iocs"), st.lists(tie_like, max_size=4)))
def test_mappers_turn_any_json_into_indicators_or_warnings(document):
    for operation in (TIE, TEGO):
        try:
            result = operation.map("search", [document])
        except ApiError as exc:  # a document of another shape: one line saying so
            assert "does not fit" in str(exc) and "\n" not in str(exc)
            continue
        for indicator in result.indicators:
            assert indicator.value and isinstance(indicator.value, str)
            assert all(isinstance(a.value, str) and a.value for a in indicator.attributes)
            indicator.to_threatq()
        assert all("\n" not in w for w in result.warnings)


# -- the compiled mapper against the interpreter (its specification, tests/mapping_oracle.py) --


def _reference(operation, action="search"):
    return Interpreter.compile(operation.mappers[action].spec, operation.transforms)


def test_every_shipped_mapping_is_compiled_into_a_function():
    for operation in (TIE, TEGO):
        assert "def _mapped(" in operation.mappers["search"].generated_source


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | st.dictionaries(st.just("iocs"), st.lists(tie_like, max_size=4)))
def test_generated_mappers_equal_the_interpreter_on_any_json(document):
    for operation in (TIE, TEGO):
        generated = operation.mappers["search"]
        assert generated.map(document) == _reference(operation).map(document)


segments = st.sampled_from(["a", "b", "b", "b", "[]", "[0]", "[-1]"])


def _path(parts: list[str]) -> str:
    return ".r[].a[]" + "".join(p if p.startswith("[") else "." + p for p in parts)


@st.composite
def rows(draw: st.DrawFn) -> dict:
    """A mapping row whose published date and name are often read beside its value."""
    parts = [draw(st.sampled_from(["b", "b", "a"])), *draw(st.lists(segments, max_size=2))]
    row: dict = {"path": _path(parts)}

    def nearby(last: str) -> str:  # a key of one of the value's enclosing elements
        cut = draw(st.integers(0, max(len(parts) - 1, 0)))
        return _path([*parts[:cut], last])

    published = draw(st.lists(st.sampled_from(["near", "record", "any"]), max_size=2))
    if published:
        row["published_at"] = [
            nearby("d")
            if how == "near"
            else ".r[].d"
            if how == "record"
            else _path(draw(st.lists(segments, min_size=1, max_size=3)))
            for how in published
        ]
    transforms = draw(st.lists(st.sampled_from(["datetime", "lower", "strip"]), max_size=1))
    if transforms:
        row["transforms"] = transforms
    how = draw(st.integers(0, 3))
    if how == 3:
        row["name_separator"] = ":"  # "name:value" values
    elif how:
        row["name"] = draw(st.sampled_from(["N", "M"]))
    else:
        row["name_path"] = (
            nearby("n")
            if draw(st.booleans())
            else _path(draw(st.lists(segments, min_size=1, max_size=3)))
        )
    return row


dates = st.sampled_from(
    ["2020-05-26 02:37:55+00:00", "2019-01-01T00:00:00Z", "2021-07-08", "not a date"]
)
# few distinct values, so one indicator often gets the same name/value twice at different dates
leaf = st.sampled_from([None, True, 1, 1.5, "", " x ", "x", "x", "X", "k:v", " k : v:w", ":v"])
names = st.sampled_from(["k", " k ", "", "K", 2])
nodes = st.recursive(
    leaf | dates,
    lambda children: (
        st.lists(children, min_size=1, max_size=3)
        | st.fixed_dictionaries({"b": children, "d": dates, "n": names}, optional={"a": children})
    ),
    max_leaves=6,
)
elements = st.fixed_dictionaries({"b": nodes, "d": dates, "n": names}, optional={"a": nodes})
abc_documents = st.lists(elements, min_size=1, max_size=4).map(
    lambda a: {"r": [{"v": "x.example", "t": "D", "d": "2021-02-03 04:05:06", "a": a}, a]}
)


# every way a rule types its indicator: read from the record, fixed, the selected indicator's
type_specs = st.sampled_from(
    [
        {"path": ".r[].t", "table": {"D": "FQDN"}},
        {"path": ".r[].t", "table": {"D": {"from_value": "ip_type"}}},
        {"fixed": "FQDN"},
        {"fixed": "URL"},
        {"from_input": True},
    ]
)
selections = st.none() | st.sampled_from(
    [
        Indicator(value="x.example", type=IndicatorType.FQDN),
        Indicator("1.2.3.4", IndicatorType.IP_ADDRESS),
    ]
)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(rows(), min_size=1, max_size=5),
    abc_documents,
    st.lists(st.sampled_from(["a", "d", "a[].n", "a[].b", "a[].a[].d"]), unique=True, max_size=2),
    type_specs,
    selections,
)
def test_generated_code_equals_the_interpreter_for_any_table_and_document(
    table, document, ignore, typed, selected
):
    spec = MappingSpec.from_dict(
        {
            "ignore": ignore,
            "indicator": {"path": ".r[].v", "type": typed, "published_at": ".r[].d"},
            "attributes": table,
        }
    )
    compiled = Mapper.compile(spec).map(document, selected)
    assert compiled == interpret(spec, None, document, selected)
    if "fixed" in typed:  # a fixed type holds whatever was selected and whatever the record says
        assert {i.type.value for i in compiled.indicators} <= {typed["fixed"]}


@pytest.mark.parametrize(
    ("deep", "problem"),
    [
        (".r[].a" + "[]" * 25, "nests 27 levels deep, too deep to compile"),  # > 20 loops
        (".r[]" + ".a" * 45, "nests 46 levels deep; at most 40 can be compiled"),
    ],
)
def test_a_table_too_deep_to_compile_is_a_manifest_error_naming_its_path(deep, problem):
    spec = MappingSpec.from_dict(
        {
            "indicator": {"path": ".r[].v", "type": {"path": ".r[].t", "table": {"D": "FQDN"}}},
            "attributes": [{"path": ".r[].b", "name": "B"}, {"path": deep, "name": "Deep"}],
        }
    )
    with pytest.raises(ManifestError) as caught:
        Mapper.compile(spec)
    assert problem in str(caught.value)
    assert str(caught.value).endswith(f" @ {FeedPath.parse(deep)}")


def test_path_keys_reach_the_generated_code_as_data_never_as_source():
    hostile = 'x"]) or __import__("os").system("false") or (["'
    spec = MappingSpec.from_dict(
        {
            "indicator": {"path": ".r[].v", "type": {"path": ".r[].t", "table": {"D": "FQDN"}}},
            "attributes": [{"path": ".r[]." + json.dumps(hostile), "name": 'N")\n#'}],
        }
    )
    mapper = Mapper.compile(spec)
    assert "__import__" not in mapper.generated_source and "#" not in mapper.generated_source
    (indicator,) = mapper.map({"r": [{"v": "x.example", "t": "D", hostile: "kept"}]}).indicators
    assert [(a.name, a.value) for a in indicator.attributes] == [('N")\n#', "kept")]
