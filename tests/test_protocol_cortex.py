"""Cortex's analyzer API for real: cortex4py (the client TheHive's users script with) against
`tqops serve` over TLS, DCSO TIE's simulator as the vendor."""

from __future__ import annotations

import pytest
from cortex4py.api import Api
from cortex4py.exceptions import AuthenticationError, AuthorizationError, NotFoundError
from cortex4py.query import Eq

from tests.support.protocols import (
    run_result,
    searched,
)
from tqops.service import Service

#: Cortex's id of DCSO TIE's search: its name, and the manifest's major and minor version
TIE_ANALYZER = "DCSO_TIE_Search_{}_{}".format(
    *Service().operation("dcso_tie").manifest.version.split(".")[:2]
)

pytestmark = pytest.mark.slow


def cortex(host, role):
    return Api(host.url, host.users[role]["api_key"], verify_cert=host.ca)


def test_run_by_name_gives_a_report_whose_full_is_the_tqops_result(tie_host, tie):
    api = cortex(tie_host, "analyst")
    tie.clear_requests()
    observable = {"data": "www.microsoft.com", "dataType": "domain", "tlp": 1, "message": "e2e"}
    job = api.analyzers.run_by_name("DCSO_TIE_Search", observable, force=1)
    assert job.status in ("Waiting", "InProgress", "Success")
    assert job.analyzerName == "DCSO_TIE_Search" and job.dataType == "domain"
    api.jobs.get_report_async(job.id, "30seconds")
    report = api.jobs.get_report(job.id)
    assert report.status == "Success" and report.report["success"] is True
    expected = run_result(tie, "FQDN", "www.microsoft.com")
    assert report.report["full"] == expected and expected["indicators"]
    verdict, found = report.report["summary"]["taxonomies"]
    # look-alikes only: found, but none is the value itself, so the verdict is unknown (info)
    assert verdict == {
        "level": "info",
        "namespace": "DCSO_TIE",
        "predicate": "Verdict",
        "value": "unknown",
    }
    assert found == {
        "level": "info",
        "namespace": "DCSO_TIE",
        "predicate": "Search",
        "value": f"{len(expected['indicators'])} found",
    }
    artifacts = {(a["dataType"], a["data"]) for a in report.report["artifacts"]}
    assert artifacts == {("fqdn", i["value"]) for i in expected["indicators"]}
    assert {a.data for a in api.jobs.get_artifacts(job.id)} == {i[1] for i in artifacts}


def test_analyzers_are_listed_searched_and_found_by_data_type(tie_host):
    api = cortex(tie_host, "viewer")
    analyzer = api.analyzers.get_by_name("DCSO_TIE_Search")
    assert analyzer.id == TIE_ANALYZER
    assert {"ip", "domain", "fqdn", "url", "mail", "hash", "filename"} <= set(analyzer.dataTypeList)
    assert "configuration" not in analyzer.json()  # nothing of its configuration leaves
    names = {a.name for a in api.analyzers.find_all({}, range="all")}
    assert {"DCSO_TIE_Search", "Tego_Search"} <= names
    assert [a.name for a in api.analyzers.find_all(Eq("name", "Tego_Search"))] == ["Tego_Search"]
    assert "DCSO_TIE_Search" in {a.name for a in api.analyzers.get_by_type("autonomous-system")}
    assert "Tego_Search" not in {a.name for a in api.analyzers.get_by_type("autonomous-system")}
    assert api.analyzers.get_by_id(analyzer.id).name == "DCSO_TIE_Search"
    assert api.status().json()["versions"]["Cortex"]


def test_a_tlp_above_the_gate_is_skipped_not_a_failure_and_nothing_is_sent(tie_host, tie):
    api = cortex(tie_host, "analyst")
    tie.clear_requests()
    observable = {"data": "red.example", "dataType": "fqdn", "tlp": 3}
    job = api.analyzers.run_by_name("DCSO_TIE_Search", observable)
    report = api.jobs.get_report_async(job.id, "30seconds")
    # policy, not a failure of the analyzer: a success whose info taxonomy says skipped
    assert report.status == "Success" and report.report["success"] is True
    verdict, taxonomy = report.report["summary"]["taxonomies"]
    assert (verdict["level"], verdict["value"]) == ("info", "unknown")  # nothing was judged
    assert (taxonomy["level"], taxonomy["value"]) == ("info", "skipped")
    full = report.report["full"]
    assert full["status"] == "skipped" and full["reason"].startswith("its TLP RED is above")
    assert full["input"]["value"] == "red.example" and report.report["artifacts"] == []
    assert searched(tie) == []


def test_a_wrong_key_is_refused_as_cortex_does_and_the_vendor_sees_nothing(tie_host, tie):
    tie.clear_requests()
    wrong = Api(tie_host.url, "tqk_" + "x" * 43, verify_cert=tie_host.ca)
    with pytest.raises(AuthenticationError):
        wrong.analyzers.run_by_name("DCSO_TIE_Search", {"data": "x.example", "dataType": "fqdn"})
    answer = tie_host.api().post(f"{tie_host.url}/api/analyzer/{TIE_ANALYZER}/run", json={})
    assert answer.status_code == 401 and answer.json()["type"] == "AuthenticationError"
    with pytest.raises(AuthorizationError):  # a viewer reads, and runs nothing
        cortex(tie_host, "viewer").analyzers.run_by_id(
            TIE_ANALYZER, {"data": "x.example", "dataType": "fqdn"}
        )
    assert searched(tie) == []


def test_unknown_jobs_and_analyzers_are_not_found(tie_host):
    api = cortex(tie_host, "viewer")
    with pytest.raises(NotFoundError):
        api.jobs.get_by_id("999999")
    with pytest.raises(NotFoundError):
        api.analyzers.get_by_id("Nothing_1_0")
    answer = tie_host.api(tie_host.users["viewer"]["api_key"]).post(
        f"{tie_host.url}/api/job/status", json={"jobIds": ["999999", "1"]}
    )
    assert answer.json()["999999"] == "NotFound" and answer.json()["1"] in ("Success", "Failure")


def test_a_run_is_a_job_of_the_host_with_its_audit_entry(tie_host):
    api = cortex(tie_host, "analyst")
    job = api.analyzers.run_by_name("DCSO_TIE_Search", {"data": "8.8.8.8", "dataType": "ip"})
    api.jobs.get_report_async(job.id, "30seconds")
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    native = admin.get(f"{tie_host.url}/api/v1/jobs/{job.id}").json()
    assert native["operation"] == "dcso_tie" and native["created_by"] == "analyst@example.com"
    results = admin.get(f"{tie_host.url}/api/v1/jobs/{job.id}/results").json()["results"]
    assert results[0]["input"] == {"type": "IP Address", "value": "8.8.8.8"}
    audit = admin.get(f"{tie_host.url}/api/v1/audit").json()["audit"]
    assert any(e["action"] == "run" and f"job {job.id}," in e["detail"] for e in audit)
