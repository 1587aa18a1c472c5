"""Deleting a job (REST and the console's job page) and the retention period: who may delete
(the owner or an admin, stricter than cancel and resume), a queued job cancelled first, its
inputs, results and Cortex record gone and the indicators its results added kept, each
deletion audited; ended jobs past the retention purged on SQLite and PostgreSQL, and by a real
`tqops serve` at its start."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tests.support.hosting import RunningHost, add_user, wait_for
from tests.support.vendors import paced, tie_config
from tqops.server.app import create_app
from tqops.server.host import Host
from tqops.server.limits import HostLimits
from tqops.server.users import Role, User

PASSWORD = "a password long enough"
ADMIN = User(0, "root", Role.ADMIN)
RUN = {"operation": "dcso_tie", "action": "search", "options": {}}
ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))


def a_job(host: Host, user: str, status: str = "done", finished_at: str = "") -> int:
    """A job of ``user`` with two inputs, one answered (its result found an indicator that was
    added to the store), ``status`` and, when it ended, ``finished_at``."""
    job_id = host.store.create_job(
        RUN, [("FQDN", "a.example", "GREEN", None), ("FQDN", "b.example", "GREEN", None)], user
    )
    result = {"input": {"type": "FQDN", "value": "a.example"}, "status": "ok", "indicators": []}
    host.store.save_results(job_id, [0], "ok", json.dumps(result))
    host.store.save_cortex_request(job_id, {"dataType": "domain"})
    (added,) = host.add_indicators([{"type": "FQDN", "value": f"found-{job_id}.example"}], ADMIN)
    host.store.add_attributes(added["id"], [("seen", "yes", None)], "DCSO TIE", job_id=job_id)
    if status != "queued":
        host.store.set_job(job_id, status=status, finished_at=finished_at or "2026-01-01T00:00:00Z")
    return job_id


def rows_of(host: Host, job_id: int) -> dict[str, int]:
    count = host.store.scalar
    return {
        table: int(count(f"SELECT COUNT(*) FROM {table} WHERE job_id = ?", (job_id,)))
        for table in ("job_inputs", "results", "cortex_jobs", "indicator_attributes")
    } | {"jobs": int(count("SELECT COUNT(*) FROM jobs WHERE id = ?", (job_id,)))}


GONE = {"job_inputs": 0, "results": 0, "cortex_jobs": 0, "indicator_attributes": 0, "jobs": 0}


@pytest.fixture()
def host(tmp_path):
    host = Host(tmp_path / "data", run_jobs=False)
    for name, role in (("ana", "analyst"), ("bob", "analyst"), ("vic", "viewer"), ("adm", "admin")):
        host.users.add(name, role, PASSWORD)
    return host


@pytest.fixture()
def client(host):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as found:
        found.keys = {
            name: host.users.new_key(name).api_key for name in ("ana", "bob", "vic", "adm")
        }
        yield found


def delete(client, job_id: int, who: str):
    return client.delete(
        f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {client.keys[who]}"}
    )


def test_the_owner_deletes_a_job_with_its_inputs_results_and_records_but_not_its_indicators(
    client, host
):
    job_id = a_job(host, "ana")
    stored = host.store.scalar("SELECT COUNT(*) FROM indicators")
    answer = delete(client, job_id, "ana")
    assert answer.status_code == 204 and not answer.content
    assert rows_of(host, job_id) == GONE
    # the indicators and attributes its results added are the platform's: they stay
    assert host.store.scalar("SELECT COUNT(*) FROM indicators") == stored
    assert host.store.scalar("SELECT COUNT(*) FROM indicator_attributes") == 1
    entry = host.store.audit_log()[0]
    assert (entry["user"], entry["action"], entry["target"]) == ("ana", "delete", f"job {job_id}")
    answer = client.get(
        f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {client.keys['ana']}"}
    )
    assert answer.status_code == 404
    assert delete(client, job_id, "ana").status_code == 404


def test_only_the_owner_or_an_admin_may_delete(client, host):
    job_id = a_job(host, "ana")
    other = delete(client, job_id, "bob")
    assert other.status_code == 403
    assert other.json() == {"error": f"job {job_id} is ana's: only they or an admin may delete it"}
    assert delete(client, job_id, "vic").status_code == 403  # a viewer deletes nothing
    assert rows_of(host, job_id)["jobs"] == 1
    assert delete(client, job_id, "adm").status_code == 204
    assert rows_of(host, job_id) == GONE


def test_a_queued_job_is_cancelled_then_deleted(client, host):
    job_id = a_job(host, "ana", status="queued")
    assert delete(client, job_id, "ana").status_code == 204
    assert rows_of(host, job_id) == GONE
    assert "cancelled while open" in host.store.audit_log()[0]["detail"]


def test_a_result_arriving_for_a_deleted_job_is_not_kept(host):
    job_id = a_job(host, "ana", status="queued")
    host.jobs.delete(job_id, User(0, "ana", Role.ANALYST))
    assert host.store.save_results(job_id, [1], "ok", "{}") == 0  # a worker's late answer
    assert rows_of(host, job_id) == GONE


def console(client, host, name: str) -> str:
    """A console session for ``name`` (no API key); its CSRF token."""
    client.headers.pop("Authorization", None)
    client.cookies.clear()
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": name, "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 303
    page = client.get("/console/jobs").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_the_console_job_page_deletes_for_its_owner_after_a_confirm_and_checks_csrf(client, host):
    job_id = a_job(host, "ana")
    console(client, host, "bob")
    assert "Delete the job" not in client.get(f"/console/jobs/{job_id}").text
    csrf = console(client, host, "ana")
    page = client.get(f"/console/jobs/{job_id}").text
    form = re.search(rf'<form[^>]*action="/console/jobs/{job_id}/delete"[^>]*>', page)
    assert form and "data-confirm=" in form.group(0) and "Delete the job" in page
    where = f"/console/jobs/{job_id}/delete"
    forged = client.post(where, data={"csrf": "not-the-token"}, follow_redirects=False)
    assert forged.status_code == 403 and rows_of(host, job_id)["jobs"] == 1
    done = client.post(where, data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console/jobs"
    assert rows_of(host, job_id) == GONE


@pytest.mark.parametrize("engine", ENGINES)
def test_ended_jobs_past_the_retention_are_purged_and_open_or_recent_ones_kept(
    engine, tmp_path, request
):
    database = None
    if engine == "postgresql":
        cluster = request.getfixturevalue("postgres")
        database = cluster.with_password(cluster.create_database())
    limits = HostLimits(retention_days=30)
    host = Host(tmp_path / "data", run_jobs=False, database=database, limits=limits)
    try:
        old = a_job(host, "ana", status="done", finished_at="2020-01-01T00:00:00Z")
        old_failed = a_job(host, "ana", status="failed", finished_at="2020-01-02T00:00:00Z")
        recent = a_job(host, "ana", status="done", finished_at=_days_ago(2))
        open_old = a_job(host, "ana", status="queued")
        indicators = host.store.scalar("SELECT COUNT(*) FROM indicators")
        assert host.jobs.purge() == 2
        assert rows_of(host, old) == rows_of(host, old_failed) == GONE
        assert rows_of(host, recent)["jobs"] == rows_of(host, open_old)["jobs"] == 1
        assert host.store.scalar("SELECT COUNT(*) FROM indicators") == indicators
        entry = host.store.audit_log()[0]
        assert entry["action"] == "purge" and "TQOPS_RETENTION_DAYS" in entry["detail"]
        assert host.jobs.purge(0) == 0  # 0 days: kept for ever
        assert host.jobs.purge(1) == 1  # the recent one, two days old
    finally:
        host.store.close()


def _days_ago(days: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86_400))


def test_tqops_serve_purges_expired_jobs_itself(tmp_path: Path):
    data = tmp_path / "data"
    admin = add_user(data, "admin", "admin")
    host = Host(data, run_jobs=False)
    old = a_job(host, "admin", finished_at="2020-01-01T00:00:00Z")
    kept = a_job(host, "admin", finished_at=_days_ago(1))
    host.store.close()
    with RunningHost(data, args=("--workers", "0", "--retention-days", "30")) as running:
        api = running.api(admin["api_key"])
        wait_for(lambda: api.get(f"{running.url}/api/v1/jobs/{old}").status_code == 404)
        assert api.get(f"{running.url}/api/v1/jobs/{kept}").status_code == 200


@pytest.mark.slow
def test_a_running_job_is_cancelled_its_calls_stop_and_it_is_deleted(tmp_path, tie):
    data = tmp_path / "data"
    users = {role: add_user(data, role, role) for role in ("admin", "analyst")}
    args = ("--workers", "1", "--concurrency", "1")
    with RunningHost(data, args=args) as running:
        admin, analyst = (running.api(users[r]["api_key"]) for r in ("admin", "analyst"))
        config = f"{running.url}/api/v1/operations/dcso_tie/config"
        assert admin.put(config, json={"values": tie_config(tie)}).ok
        values = [f"doomed{i}.example" for i in range(4)]
        tie.clear_requests()
        with paced(tie, 2):
            body = {
                "operation": "dcso_tie",
                "action": "search",
                "inputs": [{"type": "FQDN", "value": v} for v in values],
            }
            job = analyst.post(f"{running.url}/api/v1/jobs", json=body).json()
            wait_for(lambda: tie.requests or analyst_sees_running(analyst, running, job["id"]))
            assert analyst.delete(f"{running.url}/api/v1/jobs/{job['id']}").status_code == 204
            asked = [r.query["value"][0] for r in tie.requests if "value" in r.query]
        assert analyst.get(f"{running.url}/api/v1/jobs/{job['id']}").status_code == 404
        assert len(asked) < len(values)  # the calls not sent when it was deleted never were
        audit = admin.get(f"{running.url}/api/v1/audit").json()["audit"]
        entry = next(e for e in audit if e["action"] == "delete")
        assert entry["user"] == "analyst" and "cancelled while open" in entry["detail"]


def analyst_sees_running(api, running, job_id: int) -> bool:
    return api.get(f"{running.url}/api/v1/jobs/{job_id}").json()["status"] == "running"
