"""The STIX 2.1 export, checked by OASIS's own validator (stix2-validator): the operation as an
identity, each value as its observable, indicators with valid patterns for malicious and
suspicious verdicts, notes carrying the reasons, relationships to related matches, TLP 2.0
markings from each input's TLP, and hostile vendor values handed on as data or left out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_string

from tests.support.export_cases import (
    FAILED,
    HOSTILE,
    MALICIOUS,
    NOTHING,
    SHA256,
    SKIPPED,
    SUSPICIOUS,
    found,
    result,
)
from tqops.dates import parse_datetime
from tqops.exports.stix import TLP_EXTENSION, TLP_MARKINGS, stix_bundle
from tqops.exports.values import ExportHead, exported
from tqops.tlp import Tlp

HEAD = ExportHead("dcso_tie", "DCSO TIE", "search")


def bundle_text(*items: tuple[dict[str, Any], Any], secrets: tuple[str, ...] = ()) -> str:
    return "".join(stix_bundle(HEAD, [exported(r, tlp, secrets) for r, tlp in items]))


def valid(text: str) -> dict[str, Any]:
    """The bundle, once stix2-validator found no error in it."""
    checked = validate_string(text, ValidationOptions(version="2.1"))
    assert checked.is_valid, [str(e) for e in checked.errors]
    assert checked.errors == []
    return json.loads(text)


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in bundle["objects"] if o["type"] == kind]


def by_id(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in bundle["objects"]}


def test_a_job_is_a_valid_bundle_made_by_the_operations_identity():
    bundle = valid(bundle_text((MALICIOUS, "AMBER"), (SUSPICIOUS, "GREEN"), (NOTHING, None)))
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    (identity,) = of_type(bundle, "identity")
    assert (identity["name"], identity["identity_class"]) == ("DCSO TIE", "system")
    made = [o for o in bundle["objects"] if o["type"] in ("indicator", "note", "relationship")]
    assert made and {o["created_by_ref"] for o in made} == {identity["id"]}
    again = json.loads(bundle_text((NOTHING, None)))
    assert of_type(again, "identity")[0]["id"] == identity["id"]  # one identity per operation


@pytest.mark.parametrize(
    ("kind", "value", "stix_type", "expected"),
    [
        ("FQDN", "evil.example", "domain-name", {"value": "evil.example"}),
        ("Hostname", "host.evil.example", "domain-name", {"value": "host.evil.example"}),
        ("IP Address", "203.0.113.9", "ipv4-addr", {"value": "203.0.113.9"}),
        ("IPv6 Address", "2001:db8::7", "ipv6-addr", {"value": "2001:db8::7"}),
        ("URL", "https://evil.example/a?b=1", "url", {"value": "https://evil.example/a?b=1"}),
        ("Email Address", "billing@evil.example", "email-addr", {"value": "billing@evil.example"}),
        ("MD5", "d41d8cd98f00b204e9800998ecf8427e", "file",
         {"hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e"}}),
        ("SHA-1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "file",
         {"hashes": {"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}}),
        ("SHA-256", SHA256, "file", {"hashes": {"SHA-256": SHA256}}),
        ("Filename", "invoice.pdf.exe", "file", {"name": "invoice.pdf.exe"}),
        ("ASN", "AS13335", "autonomous-system", {"number": 13335}),
    ],
)  # fmt: skip
def test_each_found_value_is_its_observable_and_a_malicious_one_a_pattern(
    kind, value, stix_type, expected
):
    verdict = {"level": "malicious", "score": 80, "reasons": ["listed"]}
    bundle = valid(bundle_text((result(kind, value, verdict=verdict), "GREEN")))
    (observable,) = of_type(bundle, stix_type)
    assert {key: observable[key] for key in expected} == expected
    (indicator,) = of_type(bundle, "indicator")
    (based_on,) = of_type(bundle, "relationship")
    assert (based_on["source_ref"], based_on["target_ref"]) == (indicator["id"], observable["id"])
    assert indicator["pattern"].startswith(f"[{stix_type}:")
    literal = str(expected.get("number", value))
    assert literal in indicator["pattern"]


def test_an_indicator_says_the_verdict_and_the_first_date_the_vendor_gave():
    bundle = valid(bundle_text((MALICIOUS, "AMBER"), (SUSPICIOUS, "AMBER"), (NOTHING, "AMBER")))
    indicators = {i["pattern"]: i for i in of_type(bundle, "indicator")}
    assert set(indicators) == {
        "[domain-name:value = 'c2.example']",
        f"[file:hashes.'SHA-256' = '{SHA256}']",
    }  # nothing found, unknown: no indicator
    hit = indicators["[domain-name:value = 'c2.example']"]
    assert (hit["confidence"], hit["labels"], hit["indicator_types"]) == (
        90,
        ["malicious"],
        ["malicious-activity"],
    )
    assert hit["valid_from"] == "2025-07-21T10:00:00Z"
    hashed = indicators[f"[file:hashes.'SHA-256' = '{SHA256}']"]
    assert (hashed["confidence"], hashed["labels"]) == (50, ["suspicious"])  # no score given
    exported_at = parse_datetime(bundle["objects"][0]["created"])
    assert parse_datetime(hashed["valid_from"]) == exported_at  # no date: the export's


def test_a_note_carries_the_verdict_and_its_reasons_and_one_what_was_found():
    bundle = valid(bundle_text((MALICIOUS, "AMBER"), (NOTHING, "AMBER")))
    objects = by_id(bundle)
    notes = {n["abstract"]: n for n in of_type(bundle, "note")}
    verdict = notes["DCSO TIE verdict on FQDN c2.example: malicious"]
    assert verdict["content"].splitlines() == [
        "DCSO TIE verdict on FQDN c2.example: malicious (score 90/100)",
        "- severity 5/6",
        f"- {HOSTILE}",  # data, never markup: a STIX reader renders it as text
    ]
    assert sorted(objects[ref]["type"] for ref in verdict["object_refs"]) == [
        "domain-name",
        "indicator",
    ]
    nothing = notes["DCSO TIE verdict on IP Address 198.51.100.4: unknown"]
    assert nothing["content"].splitlines()[1:] == ["- nothing found"]
    about = notes["DCSO TIE about c2.example.evil.test (related match)"]
    assert about["content"] == "Severity: 4"
    assert objects[about["object_refs"][0]]["value"] == "c2.example.evil.test"


def test_related_matches_are_related_to_the_input_and_an_exact_one_is_the_input():
    bundle = valid(bundle_text((MALICIOUS, "AMBER")))
    objects = by_id(bundle)
    related = [r for r in of_type(bundle, "relationship") if r["relationship_type"] == "related-to"]
    pairs = {
        (objects[r["source_ref"]]["value"], objects[r["target_ref"]]["value"]) for r in related
    }
    assert pairs == {("c2.example", "c2.example.evil.test"), ("c2.example", "203.0.113.7")}
    assert [d["value"] for d in of_type(bundle, "domain-name")].count("c2.example") == 1


def test_each_inputs_tlp_marks_what_is_said_about_it_with_the_tlp_2_definitions():
    bundle = valid(bundle_text((MALICIOUS, "AMBER+STRICT"), (SUSPICIOUS, "RED"), (NOTHING, None)))
    markings = {m["id"]: m for m in of_type(bundle, "marking-definition")}
    assert set(markings) == {
        TLP_MARKINGS[Tlp.AMBER_STRICT],
        TLP_MARKINGS[Tlp.RED],
        TLP_MARKINGS[Tlp.AMBER],  # an input given without a TLP: AMBER, as the host's
    }
    strict = markings["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
    assert strict["name"] == "TLP:AMBER+STRICT"
    assert strict["extensions"][TLP_EXTENSION] == {
        "extension_type": "property-extension",
        "tlp_2_0": "amber+strict",
    }
    verdicts = {
        n["abstract"]: n["object_marking_refs"]
        for n in of_type(bundle, "note")
        if " verdict on " in n["abstract"]
    }
    assert verdicts == {
        "DCSO TIE verdict on FQDN c2.example: malicious": [TLP_MARKINGS[Tlp.AMBER_STRICT]],
        f"DCSO TIE verdict on SHA-256 {SHA256}: suspicious": [TLP_MARKINGS[Tlp.RED]],
        "DCSO TIE verdict on IP Address 198.51.100.4: unknown": [TLP_MARKINGS[Tlp.AMBER]],
    }
    for indicator in of_type(bundle, "indicator"):
        strict = SHA256 not in indicator["pattern"]
        assert indicator["object_marking_refs"] == [
            TLP_MARKINGS[Tlp.AMBER_STRICT if strict else Tlp.RED]
        ]
    unmarked = [o["type"] for o in bundle["objects"] if "object_marking_refs" not in o]
    assert sorted(unmarked) == ["identity", "marking-definition", "marking-definition",
                                "marking-definition"]  # fmt: skip


def test_errors_and_skipped_inputs_taught_nothing_and_are_left_out():
    bundle = valid(bundle_text((SKIPPED, "GREEN"), (FAILED, "GREEN"), (NOTHING, "GREEN")))
    values = {o.get("value") for o in bundle["objects"]}
    assert "10.1.2.3" not in values and "https://failed.example/x" not in values
    assert "198.51.100.4" in values


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("FQDN", "www.microsoft.com/software-download.trillium.cam"),  # a path in a domain
        ("FQDN", HOSTILE),
        ("FQDN", "_dmarc.evil.example"),  # a record's name, not a host's
        ("FQDN", "evil-.example"),
        ("FQDN", "B\u00dcCHER.example"),  # IDNA has no upper-case form of it
        ("FQDN", "203.0.113.9"),
        ("IP Address", "999.1.2.3"),
        ("IP Address", "203.0.113.0/24 and more"),
        ("MD5", "not-a-hash"),
        ("SHA-256", SHA256[:-1]),
        ("ASN", "Cloudflare"),
        ("URL", "evil.example/no-scheme"),
        ("URL", "https://evil.example/" + "a" * 20000),  # over the length of any real URL
        ("Email Address", "two@@evil.example"),
        ("User-agent", "Mozilla/5.0"),  # no STIX observable for it
    ],
)
def test_a_value_whose_form_is_not_its_types_is_named_in_the_note_not_an_observable(kind, value):
    hit = result("FQDN", "c2.example", indicators=(found(kind, value, "related"),))
    bundle = valid(bundle_text((hit, "GREEN")))
    observables = [o for o in bundle["objects"] if o["type"] not in
                   ("identity", "marking-definition", "note", "relationship")]  # fmt: skip
    assert [o["value"] for o in observables] == ["c2.example"]
    (note,) = of_type(bundle, "note")
    assert "Not stated as observables" in note["content"]
    assert value[:200] in note["content"]


def test_hostile_vendor_text_is_handed_on_as_data_bounded_and_encodable():
    huge = "x" * 2_000_000
    odd = "caf\u00e9 \u202eevil\u202c \ud800 nul\x00 bell\x07 \U0001f600"
    hit = result(
        "FQDN",
        "b\u00fccher.example",  # an internationalised name is a domain-name
        verdict={"level": "suspicious", "score": 61, "reasons": [odd, huge]},
        indicators=(found("FQDN", "b\u00fccher.example", Comment=HOSTILE, Blob=huge, Odd=odd),),
    )
    text = bundle_text((hit, "GREEN"))
    assert len(text) < 200_000  # every text is bounded
    bundle = valid(text)
    assert [d["value"] for d in of_type(bundle, "domain-name")] == ["b\u00fccher.example"]
    contents = "\n".join(n["content"] for n in of_type(bundle, "note"))
    assert f"Comment: {HOSTILE}" in contents
    assert "\ufffd" in contents and "\ud800" not in contents  # a lone surrogate replaced
    assert "\x00" not in contents and "\x07" not in contents
    assert "\u202eevil" in contents and "\U0001f600" in contents  # text kept as text
    assert text.isascii()  # escaped: no transport can mangle it


@pytest.mark.parametrize(
    ("kind", "value", "stix_type", "stated"),
    [
        ("IP Address", "::ffff:203.0.113.7", "ipv6-addr", "0:0:0:0:0:ffff:cb00:7107"),
        ("IPv6 Address", "2001:db8::1.2.3.4", "ipv6-addr", "2001:db8:0:0:0:0:102:304"),
        ("URL", "https://evil.example/x?q=<script>&p=100%", "url",
         "https://evil.example/x?q=%3Cscript%3E&p=100%25"),
        ("URL", "https://b\u00fccher.example/\u00f6", "url",
         "https://b%C3%BCcher.example/%C3%B6"),
        ("URL", "http://[2001:db8::1]:8080/a", "url", "http://[2001:db8::1]:8080/a"),
        ("FQDN", "b\u00fccher.example.", "domain-name", "b\u00fccher.example."),
    ],
)  # fmt: skip
def test_a_value_is_stated_in_the_form_stix_readers_take(kind, value, stix_type, stated):
    hit = result(kind, value, verdict={"level": "malicious", "score": 70, "reasons": []})
    bundle = valid(bundle_text((hit, "GREEN")))
    (observable,) = of_type(bundle, stix_type)
    assert observable["value"] == stated
    (indicator,) = of_type(bundle, "indicator")
    assert indicator["pattern"] == f"[{stix_type}:value = '{stated}']"


def test_a_quote_in_a_value_stays_inside_the_patterns_string():
    value = "it's\\here@evil.example"
    hit = result("Filename", value, verdict={"level": "malicious", "score": None, "reasons": []})
    bundle = valid(bundle_text((hit, "CLEAR")))
    (indicator,) = of_type(bundle, "indicator")
    assert indicator["pattern"] == "[file:name = 'it\\'s\\\\here@evil.example']"


def test_secrets_a_vendor_echoed_are_masked():
    secret = "tie-secret-token-4242"
    hit = result(
        "FQDN",
        "c2.example",
        verdict={"level": "malicious", "score": 90, "reasons": [f"token {secret} seen"]},
        indicators=(found("FQDN", "c2.example", Description=f"echo {secret}"),),
    )
    text = bundle_text((hit, "GREEN"), secrets=(secret,))
    assert secret not in text
    assert "token ******** seen" in text
    assert secret in json.dumps(hit)  # the caller's result is left as it was


def test_a_bundle_is_closed_when_the_results_stop_early():
    def results():
        yield exported(MALICIOUS, "GREEN")
        raise KeyboardInterrupt

    chunks = []
    with pytest.raises(KeyboardInterrupt):
        for chunk in stix_bundle(HEAD, results()):
            chunks.append(chunk)
    bundle = valid("".join(chunks))
    assert of_type(bundle, "indicator")
