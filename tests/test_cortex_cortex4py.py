"""cortex4py (the real client, >= 2.1) against `tqops serve` over TLS: job listing and search
with each query operator its ``query.py`` builds, reports, deletion, the current user and
organization, analyzer definitions and responders."""

from __future__ import annotations

import time

import pytest
from cortex4py.api import Api
from cortex4py.exceptions import AuthorizationError, InvalidInputError, NotFoundError
from cortex4py.query import And, Between, Contains, Eq, Gt, In, Lt, Not, Or, String

from tests.support.hosting import wait_for

pytestmark = pytest.mark.slow


def cortex(host, role):
    return Api(host.url, host.users[role]["api_key"], verify_cert=host.ca)


@pytest.fixture(scope="module")
def jobs(tie_host):
    """Three finished jobs of the analyst: a domain with a label, an ip, an email address."""
    api = cortex(tie_host, "analyst")
    started = int(time.time() * 1000) - 1000
    runs = (
        {"data": "www.microsoft.com", "dataType": "domain", "message": "m1", "tlp": 1},
        {"data": "8.8.8.8", "dataType": "ip", "message": "m2"},
        {"data": "someone@example.com", "dataType": "mail", "tlp": 3},
    )
    made = []
    for observable in runs:
        job = api.analyzers.run_by_name("DCSO_TIE_Search", observable, force=1)
        made.append(api.jobs.get_report_async(job.id, "30seconds"))
    return {"api": api, "domain": made[0], "ip": made[1], "mail": made[2], "since": started}


def _ids(found):
    return {job.id for job in found}


def test_jobs_are_listed_newest_first_and_searched_with_each_operator(jobs):
    api, domain, ip, mail = jobs["api"], jobs["domain"], jobs["ip"], jobs["mail"]
    everything = api.jobs.find_all({}, range="all")
    mine = [j.id for j in everything if j.id in {domain.id, ip.id, mail.id}]
    assert mine == [mail.id, ip.id, domain.id]  # Cortex's default sort: -createdAt
    assert [j.id for j in api.jobs.find_all({}, range="0-2")] == [j.id for j in everything[:2]]
    ours = In("_id", [domain.id, ip.id, mail.id])
    cases = {
        "eq": (Eq("dataType", "domain"), {domain.id}),
        "and": (And(Eq("status", "Success"), Eq("dataType", "ip")), {ip.id}),
        "or": (Or(Eq("dataType", "ip"), Eq("dataType", "mail")), {ip.id, mail.id}),
        "not": (Not(Eq("dataType", "ip")), {domain.id, mail.id}),
        "in": (In("data", ["8.8.8.8", "someone@example.com"]), {ip.id, mail.id}),
        "between": (Between("tlp", 0, 2), {domain.id}),  # both ends excluded, as Cortex
        "gt": (Gt("tlp", 2), {mail.id}),
        "lt": (Lt("createdAt", jobs["since"]), set()),
        "contains": (Contains("message"), {domain.id, ip.id, mail.id}),  # "" is a value
        "absent": (Contains("label"), set()),
        "string": (String("dataType:mail OR data:8.8.8.8"), {ip.id, mail.id}),
        "like": ({"_like": {"_field": "data", "_value": "MICROSOFT"}}, {domain.id}),
        "nested": (Eq("parameters.nothing", "x"), set()),
    }
    for name, (query, expected) in cases.items():
        assert _ids(api.jobs.find_all(And(ours, query), range="all")) == expected, name
    oldest = api.jobs.find_one_by(And(ours, Eq("status", "Success")), sort="+id")
    assert oldest.id == domain.id
    assert [j.dataType for j in api.jobs.find_all(ours, range="all", sort="+dataType")] == [
        "domain",
        "ip",
        "mail",
    ]


def test_get_job_list_takes_cortexs_filters(jobs, tie_host):
    session = tie_host.api(tie_host.users["viewer"]["api_key"])
    listed = session.get(
        f"{tie_host.url}/api/job", params={"dataTypeFilter": "ip", "range": "all"}
    ).json()
    assert jobs["ip"].id in {j["id"] for j in listed}
    assert {j["dataType"] for j in listed} == {"ip"}
    by_analyzer = session.get(
        f"{tie_host.url}/api/job", params={"analyzerFilter": "DCSO_TIE_Search"}
    ).json()
    assert jobs["domain"].id in {j["id"] for j in by_analyzer}


def test_a_bad_query_is_a_400_in_cortexs_words(jobs, tie_host):
    with pytest.raises(InvalidInputError):
        jobs["api"].jobs.find_all(String("status:("))
    session = tie_host.api(tie_host.users["viewer"]["api_key"])
    answer = session.post(f"{tie_host.url}/api/job/_search", json={"query": {"_between": 3}})
    assert answer.status_code == 400 and answer.json()["type"] == "BadRequest"
    assert answer.json()["message"].startswith("_between takes an object with _field")


def test_the_report_and_the_echoed_request(jobs):
    api, domain = jobs["api"], jobs["domain"]
    report = api.jobs.get_report(domain.id)
    assert report.status == "Success" and report.report["success"] is True
    assert (report.dataType, report.message, report.tlp, report.pap) == ("domain", "m1", 1, 2)
    assert report.report["summary"]["taxonomies"][0]["predicate"] == "Verdict"
    assert api.jobs.get_by_id(domain.id).data == "www.microsoft.com"


def test_a_deleted_job_leaves_the_listings_and_answers_deleted(jobs, tie_host):
    api = cortex(tie_host, "analyst")
    job = api.analyzers.run_by_name("DCSO_TIE_Search", {"data": "1.1.1.1", "dataType": "ip"})
    api.jobs.get_report_async(job.id, "30seconds")
    with pytest.raises(AuthorizationError):  # a viewer reads, and deletes nothing
        cortex(tie_host, "viewer").jobs.delete(job.id)
    assert api.jobs.delete(job.id) is True
    assert job.id not in _ids(api.jobs.find_all({}, range="all"))
    assert api.jobs.get_by_id(job.id).status == "Deleted"
    assert api.jobs.get_report(job.id).report == "Deleted"
    with pytest.raises(NotFoundError):
        api.jobs.delete("999999")
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    kept = admin.get(f"{tie_host.url}/api/v1/jobs/{job.id}")  # the host keeps the job
    assert kept.status_code == 200 and kept.json()["status"] == "done"
    audit = admin.get(f"{tie_host.url}/api/v1/audit").json()["audit"]
    assert any(e["action"] == "delete" and e["target"] == f"job {job.id}" for e in audit)


def test_users_and_the_organization_as_each_role_may_read_them(tie_host):
    viewer, admin = cortex(tie_host, "viewer"), cortex(tie_host, "admin")
    assert [u.id for u in viewer.users.find_all({})] == ["viewer@example.com"]
    assert viewer.users.get_by_id("viewer@example.com").roles == ["read"]
    with pytest.raises(NotFoundError):  # another user is an admin's to read
        viewer.users.get_by_id("admin@example.com")
    everyone = {u.id: u.roles for u in admin.users.find_all({}, range="all")}
    assert everyone["analyst@example.com"] == ["read", "analyze"]
    assert everyone["admin@example.com"] == ["read", "analyze", "orgadmin"]
    assert [o.id for o in viewer.organizations.find_all({})] == ["tqops"]
    assert viewer.organizations.get_by_id("tqops").status == "Active"
    assert viewer.organizations.count({}) == 1
    assert {u.id for u in admin.organizations.get_users("tqops", {})} == set(everyone)
    with pytest.raises(NotFoundError):
        viewer.organizations.get_by_id("cortex")
    for user in admin.users.find_all({}):
        assert not {"key", "password", "api_key"} & set(user.json())


def test_analyzer_definitions_and_no_responders(tie_host):
    api = cortex(tie_host, "viewer")
    definitions = {d.name: d for d in api.analyzers.definitions()}
    tie = definitions["DCSO_TIE_Search"]
    assert "domain" in tie.dataTypeList and tie.id == api.analyzers.get_by_name(tie.name).id
    items = {i["name"]: i for i in tie.configurationItems}
    assert items["verify_ssl"]["type"] == "boolean" and items["hostname"]["type"] == "string"
    assert "defaultValue" not in items["access_token"]  # nothing of a secret field's value
    assert api.responders.find_all({}) == []
    assert api.responders.get_by_type("thehive:case") == []
    assert api.responders.definitions() == []


def test_deleting_a_running_job_cancels_it(tie_host, tie):
    api = cortex(tie_host, "analyst")
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    latency, tie.latency = tie.latency, 5.0  # the vendor answers slowly: the job runs a while
    try:
        job = api.analyzers.run_by_name("DCSO_TIE_Search", {"data": "2.2.2.2", "dataType": "ip"})
        url = f"{tie_host.url}/api/v1/jobs/{job.id}"
        wait_for(lambda: admin.get(url).json()["status"] == "running")
        assert api.jobs.delete(job.id) is True
        ended = wait_for(lambda: (j := admin.get(url).json())["status"] != "running" and j)
    finally:
        tie.latency = latency
    assert ended["status"] == "cancelled" and api.jobs.get_by_id(job.id).status == "Deleted"
    audit = admin.get(f"{tie_host.url}/api/v1/audit").json()["audit"]
    entry = next(e for e in audit if e["action"] == "delete" and e["target"] == f"job {job.id}")
    assert entry["detail"].endswith("cancelled while open")
