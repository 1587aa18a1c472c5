"""Verdicts and exact/related matches: the manifest's rules over the shipped samples, records
built for each TIE API version and Tego's risk levels, the thresholds an admin changes, the
validation of a bad verdict section, and the CLI against the loopback simulators."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Optional

import pytest

from simulators import TegoSimulator, TieSimulator
from simulators.tie_data import DATA_FILE
from tests.support.cli import cli, flags, one_input
from tqops import discover_operations
from tqops.errors import ManifestError
from tqops.manifest.document import Manifest
from tqops.manifest.yamldoc import load_yaml
from tqops.model import Indicator

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = discover_operations()
TIE = OPERATIONS["dcso_tie"]
TEGO = OPERATIONS["tego"]
CREDENTIALS = {
    "v1": {"access_token": "verdict-token-1"},
    "v2": {"api_user": "verdict-user", "api_key": "verdict-key-2"},
    "v3": {"api_user": "verdict-user", "api_key": "verdict-key-2"},
}


def sample(path: str) -> Any:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


def tie_verdict(version: str, document: Any, kind: str, value: str, **config: Any):
    resolved = TIE.resolve_config({"api_version": version, **CREDENTIALS[version], **config})
    return TIE.judge("search", resolved).judge([document], Indicator(value, kind))


def tego_verdict(document: Any, kind: str = "IP Address", value: str = "8.8.8.8"):
    resolved = TEGO.resolve_config({"license_key": "verdict-license"})
    return TEGO.judge("search", resolved).judge([document], Indicator(value, kind))


def observation(severity: Optional[int], confidence: Optional[int], day: str) -> dict[str, Any]:
    return {
        "severity": severity,
        "confidence": confidence,
        "first_seen": f"{day} 10:00:00+00:00",
        "last_seen": f"{day} 11:00:00+00:00",
        "categories": [],
        "families": [],
        "actors": [],
        "attributes": [],
    }


def v1_page(value: str, data_type: str, *observations: dict[str, Any]) -> dict[str, Any]:
    return {"iocs": [{"value": value, "data_type": data_type, "observations": list(observations)}]}


# --- the shipped samples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "path", "kind", "value", "level", "score", "evidence"),
    [
        (
            "v1",
            "dcso_tie_operation/samples/legacy_iocs.json",
            "SHA-1",
            "AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D",  # hash case: still the same value
            "malicious",
            95,
            "max_severity 5/6, max_confidence 95, last seen 2018-03-02: malicious at "
            "severity >= 4 and confidence >= 70",
        ),
        (
            "v1",
            "dcso_tie_operation/samples/legacy_iocs.json",
            "FQDN",
            "Login-Verify-Account.example.org",
            "suspicious",
            90,
            "max_severity 3/6, max_confidence 90, last seen 2018-05-22: suspicious, not "
            "malicious (malicious needs severity >= 4 and confidence >= 70)",
        ),
        (
            "v1",
            "dcso_tie_operation/samples/guide_sample.json",
            "FQDN",
            "www.microsoft.com.msonlinemicrosoft.com",
            "suspicious",
            80,
            "severity 2/6, confidence 80 on 2020-03-16 (observation 1 of 1): suspicious",
        ),
        (
            "v2",
            "dcso_tie_operation/samples/v2/engine_2023.json",
            "FQDN",
            "cdn-update.example.net",
            "malicious",
            90,
            "max_severity 4/6, max_confidence 90",
        ),
        (
            "v3",
            "dcso_tie_operation/samples/v3/tie_v3_page.json",
            "IP Address",
            "203.0.113.7",
            "malicious",
            70,
            "severity 60/100, confidence 70: malicious at severity >= 60 and confidence >= 70",
        ),
        (
            "v3",
            "dcso_tie_operation/samples/v3/tie_v3_page.json",
            "FQDN",
            "update-check.example.com",
            "suspicious",
            89,
            "severity not given, confidence 89, last seen 2025-07-17: suspicious, not malicious",
        ),
    ],
)
def test_tie_samples_get_the_default_levels_with_reasons_naming_the_evidence(
    version, path, kind, value, level, score, evidence
):
    verdict = tie_verdict(version, sample(path), kind, value)
    assert (verdict.level, verdict.score) == (level, score)
    assert verdict.reasons[0].startswith(evidence), verdict.reasons


def test_a_value_found_in_two_records_is_judged_on_the_worst_and_says_so():
    verdict = tie_verdict(
        "v2",
        sample("dcso_tie_operation/samples/v2/engine_2023.json"),
        "MD5",
        "5d41402abc4b2a76b9719d911017c592",
    )
    assert verdict.level == "suspicious"
    assert "exact match in 2 records; the most alarming decides" in verdict.reasons


def test_look_alikes_are_related_and_leave_the_verdict_unknown():
    page = sample("dcso_tie_operation/samples/guide_sample.json")
    verdict = tie_verdict("v1", page, "FQDN", "www.microsoft.com")
    assert verdict.level == "unknown" and verdict.score is None
    (reason,) = verdict.reasons
    assert reason.startswith("only related matches, none of the value itself: 2 (")
    assert "www.microsoft.com.msonlinemicrosoft.com" in reason
    result = TIE.map("search", [page], Indicator("www.microsoft.com", "FQDN"))
    assert result.indicators and {i.match for i in result.indicators} == {"related"}
    found = TIE.map("search", [page], Indicator("WWW.microsoft.com.MSonlinemicrosoft.com.", "FQDN"))
    assert sorted(i.match for i in found.indicators) == ["exact", "related"]
    assert {i.match for i in TIE.map("search", [page]).indicators} == {None}


def test_nothing_found_is_unknown_and_says_so():
    verdict = tie_verdict("v1", {"iocs": []}, "FQDN", "nothing.example.org")
    assert verdict.to_dict() == {"level": "unknown", "score": None, "reasons": ["nothing found"]}


# --- the same-observation rule, v1 records ----------------------------------------------------


def test_severity_and_confidence_must_meet_on_the_same_observation():
    split = v1_page(
        "evil.example.org",
        "DomainName",
        observation(6, 50, "2025-07-01"),  # severe but unsure
        observation(2, 95, "2025-07-10"),  # sure but mild
    )
    verdict = tie_verdict("v1", split, "FQDN", "evil.example.org")
    assert verdict.level == "suspicious"
    assert verdict.reasons[0].startswith("severity 6/6, confidence 50 on 2025-07-01 (observation 1")
    both = v1_page(
        "evil.example.org",
        "DomainName",
        observation(1, 99, "2025-06-01"),
        observation(2, 80, "2025-06-15"),
        observation(5, 90, "2025-07-21"),
        observation(3, 60, "2025-07-22"),
        observation(4, 50, "2025-07-23"),
    )
    verdict = tie_verdict("v1", both, "FQDN", "evil.example.org")
    assert (verdict.level, verdict.score) == ("malicious", 90)
    assert verdict.reasons == (
        "severity 5/6, confidence 90 on 2025-07-21 (observation 3 of 5): malicious at "
        "severity >= 4 and confidence >= 70",
    )


def test_thresholds_changed_in_the_configuration_change_the_verdict():
    page = v1_page("evil.example.org", "DomainName", observation(5, 90, "2025-07-21"))
    assert tie_verdict("v1", page, "FQDN", "evil.example.org").level == "malicious"
    stricter = tie_verdict("v1", page, "FQDN", "evil.example.org", verdict_malicious_severity=6)
    assert stricter.level == "suspicious"
    assert "malicious needs severity >= 6 and confidence >= 70" in stricter.reasons[0]
    surer = tie_verdict("v1", page, "FQDN", "evil.example.org", verdict_malicious_confidence=95)
    assert surer.level == "suspicious"
    v3 = {"results": [{"ioc": "203.0.113.9", "iocType": "ip", "severity": 50, "confidence": 90}]}
    assert tie_verdict("v3", v3, "IP Address", "203.0.113.9").level == "suspicious"
    laxer = tie_verdict("v3", v3, "IP Address", "203.0.113.9", verdict_malicious_severity=40)
    assert laxer.level == "malicious"


def test_the_thresholds_default_by_api_version():
    for version, severity in (("v1", 4), ("v2", 4), ("v3", 60)):
        config = TIE.resolve_config({"api_version": version, **CREDENTIALS[version]})
        assert config["verdict_malicious_severity"] == severity
        assert config["verdict_malicious_confidence"] == 70


def test_a_v3_record_without_severity_is_at_most_suspicious():
    record = {"ioc": "203.0.113.9", "iocType": "ip", "severity": None, "confidence": 100}
    verdict = tie_verdict("v3", {"results": [record]}, "IP Address", "203.0.113.9")
    assert (verdict.level, verdict.score) == ("suspicious", 100)
    assert verdict.reasons[0].startswith("severity not given, confidence 100: suspicious")
    low = tie_verdict(
        "v3",
        {"results": [record]},
        "IP Address",
        "203.0.113.9",
        verdict_malicious_severity=0,
        verdict_malicious_confidence=0,
    )
    assert low.level == "suspicious"  # no threshold makes a missing severity malicious


# --- Tego -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "level"),
    [("Low", "benign"), ("Medium", "suspicious"), ("High", "malicious"), ("Critical", "malicious")],
)
def test_tego_risk_levels(risk, level):
    page = sample("tego_operation/samples/ip_8.8.8.8.json")
    page[0]["riskLevel"] = risk
    verdict = tego_verdict(page)
    assert (verdict.level, verdict.score) == (level, 12)
    assert verdict.reasons[0].startswith(f"Risk Level {risk}, Reputation Score 12")


def test_tego_unknown_risk_level_is_suspicious_with_a_reason_naming_it():
    page = sample("tego_operation/samples/ip_8.8.8.8.json")
    page[0]["riskLevel"] = "Severe"
    verdict = tego_verdict(page)
    assert verdict.level == "suspicious"
    assert (
        "'Severe' is not a Risk Level the rules name (High, Critical, Medium, Low)"
        in (verdict.reasons[0])
    )
    del page[0]["reputation"]
    assert tego_verdict(page).score is None


# --- validation of the verdict section -------------------------------------------------------


def raw_manifest(name: str) -> dict[str, Any]:
    raw, _ = load_yaml((ROOT / "manifests" / f"{name}.yaml").read_text(encoding="utf-8"))
    return copy.deepcopy(raw)


def problems_of(raw: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(raw)
    return caught.value.problems


def test_a_bad_verdict_section_is_refused_naming_each_path():
    raw = raw_manifest("dcso_tie")
    verdict = copy.deepcopy(raw["actions"][0]["verdict"])
    verdict["score"] = "certainty"
    verdict["levels"][0]["when"][0]["at_least"] = "hostname"
    verdict["levels"][0]["when"][1]["measure"] = "sureness"
    verdict["evidence"][0]["measures"][0]["path"] = ".iocs[].severity"
    raw["actions"][0]["verdict"] = verdict
    v3 = raw["actions"][0]["variants"]["v3"]["verdict"]
    v3["levels"][0]["when"][1]["at_least"] = "max_requests_per_second"  # a number without default
    raw["actions"][0]["variants"]["v3"]["verdict"]["evidence"][0]["elements"] = ".iocs[]"
    del raw["actions"][0]["variants"]["v2"]["verdict"]
    problems = problems_of(raw)
    at = "$.actions[0]"
    expected = [
        f"@ {at}.verdict.score",
        f"@ {at}.verdict.levels[0].when[0].at_least",
        f"@ {at}.verdict.levels[0].when[1].measure",
        f"@ {at}.verdict.evidence[0].measures[0].path",
        f"@ {at}.variants.v3.verdict.evidence[0].elements",
        f"@ {at}.variants.v3.verdict.levels[0].when[1].at_least",
        f"@ {at}.variants.v2",
    ]
    for end in expected:
        assert [p for p in problems if p.endswith(end)], (end, problems)
    assert any(
        "'hostname' is neither a number nor a config field of type number" in p for p in problems
    )


def test_the_schema_refuses_a_condition_without_a_test_and_an_unknown_level():
    raw = raw_manifest("tego")
    raw["actions"][0]["verdict"]["levels"][0] = {"level": "evil", "when": [{"measure": "x"}]}
    problems = problems_of(raw)
    assert any(p.endswith("@ $.actions[0].verdict.levels[0].level") for p in problems), problems
    assert any(
        "a measure and exactly one of at_least, one_of" in p
        and p.endswith("@ $.actions[0].verdict.levels[0].when[0]")
        for p in problems
    ), problems


# --- the CLI against the simulators -----------------------------------------------------------


def simulated_ioc(template: dict[str, Any], value: str, *seen: tuple[int, int, str]):
    """A simulator IOC like ``template`` with ``value`` and one observation per (severity,
    confidence, day)."""
    ioc = copy.deepcopy(template)
    shape = ioc["observations"][0]
    ioc["value"] = value
    ioc["observations"] = [
        {
            **copy.deepcopy(shape),
            "severity": severity,
            "confidence": confidence,
            "categories": [],
            "first_seen": f"{day} 10:00:00+00:00",
            "last_seen": f"{day} 11:00:00+00:00",
        }
        for severity, confidence, day in seen
    ]
    return ioc


@pytest.fixture(scope="module")
def tie_sim():
    iocs = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    template = next(i for i in iocs if i["data_type"] == "DomainName" and i["observations"])
    found = simulated_ioc(
        template, "c2.verdict-test.example", (5, 90, "2025-07-21"), (2, 75, "2025-05-02")
    )
    with TieSimulator(token="verdict-token-1", iocs=[found, *iocs]) as sim:
        yield sim


def json_run(
    capsys: Any, operation: str, kind: str, value: str, config: dict[str, Any], *extra: str
) -> dict[str, Any]:
    """``tqops run OPERATION search`` on one indicator, as JSON: its one result."""
    args = [*one_input(operation, kind, value), *flags("--config", config), *extra]
    code, out, err = cli(*args, "--format", "json", capsys=capsys)
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    return result


def tie_run(sim: Any, capsys: Any, kind: str, value: str, *extra: str) -> dict[str, Any]:
    config = {
        "hostname": sim.hostname,
        "access_token": "verdict-token-1",
        "ca_bundle": sim.ca_pem_path,
    }
    return json_run(capsys, "dcso_tie", kind, value, config, *extra)


def test_cli_www_microsoft_com_finds_only_look_alikes(tie_sim, capsys):
    result = tie_run(tie_sim, capsys, "FQDN", "WWW.Microsoft.com")
    assert result["status"] == "ok" and result["indicators"]
    assert {i["match"] for i in result["indicators"]} == {"related"}
    assert result["verdict"]["level"] == "unknown"
    assert result["verdict"]["reasons"][0].startswith("only related matches")


def test_cli_a_found_value_is_exact_and_the_threshold_is_the_admins(tie_sim, capsys):
    result = tie_run(tie_sim, capsys, "FQDN", "c2.verdict-test.example")
    assert [i["match"] for i in result["indicators"]] == ["exact"]
    assert (result["verdict"]["level"], result["verdict"]["score"]) == ("malicious", 90)
    assert (
        "severity 5/6, confidence 90 on 2025-07-21 (observation 1 of 2)"
        in (result["verdict"]["reasons"][0])
    )
    stricter = tie_run(
        tie_sim,
        capsys,
        "FQDN",
        "c2.verdict-test.example",
        "--config",
        "verdict_malicious_severity=6",
    )
    assert stricter["verdict"]["level"] == "suspicious"


def test_cli_nothing_found_and_an_error_are_unknown(tie_sim, capsys):
    result = tie_run(tie_sim, capsys, "FQDN", "nothing-here.verdict-test.example")
    assert result["status"] == "no_results"
    assert result["verdict"] == {"level": "unknown", "score": None, "reasons": ["nothing found"]}


def test_cli_tego_low_is_benign_and_exact(capsys):
    records = [
        {
            "token": "45.33.32.8",
            "type": "ip",
            "ip": "45.33.32.8",
            "riskLevel": "Low",
            "reputation": {"score": 7, "provider": "Tego"},
        },
        {"token": "45.33.32.9", "type": "ip", "ip": "45.33.32.9", "riskLevel": "Critical"},
    ]
    with TegoSimulator(token="verdict-license", records=records) as sim:
        levels = {}
        for value in ("45.33.32.8", "45.33.32.9"):
            config = {
                "hostname": sim.hostname,
                "license_key": "verdict-license",
                "ca_bundle": sim.ca_pem_path,
            }
            result = json_run(capsys, "tego", "IP Address", value, config)
            assert [i["match"] for i in result["indicators"]] == ["exact"]
            levels[value] = (result["verdict"]["level"], result["verdict"]["score"])
    assert levels == {"45.33.32.8": ("benign", 7), "45.33.32.9": ("malicious", None)}


@pytest.mark.parametrize("odd", ["NaN", "inf", "high", {"value": 5}, [5], True, ""])
def test_a_measure_that_is_not_a_finite_number_meets_no_threshold(odd):
    page = v1_page("odd.example.org", "DomainName", observation(odd, 90, "2025-07-21"))
    verdict = tie_verdict("v1", page, "FQDN", "odd.example.org")
    assert verdict.level == "suspicious" and verdict.score == 90
    assert verdict.reasons[0].endswith(
        "not malicious (malicious needs severity >= 4 and confidence >= 70)"
    )
