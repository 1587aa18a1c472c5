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
    assert [(r["types"], r["values"]) for r in rest] == [(["domain", "hostname"], ["c2.example"])]
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


# -- MISP's types, references and templates --------------------------------------------------

MD5 = "D41D8CD98F00B204E9800998ECF8427E"
#: what TIE finds beside a queried domain: a record with a path, a wildcard, a hash in capitals
MIXED = [
    found("www.microsoft.com/software-download.trillium.cam", "related"),
    found("*.c2.example", "related"),
    found("C2.example.", "exact"),
    {**found(MD5, "related"), "type": "MD5"},
    {**found("AS15169", "related"), "type": "ASN"},
    {**found("2001:0db8::0001", "related"), "type": "IPv6 Address"},
]


def test_every_value_offered_passes_its_misp_type_as_misp_checks_it():
    tools = pytest.importorskip("pymisp.tools")
    result = a_result("unknown", None, [], MIXED)
    standard = standard_results(result, LABEL, queried(type="hostname", value="c2.example"))
    legacy = legacy_results(result, LABEL, {"type": "hostname", "value": "c2.example"})
    offered = [(a["type"], a["value"]) for a in standard["Attribute"]]
    offered += [(a["type"], a["value"]) for o in standard["Object"] for a in o["Attribute"]]
    offered += [(t, r["values"][0]) for r in legacy for t in r["types"]]
    for misp_type, value in offered:  # as they are: nothing left for MISP to rewrite
        assert tools.AttributeValidationTool.validate(misp_type, value) is True, (misp_type, value)
    errors: dict = {}
    tools.validate_event({"Event": {"info": "enrichment", **standard}}, errors)
    assert errors == {}


def test_a_domain_with_a_path_is_a_url_and_a_value_no_type_takes_is_named_instead():
    result = a_result("unknown", None, [], MIXED)
    asked = queried(type="hostname", value="c2.example")
    event = as_event(standard_results(result, LABEL, asked))
    types = {a.value: a.type for a in event.attributes if a.uuid != asked["uuid"]}
    assert types == {
        "www.microsoft.com/software-download.trillium.cam": "url",
        MD5.lower(): "md5",
        "15169": "AS",
        "2001:db8::1": "ip-dst",
    }
    note = "Not offered to MISP: '*.c2.example' (FQDN) is no valid MISP domain, hostname"
    verdict = event.objects[0]
    assert text_of(verdict).splitlines()[-1] == note
    legacy = legacy_results(result, LABEL, {"type": "hostname", "value": "c2.example"})
    assert legacy[0]["values"][0].splitlines()[-1] == note
    offered = {r["values"][0]: r["types"] for r in legacy[1:]}
    assert offered["www.microsoft.com/software-download.trillium.cam"] == ["url"]
    assert "*.c2.example" not in offered


def test_the_queried_value_keeps_the_queried_type_and_is_not_offered_again():
    exact = {**found("8.8.8.8", "exact"), "type": "IP Address"}
    related = {**found("8.8.4.4", "related"), "type": "IP Address"}
    result = a_result("benign", 5, ["r"], [exact, related])
    asked = queried(type="ip-src", value="8.8.8.8", category="Network activity")
    event = as_event(standard_results(result, LABEL, asked))
    assert sorted((a.type, a.value) for a in event.attributes) == [
        ("ip-src", "8.8.4.4"),
        ("ip-src", "8.8.8.8"),  # the queried attribute itself, by its uuid
    ]
    (tagged,) = [a for a in event.attributes if a.value == "8.8.8.8"]
    assert tagged.uuid == asked["uuid"]
    annotating = [
        text_of(o)
        for o in event.objects
        if [(r.relationship_type, r.referenced_uuid) for r in o.references]
        == [("annotates", asked["uuid"])]
    ]
    assert annotating[1:] == ["Severity: 5"]  # after the verdict, the enrichment of 8.8.8.8
    legacy = legacy_results(result, LABEL, {"type": "ip-src", "value": "8.8.8.8"})
    assert [(r["types"], r["values"]) for r in legacy[1:]] == [
        (["ip-src"], ["8.8.8.8"]),
        (["ip-src", "ip-dst"], ["8.8.4.4"]),
    ]


def test_found_values_misp_stores_as_one_are_one_attribute():
    result = a_result("unknown", None, [], [found("Evil.example", "related"),
                                            found("evil.example.", "related")])  # fmt: skip
    results = standard_results(result, LABEL, queried())
    (only,) = [a for a in results["Attribute"] if a["value"] != "c2.example"]
    assert (only["type"], only["value"]) == ("domain", "evil.example")
    notes = results["Object"][1:]
    annotated = [(o["ObjectReference"][0]["relationship_type"],
                  o["ObjectReference"][0]["referenced_uuid"]) for o in notes]  # fmt: skip
    assert annotated == [("annotates", only["uuid"])] * 2


def test_every_reference_carries_its_objects_uuid_as_pymisp_writes_it():
    matches = [found("c2.example", "exact"), found("c2.example.evil.test", "related")]
    result = a_result("malicious", 90, [REASON], matches)
    results = standard_results(result, LABEL, queried())
    written = pymisp.MISPObject("annotation")
    keys = set(written.add_reference(str(uuid.uuid4()), "annotates").to_dict())
    references = [(o, r) for o in results["Object"] for r in o["ObjectReference"]]
    assert len(references) == 4  # verdict, exact match, related match (and its relation)
    for misp_object, reference in references:
        assert set(reference) == keys
        assert reference["object_uuid"] == misp_object["uuid"]
    event = as_event(results)
    for misp_object in event.objects:
        assert all(r.object_uuid == misp_object.uuid for r in misp_object.references)


def test_the_annotation_follows_the_current_misp_objects_template():
    # pymisp ships misp-objects' definitions: the template as MISP's instances know it
    template = pymisp.MISPObject("annotation")._definition
    results = standard_results(a_result("unknown", None, []), LABEL, queried())
    (annotation,) = results["Object"]
    assert annotation["template_version"] == str(template["version"])
    assert annotation["template_uuid"] == template["uuid"]
    assert annotation["meta-category"] == template["meta-category"]
    assert set(template.get("requiredOneOf", [])) <= {
        a["object_relation"] for a in annotation["Attribute"]
    }
    for attribute in annotation["Attribute"]:
        relation = template["attributes"][attribute["object_relation"]]
        assert attribute["type"] == relation["misp-attribute"]
        assert attribute["disable_correlation"] == relation.get("disable_correlation", False)
        if "sane_default" in relation:
            assert attribute["value"] in relation["sane_default"]
