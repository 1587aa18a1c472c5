"""The verdict in MISP's words, read back by pymisp as a module built on it would write it: the
queried attribute tagged ``tqops:verdict="<level>"`` (misp_standard) or a tagged text result
(legacy), with the level, score and reasons (and a skip's reason) in the annotation's text."""

from __future__ import annotations

import uuid
import warnings

import pytest

from tqops.server.api.misp_results import legacy_results, standard_results, verdict_tag

pymisp = pytest.importorskip("pymisp", reason="pymisp needs Python 3.10")

LABEL = "DCSO TIE"
REASON = "severity 5/6, confidence 90 on 2025-07-21 (observation 1 of 2): malicious"


def a_result(level, score, reasons, indicators=(), status="ok", reason=None):
    return {
        "input": {"type": "FQDN", "value": "c2.example"},
        "status": status,
        "reason": reason,
        "verdict": {"level": level, "score": score, "reasons": list(reasons)},
        "indicators": list(indicators),
    }


def found(value, match, attributes=(("Severity", "5"),)):
    return {
        "type": "FQDN",
        "value": value,
        "match": match,
        "published_at": "2025-07-21T10:00:00Z",
        "attributes": [{"name": n, "value": v, "published_at": None} for n, v in attributes],
    }


def queried(**extra):
    attribute = {
        "uuid": str(uuid.uuid4()),
        "type": "domain",
        "category": "Network activity",
        "value": "c2.example",
        "to_ids": False,
        "Tag": [{"name": "tlp:green"}],
    }
    return {**attribute, **extra}


def as_event(results):
    """What pymisp makes of a misp_standard answer (a warning is a failure: it would be MISP's)."""
    event = pymisp.MISPEvent()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        event.load({"Event": {"info": "enrichment", **results}})
    return event


def text_of(misp_object):
    (text,) = misp_object.get_attributes_by_relation("text")
    return text.value


@pytest.mark.parametrize("level", ["malicious", "suspicious", "benign", "unknown"])
def test_the_queried_attribute_is_tagged_with_its_verdict_and_keeps_its_tags(level):
    attribute = queried()
    results = standard_results(a_result(level, 40, ["a reason"]), LABEL, attribute)
    event = as_event(results)
    tagged = next(a for a in event.attributes if a.uuid == attribute["uuid"])
    assert [t.name for t in tagged.tags] == ["tlp:green", f'tqops:verdict="{level}"']
    assert (tagged.type, tagged.value, tagged.category) == ("domain", "c2.example",
                                                           "Network activity")  # fmt: skip


def test_the_annotation_of_the_queried_attribute_says_level_score_and_reasons():
    attribute = queried()
    result = a_result("malicious", 90, [REASON], [found("c2.example", "exact")])
    event = as_event(standard_results(result, LABEL, attribute))
    verdict = next(
        o for o in event.objects
        if [(r.relationship_type, r.referenced_uuid) for r in o.references]
        == [("annotates", attribute["uuid"])]
    )  # fmt: skip
    assert verdict.name == "annotation"
    assert text_of(verdict) == f"DCSO TIE verdict: malicious (score 90/100)\n- {REASON}"
    enrichment = [o for o in event.objects if o is not verdict]
    assert [text_of(o) for o in enrichment] == ["Severity: 5"]


def test_found_indicators_carry_no_verdict_tag_related_ones_included():
    result = a_result("unknown", None, ["only related matches: c2.example.evil.test"],
                      [found("c2.example.evil.test", "related")])  # fmt: skip
    attribute = queried()
    event = as_event(standard_results(result, LABEL, attribute))
    others = [a for a in event.attributes if a.uuid != attribute["uuid"]]
    assert [a.value for a in others] == ["c2.example.evil.test"]
    assert all(not a.tags for a in others)
    tagged = next(a for a in event.attributes if a.uuid == attribute["uuid"])
    assert [t.name for t in tagged.tags][-1] == 'tqops:verdict="unknown"'


def test_a_skipped_input_says_why_in_the_annotation():
    why = "TLP:RED is above this operation's maximum (AMBER)"
    result = a_result("unknown", None, [f"skipped: {why}"], status="skipped", reason=why)
    event = as_event(standard_results(result, LABEL, queried()))
    (annotation,) = event.objects
    lines = text_of(annotation).splitlines()
    assert lines[:2] == ["DCSO TIE verdict: unknown", f"Skipped, nothing was sent: {why}"]


def test_without_the_queried_uuid_nothing_pretends_to_be_the_queried_attribute():
    attribute = queried()
    del attribute["uuid"]
    results = standard_results(a_result("suspicious", 30, ["r"]), LABEL, attribute)
    assert results["Attribute"] == []
    (annotation,) = as_event(results).objects
    assert annotation.references == [] and text_of(annotation).startswith(
        "DCSO TIE verdict: suspicious (score 30/100)"
    )


def test_the_legacy_form_puts_the_verdict_first_as_a_tagged_text_result():
    result = a_result("malicious", 90, [REASON], [found("c2.example", "exact")])
    verdict, *rest = legacy_results(result, LABEL)
    assert verdict["types"] == ["text"] and verdict["tags"] == ['tqops:verdict="malicious"']
    assert verdict["values"] == [f"DCSO TIE verdict: malicious (score 90/100)\n- {REASON}"]
    assert [(r["types"], r["values"]) for r in rest] == [(["domain"], ["c2.example"])]
    assert all("tags" not in r for r in rest)


def test_a_result_stored_before_verdicts_reads_as_unknown():
    result = a_result("malicious", 90, [])
    del result["verdict"]
    (verdict,) = legacy_results(result, LABEL)
    assert verdict["tags"] == ['tqops:verdict="unknown"']
    assert verdict["values"] == ["DCSO TIE verdict: unknown"]


def test_a_tag_is_only_ever_one_of_the_four_levels():
    assert verdict_tag("benign") == 'tqops:verdict="benign"'
    with pytest.raises(ValueError, match="got 'evil\"'"):
        verdict_tag('evil"')
