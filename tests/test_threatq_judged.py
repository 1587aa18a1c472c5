"""ThreatQ's words for a verdict: the status and 0-10 score each found indicator of an execute
answer carries, from the input's verdict for an exact match only."""

from __future__ import annotations

import pytest

from tqops.server.api.threatq import judged


def verdict(level, score):
    return {"level": level, "score": score, "reasons": ["a reason"]}


@pytest.mark.parametrize(
    "level, score, expected",
    [
        ("malicious", 90, ("Active", 9)),
        ("malicious", 95, ("Active", 10)),  # half up, as an analyst rounds
        ("suspicious", 64, ("Review", 6)),
        ("suspicious", None, ("Review", None)),  # no score: ThreatQ's own scoring decides
        ("benign", 4, ("Review", 0)),  # never Whitelisted nor Active by an enrichment
        ("malicious", 100, ("Active", 10)),
        ("benign", 0, ("Review", 0)),
    ],
)
def test_an_exact_match_takes_the_inputs_verdict(level, score, expected):
    assert judged({"match": "exact"}, verdict(level, score)) == expected


@pytest.mark.parametrize("match", ["related", None])
def test_a_related_or_unmarked_match_is_not_judged_by_the_inputs_verdict(match):
    assert judged({"match": match}, verdict("malicious", 90)) == ("Review", None)


def test_a_result_without_a_verdict_judges_nothing():
    assert judged({"match": "exact"}, None) == ("Review", None)
    assert judged({"match": "exact"}, verdict("malicious", True)) == ("Active", None)


def test_the_guides_say_the_statuses_the_execute_answer_gives():
    from pathlib import Path

    from tqops.server.api.threatq import STATUS_OF_LEVEL

    assert STATUS_OF_LEVEL["suspicious"] == STATUS_OF_LEVEL["benign"]
    said = f"(malicious: {STATUS_OF_LEVEL['malicious']}; suspicious, benign: "
    said += f"{STATUS_OF_LEVEL['benign']})"
    for guide in ("dcso_tie", "tego"):
        text = (Path(__file__).resolve().parent.parent / "docs" / f"{guide}.md").read_text("utf-8")
        (line,) = [line for line in text.splitlines() if line.startswith("- ThreatQ:")]
        assert said in line
