"""The MISP event export, loaded by pymisp: every attribute of a type its value passes and a
category MISP allows for that type, the verdict as a tag and an annotation, references that
carry ``object_uuid`` and point inside the event, each input's TLP as a tag, and hostile
vendor values handed on as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
from tqops.exports.misp import misp_event, misp_type
from tqops.exports.values import ExportHead, exported

pymisp = pytest.importorskip("pymisp")  # the test extra has it from Python 3.10 on

HEAD = ExportHead("tego", "Tego", "search")
DESCRIBE = json.loads(
    (Path(pymisp.__file__).parent / "data" / "describeTypes.json").read_text(encoding="utf-8")
)["result"]


def event_text(*items: tuple[dict[str, Any], Any], secrets: tuple[str, ...] = ()) -> str:
    return "".join(misp_event(HEAD, [exported(r, tlp, secrets) for r, tlp in items]))


def loaded(text: str) -> Any:
    """The event as pymisp reads it, once every attribute's type and category are MISP's."""
    event = pymisp.MISPEvent()
    event.load(text)
    attributes = [*event.attributes, *(a for o in event.objects for a in o.attributes)]
    for attribute in attributes:
        assert attribute.type in DESCRIBE["types"], attribute.type
        allowed = DESCRIBE["category_type_mappings"][attribute.category]
        assert attribute.type in allowed, (attribute.category, attribute.type)
    return event


def attribute_of(event: Any, value: str) -> Any:
    (found_one,) = [a for a in event.attributes if a.value == value]
    return found_one


def test_a_job_is_an_event_pymisp_loads_with_the_verdict_as_a_tag():
    event = loaded(event_text((MALICIOUS, "AMBER"), (SUSPICIOUS, "GREEN"), (NOTHING, "CLEAR")))
    assert event.info == "Tego: results of search"
    assert (event.threat_level_id, event.analysis, event.distribution) == (1, 2, 0)
    assert [t.name for t in event.tags] == ["tlp:amber"]  # the strictest input's
    hit = attribute_of(event, "c2.example")
    assert (hit.type, hit.category, hit.to_ids) == ("domain", "Network activity", True)
    assert [t.name for t in hit.tags] == ["tlp:amber", 'tqops:verdict="malicious"']
    hashed = attribute_of(event, SHA256)
    assert (hashed.type, hashed.to_ids) == ("sha256", False)  # only malicious goes to IDS
    assert [t.name for t in hashed.tags] == ["tlp:green", 'tqops:verdict="suspicious"']
    assert [t.name for t in attribute_of(event, "198.51.100.4").tags] == [
        "tlp:clear",
        'tqops:verdict="unknown"',
    ]
    related = attribute_of(event, "c2.example.evil.test")
    assert (related.type, related.category) == ("domain", "External analysis")
    assert [t.name for t in related.tags] == ["tlp:amber"]  # a related match is not judged


def test_the_verdict_and_what_was_found_are_annotations_whose_references_hold():
    event = loaded(event_text((MALICIOUS, "AMBER")))
    uuids = {a.uuid: a.value for a in event.attributes}
    notes = {}
    for annotation in event.objects:
        assert annotation.name == "annotation" and annotation.template_version == "3"
        for reference in annotation.references:
            assert reference.object_uuid == annotation.uuid
            assert reference.referenced_uuid in uuids
        targets = [(r.relationship_type, uuids[r.referenced_uuid]) for r in annotation.references]
        notes[annotation.get_attributes_by_relation("text")[0].value] = targets
    verdict = "Tego verdict: malicious (score 90/100)\n- severity 5/6\n- " + HOSTILE
    assert notes[verdict] == [("annotates", "c2.example")]
    assert notes["Severity: 4"] == [
        ("annotates", "c2.example.evil.test"),
        ("related-to", "c2.example"),
    ]
    assert notes["Severity: 5"] == [("annotates", "c2.example")]  # the exact match is the input
    assert len([a for a in event.attributes if a.value == "c2.example"]) == 1


@pytest.mark.parametrize(
    ("kind", "value", "misp", "written"),
    [
        ("FQDN", "evil.example", "domain", "evil.example"),
        ("Hostname", "host.evil.example", "hostname", "host.evil.example"),
        ("FQDN", "www.microsoft.com/software-download.trillium.cam", "url",
         "www.microsoft.com/software-download.trillium.cam"),  # a path: MISP refuses a domain
        ("FQDN", HOSTILE, "text", HOSTILE),
        ("FQDN", "_dmarc.evil.example", "domain", "_dmarc.evil.example"),  # MISP takes "_"
        ("FQDN", "Evil.Example.", "domain", "evil.example"),  # as MISP stores it
        ("FQDN", "evil example", "text", "evil example"),
        ("Fuzzy Hash", "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", "ssdeep",
         "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"),
        ("User-agent", "Mozilla/5.0\x00", "text", "Mozilla/5.0"),  # no control character
        ("IP Address", "203.0.113.9", "ip-dst", "203.0.113.9"),
        ("IP Address", "2001:db8::9", "ip-dst", "2001:db8::9"),
        ("IP Address", "999.1.2.3", "text", "999.1.2.3"),
        ("MD5", "d41d8cd98f00b204e9800998ecf8427e", "md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("SHA-256", SHA256[:-1], "text", SHA256[:-1]),
        ("ASN", "AS13335", "AS", "13335"),
        ("ASN", "Cloudflare", "text", "Cloudflare"),
        ("Email Address", "billing@evil.example", "email", "billing@evil.example"),
        ("Filename", "invoice.pdf.exe", "filename", "invoice.pdf.exe"),
        ("User-agent", "Mozilla/5.0", "user-agent", "Mozilla/5.0"),
        ("Registry Key", "HKLM\\Software\\Run", "regkey", "HKLM\\Software\\Run"),
    ],
)  # fmt: skip
def test_each_value_is_written_under_the_misp_type_its_form_passes(kind, value, misp, written):
    assert misp_type(kind, value) == (misp, written)
    event = loaded(
        event_text((result("FQDN", "c2.example", indicators=(found(kind, value),)), "GREEN"))
    )
    (attribute,) = [a for a in event.attributes if a.value != "c2.example"]
    assert (attribute.type, attribute.value) == (misp, written)


def test_errors_and_skipped_inputs_are_left_out():
    event = loaded(event_text((SKIPPED, "GREEN"), (FAILED, "GREEN"), (NOTHING, "GREEN")))
    assert [a.value for a in event.attributes] == ["198.51.100.4"]
    assert event.threat_level_id == 4


def test_hostile_vendor_text_is_handed_on_as_data_bounded_and_encodable():
    huge = "y" * 2_000_000
    odd = "caf\u00e9 \u202eevil\u202c \ud800 nul\x00 \U0001f600"
    hit = result(
        "FQDN",
        "c2.example",
        verdict={"level": "suspicious", "score": 61, "reasons": [odd, huge]},
        indicators=(found("FQDN", "c2.example", Comment=HOSTILE, Blob=huge),
                    found("URL", huge, "related")),
    )  # fmt: skip
    text = event_text((hit, "RED"))
    assert len(text) < 200_000 and text.isascii()
    event = loaded(text)
    texts = "\n".join(a.value for o in event.objects for a in o.attributes)
    assert f"Comment: {HOSTILE}" in texts
    assert "\ufffd" in texts and "\x00" not in texts and "\U0001f600" in texts
    (blob,) = [a for a in event.attributes if a.value.startswith("yyy")]
    assert blob.type == "text" and len(blob.value) <= 4096  # no URL is two megabytes long


def test_secrets_a_vendor_echoed_are_masked():
    secret = "tego-license-echoed-77"
    hit = result(
        "FQDN",
        "c2.example",
        verdict={"level": "malicious", "score": None, "reasons": [f"with {secret}"]},
        indicators=(found("FQDN", "c2.example", Description=f"license {secret}"),),
    )
    text = event_text((hit, "GREEN"), secrets=(secret,))
    assert secret not in text and "license ********" in text
    loaded(text)


def test_an_event_is_closed_when_the_results_stop_early():
    def results():
        yield exported(MALICIOUS, "GREEN")
        raise KeyboardInterrupt

    chunks = []
    with pytest.raises(KeyboardInterrupt):
        for chunk in misp_event(HEAD, results()):
            chunks.append(chunk)
    event = loaded("".join(chunks))
    assert attribute_of(event, "c2.example").type == "domain"
