"""The feed-path language, pinned by data (tests/cases/feed_paths.yaml), jmespath-style."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tqops import FeedPath, PathSyntaxError

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "feed_paths.yaml").read_text("utf-8"))
VALUES = [(CASES["document"], c) for c in CASES["values"]] + [
    (CASES["top_level_array"]["document"], c) for c in CASES["top_level_array"]["values"]
]


@pytest.mark.parametrize(("document", "case"), VALUES, ids=[c["path"] for _, c in VALUES])
def test_path_yields_exactly_these_values(document, case):
    path = FeedPath.parse(case["path"])
    assert path.values(document) == case["expect"]
    assert FeedPath.parse(str(path)) == path  # renders back to an equivalent path


@pytest.mark.parametrize(
    "case", CASES["errors"], ids=[c["path"] or "<empty>" for c in CASES["errors"]]
)
def test_syntax_error_names_its_column(case):
    with pytest.raises(PathSyntaxError) as caught:
        FeedPath.parse(case["path"])
    error = caught.value
    assert error.column == case["column"]
    assert "\n" not in str(error)
    if case["path"]:
        assert f"column {case['column'] + 1}" in str(error)
        assert error.caret.splitlines()[1] == " " * case["column"] + "^"


def test_paths_are_compiled_once():
    assert FeedPath.parse(".iocs[].value") is FeedPath.parse(".iocs[].value")


def test_each_prefix_is_the_record_a_path_is_relative_to():
    assert (
        str(FeedPath(FeedPath.parse(".iocs[].observations[].x").each_prefix()))
        == ".iocs[].observations[]"
    )
    assert FeedPath.parse(".a.b").each_prefix() == ()
