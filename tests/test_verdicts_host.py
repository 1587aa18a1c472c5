"""The verdict through the host: its REST results carry it (and each found indicator's match),
and its Cortex analyzer report says it as a taxonomy, read by the real cortex4py client."""

from __future__ import annotations

import copy
import json

import pytest
from cortex4py.api import Api

from simulators import TegoSimulator, TieSimulator
from simulators.tie_data import DATA_FILE
from tests.support.hosting import wait_for
from tests.support.protocols import protocol_host
from tests.support.vendors import TIE_TOKEN

pytestmark = pytest.mark.slow

LICENSE = "verdict-host-license-31"
HIT = "c2.verdict-host.example"
LOW = "45.33.32.8"


@pytest.fixture(scope="module")
def verdict_tie():
    iocs = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    template = next(i for i in iocs if i["data_type"] == "DomainName" and i["observations"])
    hit = copy.deepcopy(template)
    shape = hit["observations"][0]
    hit["value"] = HIT
    hit["observations"] = [
        {**shape, "severity": 5, "confidence": 90, "categories": [],
         "first_seen": "2025-07-21 10:00:00+00:00"},
        {**shape, "severity": 1, "confidence": 95, "categories": [],
         "first_seen": "2025-05-02 10:00:00+00:00"},
    ]  # fmt: skip
    with TieSimulator(token=TIE_TOKEN, iocs=[hit, *iocs]) as sim:
        yield sim


@pytest.fixture(scope="module")
def verdict_tego():
    record = {"token": LOW, "type": "ip", "ip": LOW, "riskLevel": "Low",
              "reputation": {"score": 4, "provider": "Tego"}}  # fmt: skip
    with TegoSimulator(token=LICENSE, records=[record]) as sim:
        yield sim


@pytest.fixture(scope="module")
def host(tmp_path_factory, verdict_tie, verdict_tego):
    data = tmp_path_factory.mktemp("verdicts") / "data"
    with protocol_host(data, verdict_tie) as running:
        answer = running.api(running.users["admin"]["api_key"]).put(
            f"{running.url}/api/v1/operations/tego/config",
            json={
                "values": {
                    "hostname": verdict_tego.hostname,
                    "license_key": LICENSE,
                    "ca_bundle": verdict_tego.ca_pem_path,
                }
            },
        )
        assert answer.status_code == 200, answer.text
        yield running


def cortex_report(host, analyzer: str, data_type: str, data: str) -> dict:
    api = Api(host.url, host.users["analyst"]["api_key"], verify_cert=host.ca)
    observable = {"data": data, "dataType": data_type, "tlp": 1, "message": "verdicts"}
    job = api.analyzers.run_by_name(analyzer, observable, force=1)
    api.jobs.get_report_async(job.id, "30seconds")
    report = api.jobs.get_report(job.id)
    assert report.status == "Success", report.report
    return report.report


def test_cortex_says_a_tie_severity_5_hit_is_malicious(host):
    report = cortex_report(host, "DCSO_TIE_Search", "domain", HIT)
    verdict, found, severity = report["summary"]["taxonomies"]
    assert verdict == {
        "level": "malicious",
        "namespace": "DCSO_TIE",
        "predicate": "Verdict",
        "value": "malicious",
    }
    assert found == {"level": "info", "namespace": "DCSO_TIE", "predicate": "Search",
                     "value": "1 found"}  # fmt: skip
    # the highest severity of the exact match, on TIE v1's scale (the reading's headline)
    assert severity == {"level": "info", "namespace": "DCSO_TIE", "predicate": "Severity",
                        "value": "5/6"}  # fmt: skip
    assert report["full"]["verdict"]["reasons"][0].startswith(
        "severity 5/6, confidence 90 on 2025-07-21 (observation 1 of 2): malicious"
    )


def test_cortex_says_a_tego_low_is_safe(host):
    report = cortex_report(host, "Tego_Search", "ip", LOW)
    verdict = report["summary"]["taxonomies"][0]
    assert verdict == {"level": "safe", "namespace": "Tego", "predicate": "Verdict",
                       "value": "benign"}  # fmt: skip
    assert report["full"]["verdict"]["score"] == 4
    # Tego's headline: its Reputation Score, out of 100
    assert report["summary"]["taxonomies"][2] == {"level": "info", "namespace": "Tego",
        "predicate": "Reputation Score", "value": "4/100"}  # fmt: skip


def test_the_rest_results_carry_the_verdict_and_each_match(host):
    session = host.api(host.users["analyst"]["api_key"])
    answer = session.post(
        f"{host.url}/api/v1/jobs",
        json={
            "operation": "dcso_tie",
            "action": "search",
            "inputs": [
                {"type": "FQDN", "value": HIT},
                {"type": "FQDN", "value": "www.microsoft.com"},
            ],
        },
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    url = f"{host.url}/api/v1/jobs/{job_id}"
    wait_for(lambda: session.get(url).json()["status"] == "done")
    results = session.get(f"{url}/results").json()["results"]
    by_value = {r["input"]["value"]: r for r in results}
    hit, look_alikes = by_value[HIT], by_value["www.microsoft.com"]
    assert (hit["verdict"]["level"], hit["verdict"]["score"]) == ("malicious", 90)
    assert [i["match"] for i in hit["indicators"]] == ["exact"]
    # the REST results carry each found indicator's summary too, as `tqops run` gives it
    summary = {line["name"]: line["text"] for line in hit["indicators"][0]["summary"]}
    assert summary["Severity"] == "1-5, max 5/6 (2 observations)"
    assert look_alikes["verdict"]["level"] == "unknown"
    assert look_alikes["indicators"] and {i["match"] for i in look_alikes["indicators"]} == {
        "related"
    }
