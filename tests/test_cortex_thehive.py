"""Cortex's API as TheHive 4 drives it, with the exact requests its Cortex connector sends
(TheHive-Project/TheHive ``cortex/client/.../CortexClient.scala``, ``cortex/dto/v0/Artifact.scala``
``InputArtifact`` writes, ``SearchQuery`` writes) against `tqops serve` over TLS, and every
answer read as TheHive's ``OutputJob``, ``OutputReport`` and ``OutputWorker`` reads do."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.protocols import run_result, searched

pytestmark = pytest.mark.slow

#: what TheHive 4.1 posts to /api/analyzer/{id}/run for a case's domain observable: the case's
#: TLP and PAP, the observable's type, the case number as message, and who asks as parameters
THEHIVE_RUN = {
    "tlp": 2,
    "pap": 2,
    "dataType": "domain",
    "message": "42",
    "data": "www.microsoft.com",
    "parameters": {"organisation": "SOC", "user": "analyst@thehive.local"},
}
#: TheHive's job statuses (``JobStatus`` of ``cortex/dto/v0/Job.scala``)
STATUSES = {"InProgress", "Success", "Failure", "Waiting", "Deleted"}


def thehive(host, role="analyst"):
    session = host.api(host.users[role]["api_key"])
    session.base = f"{host.url}/api"
    return session


def read_as_output_job(job: dict[str, Any]) -> dict[str, Any]:
    """``OutputJob.reads``: the fields it validates, each of its type; the report through
    ``OutputReport.reads`` when there is one."""
    assert isinstance(job["id"], str) and isinstance(job["workerId"], str)
    assert isinstance(job["workerName"], str) and isinstance(job["workerDefinitionId"], str)
    assert isinstance(job["date"], int)  # a Date from epoch milliseconds
    assert all(isinstance(job[k], int) for k in ("startDate", "endDate") if job.get(k))
    assert job["status"] in STATUSES
    assert isinstance(job["organization"], str) and isinstance(job["dataType"], str)
    assert job["type"] in ("analyzer", "responder")
    assert job.get("data") is None or isinstance(job["data"], str)
    report = job.get("report")
    if isinstance(report, dict):
        for taxonomy in report.get("summary", {}).get("taxonomies", []):
            assert {"level", "namespace", "predicate", "value"} <= set(taxonomy)
        assert report.get("full") is None or isinstance(report["full"], dict)
        assert isinstance(report.get("success"), bool)
        for artifact in report.get("artifacts", []):
            assert isinstance(artifact["dataType"], str) and isinstance(artifact["tlp"], int)
            assert isinstance(artifact["tags"], list) and isinstance(artifact["data"], str)
    return job


def test_a_thehive_4_run_succeeds_and_its_report_is_one_thehive_parses(tie_host, tie):
    hive = thehive(tie_host)
    tie.clear_requests()
    # getAnalyzerByName: SearchQuery("name", name, "0-1") as TheHive writes it
    found = hive.post(
        f"{hive.base}/analyzer/_search",
        json={"query": {"_field": "name", "_value": "DCSO_TIE_Search"}, "range": "0-1"},
    ).json()
    assert [a["name"] for a in found] == ["DCSO_TIE_Search"]
    analyzer = found[0]
    assert {"id", "name", "version", "description", "dataTypeList", "maxTlp", "maxPap"} <= set(
        analyzer
    )
    answer = hive.post(f"{hive.base}/analyzer/{analyzer['id']}/run", json=THEHIVE_RUN)
    assert answer.status_code in (200, 201), answer.text
    job = read_as_output_job(answer.json())
    # what TheHive keeps of the job (``attributes``): echoed as sent, the data type too
    assert job["dataType"] == "domain" and job["message"] == "42"
    assert (job["tlp"], job["pap"]) == (2, 2)
    assert job["parameters"] == THEHIVE_RUN["parameters"]
    # the CortexActor's poll: a Scala Duration, "1 minute", in the query
    done = hive.get(f"{hive.base}/job/{job['id']}/waitreport", params={"atMost": "1 minute"})
    report = read_as_output_job(done.json())["report"]
    assert done.json()["status"] == "Success" and report["success"] is True
    expected = run_result(tie, "FQDN", "www.microsoft.com")
    assert report["full"] == expected and report["full"]["indicators"]
    verdict = report["summary"]["taxonomies"][0]
    assert (verdict["predicate"], verdict["value"]) == ("Verdict", expected["verdict"]["level"])
    assert {a["data"] for a in report["artifacts"]} == {i["value"] for i in expected["indicators"]}
    assert "www.microsoft.com" in searched(tie)
    # the job as the host has it: the action's options only, none of TheHive's parameters
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    native = admin.get(f"{tie_host.url}/api/v1/jobs/{job['id']}").json()
    assert native["options"] == {} and native["created_by"] == "analyst@example.com"


def test_thehive_checks_the_connection_with_the_status_and_the_current_user(tie_host):
    hive = thehive(tie_host, "viewer")
    assert isinstance(hive.get(f"{hive.base}/status").json()["versions"]["Cortex"], str)
    user = hive.get(f"{hive.base}/user/current").json()
    assert user["id"] == "viewer@example.com" and user["roles"] == ["read"]
    assert user["organization"] == "tqops" and user["status"] == "Ok"
    assert not {"key", "password", "api_key"} & set(user)  # never a credential
    wrong = tie_host.api("tqk_" + "x" * 43).get(f"{hive.base}/user/current")
    assert wrong.status_code == 401 and wrong.json()["type"] == "AuthenticationError"


def test_thehive_lists_no_responder_by_each_of_its_routes(tie_host):
    hive = thehive(tie_host)
    by_type = {"query": {"_field": "dataTypeList", "_value": "thehive:case"}, "range": "all"}
    for answer in (
        hive.post(f"{hive.base}/responder/_search", json=by_type),
        hive.post(f"{hive.base}/responder/_search?range=all", json={"query": {}}),
        hive.get(f"{hive.base}/responder"),
        hive.get(f"{hive.base}/responder/type/thehive:case"),
    ):
        assert answer.status_code == 200 and answer.json() == []
    missing = hive.get(f"{hive.base}/responder/Mailer_1_0")
    assert missing.status_code == 404 and missing.json()["type"] == "NotFoundError"


def test_unknown_parameters_are_kept_and_declared_options_still_checked(tie_host, tie):
    hive = thehive(tie_host)
    run = f"{hive.base}/analyzer/DCSO_TIE_Search/run"
    tie.clear_requests()
    bad = dict(THEHIVE_RUN, parameters={"organisation": "SOC", "confidence": "500"})
    refused = hive.post(run, json=bad)
    assert refused.status_code == 400 and "confidence" in refused.json()["message"]
    assert refused.json()["type"] == "BadRequest" and searched(tie) == []
    body = dict(THEHIVE_RUN, data="8.8.8.8", dataType="ip", message="", label="case 7")
    body["parameters"] = {"organisation": "SOC", "severity": "2", "note": {"nested": [1]}}
    job = hive.post(run, json=body).json()
    assert job["parameters"] == body["parameters"] and job["label"] == "case 7"
    assert job["message"] == "" and job["dataType"] == "ip"
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    native = admin.get(f"{tie_host.url}/api/v1/jobs/{job['id']}").json()
    assert native["options"] == {"severity": "2"}  # only the declared option reaches the run
    hive.get(f"{hive.base}/job/{job['id']}/waitreport", params={"atMost": "30 seconds"})
    for wrong, message in (
        ({"pap": 7}, "pap is a number from 0 to 3, not '7'"),
        ({"pap": "\u00b2"}, "pap is a number from 0 to 3"),  # a digit, and no number
        ({"message": 5}, "message is text, not int"),
        ({"parameters": ["organisation"]}, "parameters is a JSON object"),
    ):
        answer = hive.post(run, json=dict(body, **wrong))
        assert answer.status_code == 400 and answer.json()["message"].startswith(message)


def test_a_red_observable_of_thehive_5_is_skipped_and_its_numbers_echoed(tie_host, tie):
    hive = thehive(tie_host)
    tie.clear_requests()
    body = dict(THEHIVE_RUN, data="red.example", tlp=4, pap=3, label="TheHive 5")
    job = hive.post(f"{hive.base}/analyzer/DCSO_TIE_Search/run", json=body).json()
    done = read_as_output_job(
        hive.get(f"{hive.base}/job/{job['id']}/waitreport", params={"atMost": "30 seconds"}).json()
    )
    assert (done["tlp"], done["pap"], done["label"]) == (4, 3, "TheHive 5")
    assert done["report"]["summary"]["taxonomies"][1]["value"] == "skipped"
    assert "red.example" not in searched(tie)
