"""Fuzzing: the feed-path parser and the mapper raise only the project's own errors."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcso_tie_operation import OPERATION as TIE
from tego_operation import OPERATION as TEGO
from tqops import FeedPath, PathSyntaxError

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


@settings(max_examples=300, deadline=None)
@given(st.text(path_alphabet, min_size=1, max_size=20), json_values)
def test_path_evaluation_never_raises(text, document):
    try:
        path = FeedPath.parse("." + text.lstrip("."))
    except PathSyntaxError:
        return
    assert isinstance(path.values(document), list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | st.dictionaries(st.just("iocs"), st.lists(tie_like, max_size=4)))
def test_mappers_turn_any_json_into_indicators_or_warnings(document):
    for operation in (TIE, TEGO):
        result = operation.map("search", [document])
        for indicator in result.indicators:
            assert indicator.value and isinstance(indicator.value, str)
            assert all(isinstance(a.value, str) and a.value for a in indicator.attributes)
            indicator.to_threatq()
        assert all("\n" not in w for w in result.warnings)
