"""Readable attributes: a found indicator's groups (per observation, newest first) and summary
(repeated names summed up, scales, detail left out), the manifest's ``reading`` and its checks,
the CLI table that shows the summary, and the JSON ``summary`` over real recorded TIE pages
served by a loopback fake vendor."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.support.cli import cli
from tqops import discover_operations
from tqops.errors import ManifestError
from tqops.manifest.attribute_reading import AttributeReading, ReadingSpec, Scale
from tqops.manifest.document import Manifest
from tqops.manifest.yamldoc import load_yaml
from tqops.mapping.reading import Reader
from tqops.model import Attribute, Indicator
from tqops.service import Service
from tqops.testing.fake_vendor import FakeVendor

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "dcso_tie_operation" / "samples"
OPERATIONS = discover_operations()
TIE = OPERATIONS["dcso_tie"]
TEGO = OPERATIONS["tego"]
TIE_TOKEN = "reading-token-7c1d"


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+00:00").astimezone(timezone.utc)


def indicator(*attributes: tuple[str, str, Optional[str]]) -> Indicator:
    return Indicator(
        "evil.example",
        "FQDN",
        attributes=[Attribute(n, v, at(d) if d else None) for n, v, d in attributes],
    )


READER = Reader(
    ReadingSpec(
        (
            AttributeReading("Severity", "Severity", Scale(6), headline=True),
            AttributeReading("Rank", "Rank", Scale(10, 1, "lower")),
            AttributeReading("threattype", "Threat Type"),
            AttributeReading("misp-uuid", "MISP Event UUID", detail=True),
        ),
        "observation",
    ),
    frozenset({"First Seen"}),
)


def summary_of(found: Any, reader: Reader = READER) -> dict[str, str]:
    return {line["label"]: line["text"] for line in reader.summary(found)}


# --- the reading itself ----------------------------------------------------------------------


def test_groups_are_the_observations_newest_first_with_the_undated_last():
    found = indicator(
        ("Severity", "2", "2024-01-02"),
        ("Comment", "no date", None),
        ("Severity", "5", "2025-07-21"),
        ("misp-uuid", "5e6f7a14", "2025-07-21"),
        ("Severity", "1", "2023-03-03"),
    )
    groups = READER.read(found).groups
    assert [g.published_at for g in groups] == [
        "2025-07-21T10:00:00Z",
        "2024-01-02T10:00:00Z",
        "2023-03-03T10:00:00Z",
        None,
    ]
    newest = groups[0].attributes
    assert [(a.label, a.text, a.detail) for a in newest] == [
        ("Severity", "5/6", False),
        ("MISP Event UUID", "5e6f7a14", True),
    ]


def test_repeated_numbers_give_their_range_and_most_alarming_value_on_the_scale():
    days = ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01"]
    found = indicator(*[("Severity", s, d) for s, d in zip("13625", days)])
    assert summary_of(found) == {"Severity": "1-6, max 6/6 (5 observations)"}
    once = indicator(("Severity", "5", "2025-01-01"))
    assert summary_of(once) == {"Severity": "5/6"}
    same_day = indicator(("Severity", "2", "2025-01-01"), ("Severity", "4", "2025-01-01"))
    assert summary_of(same_day) == {"Severity": "2-4, max 4/6 (2 values)"}
    equal = indicator(("Severity", "3", "2025-01-01"), ("Severity", "3", "2025-02-01"))
    assert summary_of(equal) == {"Severity": "3/6 (2 observations)"}


def test_where_lower_is_worse_the_minimum_is_named_and_the_direction_said():
    found = indicator(("Rank", "7", "2025-01-01"), ("Rank", "2", "2025-02-01"))
    assert summary_of(found) == {"Rank": "2-7, min 2 on 1..10 (2 observations), lower is worse"}


def test_repeated_texts_give_their_distinct_values_most_frequent_first_with_counts():
    found = indicator(
        ("threattype", "downloader", "2025-01-01"),
        ("threattype", "criminal", "2025-01-01"),
        ("threattype", "criminal", "2025-02-01"),
    )
    assert summary_of(found) == {"Threat Type": "criminal (2); downloader"}
    many = indicator(*[("Tag", f"t{i}", "2025-01-01") for i in range(9)])
    assert summary_of(many) == {"Tag": "t0; t1; t2; t3; t4; t5; and 3 more"}


def test_repeated_dates_give_their_range():
    found = indicator(
        ("First Seen", "2024-05-01T00:00:00Z", "2024-05-01"),
        ("First Seen", "2023-01-09T00:00:00Z", "2023-01-09"),
    )
    assert summary_of(found) == {
        "First Seen": "2023-01-09T00:00:00Z to 2024-05-01T00:00:00Z (2 observations)"
    }


def test_detail_is_left_out_of_the_summary_and_the_declared_names_lead():
    found = indicator(
        ("Hotness", "0.5", "2025-01-01"),
        ("misp-uuid", "5e6f7a14", "2025-01-01"),
        ("threattype", "criminal", "2025-01-01"),
        ("Severity", "4", "2025-01-01"),
    )
    reading = READER.read(found)
    assert [line.label for line in reading.summary] == ["Severity", "Threat Type", "Hotness"]
    assert reading.detail == 1


def test_a_stored_indicator_reads_as_the_one_a_run_made():
    found = indicator(("Severity", "4", "2025-01-01"), ("misp-uuid", "x", None))
    assert READER.read(found.to_dict()) == READER.read(found)


def test_the_headline_is_the_most_alarming_value_among_the_indicators_given():
    low = indicator(("Severity", "2", "2025-01-01"))
    high = indicator(("Severity", "5", "2025-01-01"), ("Severity", "3", "2025-02-01"))
    best = READER.headline([low.to_dict(), high])
    assert (best.label, best.value, best.text) == ("Severity", "5", "5/6")
    assert READER.headline([indicator(("Hotness", "1", None))]) is None


# --- the manifests' readings -----------------------------------------------------------------


def v1_page(*severities: int) -> dict[str, Any]:
    observations = [
        {
            "severity": severity,
            "confidence": 90 - 10 * index,
            "first_seen": f"2025-0{index + 1}-01 10:00:00+00:00",
            "categories": [],
            "families": [],
            "actors": [],
            "attributes": [{"name": "threattype", "value": ("criminal", "downloader")[index % 2]}],
            "event": {"attributes": [{"name": "misp-uuid", "value": f"uuid-{index}"}]},
        }
        for index, severity in enumerate(severities)
    ]
    return {"iocs": [{"value": "c2.example", "data_type": "DomainName",
                      "observations": observations}]}  # fmt: skip


def test_tie_v1_sums_up_five_observations_and_keeps_misp_uuids_as_detail():
    mapped = TIE.map("search", [v1_page(1, 3, 6, 2, 5)])
    reading = Service().read_indicator("dcso_tie", "search", mapped.indicators[0])
    summary = {line["label"]: line["text"] for line in reading["summary"]}
    assert summary["Severity"] == "1-6, max 6/6 (5 observations)"
    assert summary["Confidence"] == "50-90, max 90/100 (5 observations)"
    # the mapper keeps one attribute per name and value: each threat type once
    assert summary["Threat Type"] == "criminal; downloader"
    assert "MISP Event UUID" not in summary and "misp-uuid" not in summary
    groups = reading["groups"]
    assert [g["published_at"][:7] for g in groups] == [f"2025-0{m}" for m in (5, 4, 3, 2, 1)]
    marked = {a["name"]: a["detail"] for a in groups[0]["attributes"]}
    assert marked["misp-uuid"] is True and marked["Severity"] is False


def test_tie_v3_reads_severity_out_of_100_and_tego_its_reputation_score_as_assumed():
    page = json.loads((SAMPLES / "v3" / "tie_v3_page.json").read_text(encoding="utf-8"))
    mapped = TIE.map("search", [page], config={"api_version": "v3"})
    found = next(i for i in mapped.indicators if i.value == "203.0.113.7")
    reader = Service().reader("dcso_tie", "search", {"api_version": "v3"})
    assert summary_of(found, reader)["Severity"] == "60/100"
    assert "State" not in summary_of(found, reader)  # detail
    sample = ROOT / "tego_operation" / "samples" / "ip_8.8.8.8.json"
    tego = TEGO.map("search", [json.loads(sample.read_text(encoding="utf-8"))])
    text = summary_of(tego.indicators[0], Service().reader("tego", "search"))
    assert text["Reputation Score"] == "12/100, higher is worse"
    assert "Latitude" not in text


# --- the manifest checks ---------------------------------------------------------------------


def tie_raw() -> dict[str, Any]:
    raw, _ = load_yaml((ROOT / "manifests" / "dcso_tie.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(raw)


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(raw)
    return list(caught.value.problems)


def v3_reading(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["actions"][0]["variants"]["v3"]["reading"]["attributes"]


V3 = "$.actions[0].variants.v3.reading.attributes"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: v3_reading(r)["Severity"].update(colour="red"),
            f"Additional properties are not allowed ('colour' was unexpected) @ {V3}.Severity",
        ),
        (
            lambda r: v3_reading(r).update({"Hotness": {"label": "Heat"}}),
            "attribute 'Hotness' is not a name the mapping writes; its names: ",
        ),
        (
            lambda r: v3_reading(r).update({"First Seen": {"scale": 10}}),
            f"attribute 'First Seen' is a date (its row has the datetime transform), not a "
            f"number: it takes no scale @ {V3}.First Seen.scale",
        ),
        (
            lambda r: v3_reading(r).update({"Confidence": {"scale": {"min": 100, "max": 0}}}),
            f"scale of 'Confidence' runs from 100 to 0: min must be below max @ "
            f"{V3}.Confidence.scale",
        ),
        (
            lambda r: v3_reading(r).update({"Confidence": {"scale": 100, "headline": True}}),
            f"at most one headline attribute, got 2: Severity, Confidence @ {V3}",
        ),
        (
            lambda r: v3_reading(r).update({"TLP": {"headline": True}}),
            f"headline attribute 'TLP' needs a scale (a report says it as x/max) @ "
            f"{V3}.TLP.headline",
        ),
        (
            lambda r: r["actions"][0]["reading"]["attributes"].update(severity={"scale": 6}),
            "attribute 'severity' is not a name the mapping writes (did you mean 'Severity'?)",
        ),
        (
            lambda r: r["actions"][0]["variants"]["v2"].pop("reading"),
            "the action has a reading, its variant 'v2' none",
        ),
    ],
    ids=[
        "unknown-key",
        "never-written",
        "scale-on-date",
        "scale-upside-down",
        "two-headlines",
        "headline-unscaled",
        "case-typo",
        "variant-without",
    ],
)
def test_a_bad_reading_is_reported_with_its_path(change, expected):
    raw = tie_raw()
    change(raw)
    problems = problems_of(raw)
    assert any(p.startswith(expected) for p in problems), problems


def test_tqops_validate_names_the_path_of_a_bad_reading(tmp_path, capsys):
    raw = tie_raw()
    v3_reading(raw)["Hotness"] = {"scale": 1}
    bad = tmp_path / "dcso_tie.yaml"
    bad.write_text(json.dumps(raw), encoding="utf-8")  # JSON is YAML
    code, out, _ = cli("validate", str(bad), capsys=capsys)
    assert code == 2
    assert "is not a name the mapping writes; its names: " in out
    assert f"@ {V3}.Hotness\n" in out


# --- the CLI table and the JSON contract -----------------------------------------------------


def test_the_table_shows_the_summary_and_all_attributes_shows_each_observation(capsys):
    sample = str(SAMPLES / "legacy_iocs.json")
    code, out, _ = cli("map", "dcso_tie", "search", sample, "--format", "table", capsys=capsys)
    assert code == 0
    assert "Severity: 4-5, max 5/6 (2 values)" in out
    assert "Kill Chain: delivery" in out and "killchain" not in out
    assert "(+1 detail; --all-attributes shows every attribute)" in out
    assert "Source Pseudonym" not in out  # detail
    code, out, _ = cli(
        "map", "dcso_tie", "search", sample, "--format", "table", "--all-attributes",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    assert "observation 1 of 1, 2018-01-22T10:08:03Z:" in out
    assert "- Source Pseudonym: " in out and "[detail]" in out


@pytest.fixture
def tie_vendor():
    guide = json.loads((SAMPLES / "guide_sample.json").read_text(encoding="utf-8"))
    v3 = json.loads((SAMPLES / "v3" / "tie_v3_page.json").read_text(encoding="utf-8"))
    routes = {("GET", "/api/v1/iocs-with-context"): guide, ("GET", "/tie/v3/iocs"): v3}
    with FakeVendor(routes) as vendor:
        yield vendor


def run_json(vendor: FakeVendor, *args: str, capsys: Any) -> dict[str, Any]:
    config = vendor.config(TIE.manifest)
    flags = [f for name, value in config.items() for f in ("--config", f"{name}={value}")]
    code, out, err = cli(
        "run", "dcso_tie", "search", "--type", "FQDN", "--value", "www.microsoft.com",
        *flags, *args, "--format", "json", "--no-progress", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)["results"][0]


def test_the_json_summary_of_a_recorded_tie_page_leaves_the_flat_attributes_as_they_were(
    tie_vendor, capsys
):
    result = run_json(tie_vendor, "--config", f"access_token={TIE_TOKEN}", capsys=capsys)
    golden = json.loads(
        (ROOT / "tests" / "fixtures" / "dcso_tie" / "guide_sample.expected.json").read_text()
    )
    found = result["indicators"]
    assert [i["attributes"] for i in found] == [g["attributes"] for g in golden["indicators"]]
    assert list(found[1]) == [
        "value", "type", "match", "published_at", "summary", "attributes", "sources",
    ]  # fmt: skip
    summary = {line["label"]: line for line in found[1]["summary"]}
    assert summary["Severity"] == {"name": "Severity", "label": "Severity", "text": "2/6"}
    assert summary["Confidence"]["text"] == "80/100"
    assert summary["Event"]["name"] == "info"
    assert not {"misp-uuid", "Gamma", "Source Pseudonym"} & {s["name"] for s in summary.values()}
    threat = {line["label"]: line["text"] for line in found[0]["summary"]}["Threat Type"]
    assert threat == "criminal; downloader"


def test_the_json_summary_reads_a_v3_page_on_its_own_scale(tie_vendor, capsys):
    result = run_json(
        tie_vendor, "--config", "api_version=v3", "--config", "api_user=reader",
        "--config", "api_key=reading-key-9", capsys=capsys,
    )  # fmt: skip
    lines = [line for i in result["indicators"] for line in i["summary"]]
    assert {"name": "Severity", "label": "Severity", "text": "60/100"} in lines
    assert not [line for line in lines if line["name"] in ("State", "Ignore", "Modified")]


def test_the_run_table_shows_the_verdict_then_the_summary(tie_vendor, capsys):
    config = {**tie_vendor.config(TIE.manifest), "access_token": TIE_TOKEN}
    flags = [f for name, value in config.items() for f in ("--config", f"{name}={value}")]
    code, out, err = cli(
        "run", "dcso_tie", "search", "--type", "FQDN", "--value", "www.microsoft.com",
        *flags, "--no-progress", capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert out.index("verdict: unknown") < out.index("Severity: 2/6")
    assert "Threat Type: criminal; downloader" in out
    assert "misp-uuid" not in out and "MISP Event UUID" not in out
