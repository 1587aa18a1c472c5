"""Nothing lost silently: record keys no row reads nor ignores (one warning per run), responses
of another shape, conditions a manifest may state, and the new mapping semantics (names split
off values, the indicator's TLP), with their coverage report."""

from __future__ import annotations

import copy
import json

import pytest
import responses
import yaml

from dcso_tie_operation import OPERATION as TIE
from dcso_tie_operation.client import SEARCH_PATH
from tego_operation import OPERATION as TEGO
from tests.support.mapping_oracle import interpret
from tqops import ApiError, ManifestError, Mapper, MappingSpec, Operation
from tqops.manifest.document import Manifest
from tqops.mapping.coverage import coverage

SAMPLES = TIE.package_dir / "samples"
GUIDE = json.loads((SAMPLES / "guide_sample.json").read_text())
MANIFEST = TIE.package_dir.parent / "manifests" / "dcso_tie.yaml"


def drifted() -> dict:
    page = copy.deepcopy(GUIDE)
    page["iocs"][0]["novel_score"] = 7
    page["iocs"][1]["novel_score"] = 8
    page["iocs"][1]["observations"][0]["event"]["source"]["name"] = "feed"
    return page


def test_fields_neither_mapped_nor_ignored_are_one_warning_naming_them():
    result = TIE.map("search", [drifted(), drifted()])
    drift = [w for w in result.warnings if "does not map" in w]
    assert drift == [
        "DCSO TIE returned fields this operation does not map: novel_score, "
        "observations[].event.source.name"
    ]
    assert result.unmapped == ("novel_score", "observations[].event.source.name")


def test_the_shipped_samples_hold_no_field_their_mapping_does_not_know():
    for name, config in [
        ("guide_sample.json", {}),
        ("legacy_iocs.json", {}),
        ("v2/engine_2023.json", {"api_version": "v2"}),
        ("v3/tie_v3_page.json", {"api_version": "v3"}),
    ]:
        page = json.loads((SAMPLES / name).read_text())
        assert TIE.map("search", [page], config=config).unmapped == (), name
    tego = json.loads((TEGO.package_dir / "samples" / "ip_8.8.8.8.json").read_text())
    assert TEGO.map("search", [tego]).unmapped == ()


def test_tego_gets_the_same_drift_check_and_envelope_check():
    record = json.loads((TEGO.package_dir / "samples" / "ip_8.8.8.8.json").read_text())[0]
    result = TEGO.map("search", [[{**record, "confidenceLevel": "high"}]])
    assert (
        result.warnings[-1] == "Tego returned fields this operation does not map: confidenceLevel"
    )
    with pytest.raises(ApiError, match="does not fit its mapping: expected a list of records"):
        TEGO.map("search", [record])


@responses.activate
def test_a_run_warns_of_a_field_once_however_many_inputs_carry_it():
    url = f"https://tie.example.test{SEARCH_PATH}"
    responses.get(url, json=drifted())
    with TIE.configure({"hostname": "tie.example.test", "access_token": "t0k3n"}) as op:
        inputs = [("FQDN", "a.example"), ("FQDN", "b.example"), ("FQDN", "c.example")]
        results = list(op.run("search", {}, inputs, concurrency=1))
        told = [w for r in results for w in r.warnings if "does not map" in w]
        assert len(told) == 1 and "novel_score" in told[0]
        again = list(op.run("search", {}, inputs[:1], concurrency=1))  # a new run tells again
        assert any("does not map" in w for w in again[0].warnings)


# -- what a manifest may state, checked ------------------------------------------------------


def broken(change) -> list[str]:
    raw = yaml.safe_load(MANIFEST.read_text())
    change(raw)
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(raw)
    return list(caught.value.problems)


def test_conditions_name_select_fields_and_their_choices():
    def change(raw):
        options = raw["actions"][0]["options"]
        options[0]["when"] = {"api_versoin": ["v1"]}
        options[1]["when"] = {"hostname": ["x"]}
        options[2]["when"] = {"api_version": ["v9"]}
        raw["config"][0]["default_when"] = {"api_version": {"v7": "x.example"}}

    problems = broken(change)
    assert (
        "no config field named 'api_versoin' to depend on @ $.actions[0].options[0].when"
        ".api_versoin" in problems
    )
    assert (
        "'hostname' must be a select field to depend on @ "
        "$.actions[0].options[1].when.hostname" in problems
    )
    assert any(p.startswith("'v9' not among the choices of 'api_version'") for p in problems)
    assert any(p.startswith("'v7' not among the choices") for p in problems)


def test_variants_cover_exactly_the_other_versions():
    def change(raw):
        del raw["actions"][0]["variants"]["v2"]
        raw["actions"][0]["variants"]["v4"] = raw["actions"][0]["variants"]["v3"]

    problems = broken(change)
    assert "variant 'v4' is not a value of 'api_version' @ $.actions[0].variants.v4" in problems
    assert any(p.startswith("no variant for api_version 'v2'") for p in problems)


def test_an_ignore_entry_must_be_a_key_path():
    def change(raw):
        raw["actions"][0]["mapping"]["ignore"].append("observations[x].id")

    assert any("ignore[17]" in p for p in broken(change))


def test_a_client_must_speak_exactly_the_versions_the_manifest_offers():
    class OldClient:
        VARIANTS = frozenset({"v1", "v2"})

    with pytest.raises(ManifestError) as caught:
        Operation.define(TIE.manifest, OldClient, TIE.actions, TIE.test_connection)
    assert "the client does not speak api_version 'v3', a choice of the manifest" in str(
        caught.value
    )


# -- names split off values, the indicator's TLP, coverage ----------------------------------


SPEC = MappingSpec.from_dict(
    {
        "source": {"name": "S", "tlp": "AMBER"},
        "ignore": ["id"],
        "indicator": {
            "path": ".r[].v",
            "type": {"path": ".r[].t", "table": {"D": "FQDN"}},
            "tlp": {"path": ".r[].tlp", "table": {"green": "GREEN", "red": "RED"}},
        },
        "attributes": [{"path": ".r[].pairs", "name_separator": ":"}],
    }
)


def test_a_name_separator_row_names_each_value_by_its_own_text():
    document = {
        "r": [
            {"id": 1, "v": "x.example", "t": "D", "tlp": "green", "pairs": ["a:1", "b:x:y"]},
            {"id": 2, "v": "x.example", "t": "D", "tlp": "red", "pairs": ["no pair", "c:"]},
            {"id": 3, "v": "y.example", "t": "D", "tlp": "purple"},
        ]
    }
    result = Mapper.compile(SPEC).map(document)
    assert result == interpret(SPEC, None, document)
    x, y = result.indicators
    assert [(a.name, a.value) for a in x.attributes] == [("a", "1"), ("b", "x:y")]
    assert x.sources[0].tlp == "RED" and y.sources[0].tlp == "AMBER"  # strictest; the source's
    assert result.warnings == (
        ".r[].pairs: 'no pair' is not name:value; skipped",
        "unknown TLP 'purple': kept the source's own",
    )


def test_coverage_counts_rows_per_record_and_lists_the_keys_no_row_reads():
    page = json.loads((SAMPLES / "legacy_iocs.json").read_text())
    page["iocs"][0]["novel_score"] = 1
    report = coverage(TIE.mapper("search").table, [page])
    rows = {(row.path, row.makes): row.records for row in report.rows}
    assert report.records == 3
    assert rows[(".iocs[].value", "Indicator value")] == 3
    assert rows[(".iocs[].families", "Malware Family")] == 2
    assert rows[(".iocs[].observations[].severity", "Severity")] == 0
    assert rows[(".iocs[].ioc_attributes", "name:value")] == 1
    unread = {key.key: (key.records, key.ignored) for key in report.unread}
    assert unread["novel_score"] == (1, False) and unread["min_seq"] == (3, True)
    assert next(iter(unread)) == "novel_score"  # what is not mapped comes first
