"""What bounds a caller's work (issue 19, finding 4): a job over the inputs limit, and a user
over the open-jobs limit, are refused before anything is stored on every way in that queues a
job (REST, the console's run page, Cortex, ThreatQ, MISP), each in its own error format with
the limit and the setting named, and audited; the settings' bad values are one-line errors.

The host here runs no worker, so the jobs it queues stay queued: what is counted is exactly
what the test queued."""

from __future__ import annotations

import json
import os
import re
import socket
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tests.support.hosting import RunningHost, add_user, free_port, wait_for
from tests.support.vendors import paced, tie_config
from tqops.errors import ConfigError
from tqops.server.api import misp
from tqops.server.app import MAX_BODY, ListenerGuard, create_app
from tqops.server.host import Host
from tqops.server.jobs import FINISHED
from tqops.server.limits import HostLimits
from tqops.server.users import Role, User

PASSWORD = "a password long enough"
ADMIN = User(0, "admin", Role.ADMIN)
LIMITS = HostLimits(job_inputs=5, open_jobs=3)


@pytest.fixture()
def host(tmp_path, tie):
    host = Host(tmp_path / "data", run_jobs=False, limits=LIMITS)
    host.set_config("dcso_tie", tie_config(tie), ADMIN)
    host.set_settings("dcso_tie", {"misp_allowed": True}, ADMIN)
    host.users.add("ana", "analyst", PASSWORD)
    host.users.add("bob", "analyst", PASSWORD)
    host.add_indicators([{"type": "FQDN", "value": f"host{i}.example"} for i in range(8)], ADMIN)
    return host


@pytest.fixture()
def client(host):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as found:
        found.headers["Authorization"] = f"Bearer {host.users.new_key('ana').api_key}"
        yield found


def inputs(count: int, distinct: int) -> list[dict[str, str]]:
    return [{"type": "FQDN", "value": f"v{i % distinct}.example"} for i in range(count)]


def a_job(client, count: int = 1, distinct: int = 1):
    body = {"operation": "dcso_tie", "action": "search", "inputs": inputs(count, distinct)}
    return client.post("/api/v1/jobs", json=body)


def stored_jobs(host: Host) -> int:
    return len(host.store.jobs(0, 1000))


def log_in(client: TestClient, name: str = "ana") -> str:
    """A console session for ``name``; its CSRF token."""
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": name, "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 303
    page = client.get("/console/run").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def console_run(client: TestClient, csrf: str, ids: list[int]):
    form = {"csrf": csrf, "id": [str(i) for i in ids], "action": "dcso_tie/search"}
    form["scope"] = "selected"
    return client.post("/console/run", data=form, follow_redirects=False)


def threatq_token(client: TestClient, name: str) -> str:
    answer = client.post(
        "/api/token?grant_type=password&client_id=tqops-tests",
        json={"email": name, "password": PASSWORD},
    )
    return answer.json()["access_token"]


def test_a_job_over_the_inputs_limit_is_refused_over_rest_before_anything_is_stored(client, host):
    answer = a_job(client, 6, 6)
    assert answer.status_code == 413
    message = answer.json()["error"]
    assert message == (
        "a job takes at most 5 distinct inputs (TQOPS_MAX_JOB_INPUTS); this one has 6: split "
        "it into smaller jobs"
    )
    assert stored_jobs(host) == 0
    assert host.store.scalar("SELECT COUNT(*) FROM job_inputs") == 0
    refused = host.store.audit_log()[0]
    assert (refused["user"], refused["action"]) == ("ana", "refused")
    assert "TQOPS_MAX_JOB_INPUTS" in refused["detail"]
    # distinct inputs are counted: a value repeated is looked up once per job
    assert a_job(client, 40, 5).status_code == 202
    # ids are counted before any is looked up (none of these exists: no 404 first)
    body = {"operation": "dcso_tie", "action": "search", "indicator_ids": list(range(900, 906))}
    assert client.post("/api/v1/jobs", json=body).status_code == 413


def test_a_job_over_the_inputs_limit_is_refused_on_the_console_run_page(client, host):
    client.headers.pop("Authorization")
    csrf = log_in(client)
    ids = [row["id"] for row in host.store.indicators(None, None, 0, 100)[1]]
    answer = console_run(client, csrf, ids[:6])
    assert answer.status_code == 413
    assert "at most 5 distinct inputs (TQOPS_MAX_JOB_INPUTS)" in answer.text
    assert stored_jobs(host) == 0
    assert console_run(client, csrf, ids[:5]).status_code == 303


def test_a_user_over_the_open_jobs_limit_gets_429_with_retry_after_on_rest(client, host):
    for _ in range(3):
        assert a_job(client).status_code == 202
    answer = a_job(client)
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.json()["error"] == (
        "ana has 3 jobs queued or running, the most one user may (TQOPS_MAX_OPEN_JOBS): wait "
        "for one to end, or cancel one"
    )
    assert stored_jobs(host) == 3
    refused = host.store.audit_log()[0]
    assert (refused["user"], refused["action"], refused["target"]) == (
        "ana",
        "refused",
        "dcso_tie.search",
    )
    assert "TQOPS_MAX_OPEN_JOBS" in refused["detail"]
    # the limit is each user's: another analyst still queues
    bob = {"Authorization": f"Bearer {host.users.new_key('bob').api_key}"}
    body = {"operation": "dcso_tie", "action": "search", "inputs": inputs(1, 1)}
    assert client.post("/api/v1/jobs", json=body, headers=bob).status_code == 202
    # an ended job frees its place
    first = host.store.jobs(0, 10)[-1]["id"]
    assert client.post(f"/api/v1/jobs/{first}/cancel").status_code == 200
    assert a_job(client).status_code == 202


def test_the_open_jobs_limit_holds_on_every_protocol_in_its_own_format(client, host):
    for _ in range(3):
        assert a_job(client).status_code == 202
    indicator = host.store.indicators(None, None, 0, 1)[1][0]["id"]
    # Cortex: {"type", "message"}
    analyzers = client.get("/api/analyzer").json()
    analyzer = next(a["id"] for a in analyzers if a["name"] == "DCSO_TIE_Search")
    run = {"dataType": "domain", "data": "a.example"}
    cortex = client.post(f"/api/analyzer/{analyzer}/run", json=run)
    assert cortex.status_code == 429 and cortex.headers["Retry-After"]
    assert cortex.json()["type"] == "RateLimitExceeded"
    assert "TQOPS_MAX_OPEN_JOBS" in cortex.json()["message"]
    # ThreatQ: {"errors": [...]}
    token = threatq_token(client, "ana")
    plugins = client.get(
        "/api/plugins?with=action", headers={"Authorization": f"Bearer {token}"}
    ).json()["data"]
    plugin = next(p for p in plugins if p["name"] == "dcso_tie")
    threatq = client.post(
        f"/api/plugins/{plugin['id']}/execute",
        json={"action": "search", "id": str(indicator), "type": "Indicator"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert threatq.status_code == 429 and threatq.headers["Retry-After"]
    assert "TQOPS_MAX_OPEN_JOBS" in threatq.json()["errors"][0]
    # the console: a page that says it
    client.headers.pop("Authorization")
    csrf = log_in(client)
    page = console_run(client, csrf, [indicator])
    assert page.status_code == 429 and "TQOPS_MAX_OPEN_JOBS" in page.text
    assert stored_jobs(host) == 3


def test_misp_queries_count_as_the_modules_user_and_answer_in_misps_format(host):
    query = {"module": "dcso_tie_search", "attribute": {"type": "domain", "value": "a.example"}}
    for number in range(3):
        host.store.create_job(
            {"operation": "dcso_tie", "action": "search", "options": {}},
            [("FQDN", f"m{number}.example", "GREEN", None)],
            misp.MISP_USER.name,
        )
    with TestClient(misp.create_app(host), base_url="http://127.0.0.1") as modules:
        answer = modules.post("/query", json=query)
    assert answer.status_code == 200  # misp-modules answers its errors with 200
    assert answer.json() == {
        "error": "misp-modules has 3 jobs queued or running, the most one user may "
        "(TQOPS_MAX_OPEN_JOBS): wait for one to end, or cancel one"
    }
    assert stored_jobs(host) == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TQOPS_MAX_JOB_INPUTS", "0"), ("TQOPS_MAX_OPEN_JOBS", "many"), ("TQOPS_IDLE_TIMEOUT", "-1")],
)
def test_a_bad_setting_is_a_one_line_error_naming_it(variable, value):
    with pytest.raises(ConfigError) as refused:
        HostLimits.from_environ({variable: value})
    assert str(refused.value).startswith(f"{variable} is a whole number from")
    assert "\n" not in str(refused.value)


def test_the_defaults_are_safe():
    limits = HostLimits.from_environ({})
    assert limits == HostLimits()
    assert 0 < limits.job_inputs <= 10_000 and 0 < limits.open_jobs <= 20
    assert 0 < limits.header_timeout <= 30 and limits.retention_days == 90


# -- a real `tqops serve`: its worker process, and MISP's modules listener ---------------------

CONCURRENCY = 2
MISP_QUERIES = 4


@pytest.fixture(scope="module")
def served(tmp_path_factory, tie):
    port = free_port()
    data = tmp_path_factory.mktemp("served") / "data"
    users = {role: add_user(data, role, role) for role in ("admin", "analyst")}
    args = ("--misp-modules", f"127.0.0.1:{port}", "--workers", "1")
    args += ("--concurrency", str(CONCURRENCY))
    env = {"TQOPS_MISP_MAX_QUERIES": str(MISP_QUERIES)}
    with RunningHost(data, env=env, args=args) as running:
        admin = running.api(users["admin"]["api_key"])
        operation = f"{running.url}/api/v1/operations/dcso_tie"
        assert admin.put(f"{operation}/config", json={"values": tie_config(tie)}).ok
        assert admin.put(f"{operation}/settings", json={"misp_allowed": True}).ok
        running.admin = admin
        running.analyst = running.api(users["analyst"]["api_key"])
        running.misp_port = port
        yield running


def worker_pid(running) -> int:
    """The worker process `tqops serve` started."""
    pid = running.process.pid
    children = [
        int(child)
        for task in os.listdir(f"/proc/{pid}/task")
        for child in open(f"/proc/{pid}/task/{task}/children").read().split()  # noqa: SIM115
    ]
    (worker,) = children
    return worker


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def all_ended(running, created_by: str):
    jobs = running.admin.get(f"{running.url}/api/v1/jobs?limit=500").json()["jobs"]
    mine = [j for j in jobs if j["created_by"] == created_by]
    return (
        mine if all(j["status"] in FINISHED and j["seconds_left"] is None for j in mine) else None
    )


def test_many_jobs_from_one_analyst_leave_the_worker_threads_bounded(served, tie):
    worker = worker_pid(served)
    answers = []
    with paced(tie, 0.2):
        for number in range(30):
            body = {
                "operation": "dcso_tie",
                "action": "search",
                "inputs": [{"type": "FQDN", "value": f"t{number}-{i}.example"} for i in range(4)],
            }
            answers.append(served.analyst.post(f"{served.url}/api/v1/jobs", json=body))
            answers[-1].close()
        seen = [threads_of(worker)]
        wait_for(lambda: seen.append(threads_of(worker)) or all_ended(served, "analyst"), 120)
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 20 and codes.count(429) == 10  # TQOPS_MAX_OPEN_JOBS's default
    assert all(int(a.headers["Retry-After"]) > 0 for a in answers if a.status_code == 429)
    # one slice at a time per worker: its calls' threads, the slice's heartbeat, the main
    # thread and the one that watches the host's pipe, with room to spare; never one per job
    assert max(seen) <= CONCURRENCY + 6 < codes.count(202), seen


def misp_query(value: str) -> bytes:
    body = json.dumps(
        {"module": "dcso_tie_search", "attribute": {"type": "domain", "value": value}}
    )
    head = "POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


def asked_misp(running, value: str) -> dict:
    with socket.create_connection(("127.0.0.1", running.misp_port), timeout=60) as sock:
        sock.sendall(misp_query(value).replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def test_misp_queries_in_flight_are_bounded_and_a_query_over_it_gets_an_error_answer(served):
    holders = []
    try:
        for _ in range(MISP_QUERIES):  # each holds its place while its body is on the way
            sock = socket.create_connection(("127.0.0.1", served.misp_port), timeout=60)
            sock.sendall(misp_query("held.example")[:-5])
            holders.append(sock)
        busy = (
            f"{MISP_QUERIES} queries are in flight, the most this host answers at once "
            "(TQOPS_MISP_MAX_QUERIES): try again shortly"
        )
        wait_for(lambda: asked_misp(served, "over.example").get("error") == busy)
    finally:
        for sock in holders:
            sock.close()
    # the places are given back when their callers go
    wait_for(lambda: "results" in asked_misp(served, "after.example"))


def test_a_misp_query_whose_caller_hangs_up_is_cancelled_and_its_calls_stop(served, tie):
    values = [f"gone{i}.example" for i in range(MISP_QUERIES)]
    tie.clear_requests()
    callers = []
    with paced(tie, 3):
        for value in values:
            sock = socket.create_connection(("127.0.0.1", served.misp_port), timeout=60)
            sock.sendall(misp_query(value))
            callers.append(sock)

        def queued():
            jobs = served.admin.get(f"{served.url}/api/v1/jobs?limit=100").json()["jobs"]
            return len([j for j in jobs if j["created_by"] == "misp-modules" and j["total"] == 1
                        and j["status"] in ("queued", "running")]) >= len(values)  # fmt: skip

        wait_for(queued)
        for sock in callers:  # every caller hangs up, its answer unread
            sock.close()
        wait_for(lambda: all_ended(served, "misp-modules"), 60)
    jobs = all_ended(served, "misp-modules")
    gone = [j for j in jobs if j["status"] == "cancelled"]
    asked = [r.query["value"][0] for r in tie.requests if "value" in r.query]
    assert set(asked) <= set(values)
    assert len(asked) < len(values)  # those not sent when their caller went were never sent
    assert len(gone) >= len(values) - len(asked)
    audit = served.admin.get(f"{served.url}/api/v1/audit?limit=50").json()["audit"]
    hung_up = [e for e in audit if e["user"] == "misp-modules" and e["action"] == "cancel"]
    assert len(hung_up) >= len(values) - len(asked)
    assert all("its caller hung up" in e["detail"] for e in hung_up)


# -- refusals before a route runs, in its protocol's format ----------------------------------


def test_a_body_over_the_limit_is_refused_in_the_protocols_own_format(client):
    big = b"x" * (MAX_BODY + 1)
    kind = {"Content-Type": "application/json"}
    cortex = client.post("/api/analyzer/DCSO_TIE_Search/run", content=big, headers=kind)
    assert cortex.status_code == 413
    assert cortex.json() == {
        "type": "BadRequest",
        "message": "the request body is over the 5 MB limit",
    }
    threatq = client.post("/api/plugins/1/execute", content=big, headers=kind)
    assert threatq.status_code == 413
    assert threatq.json() == {"errors": ["the request body is over the 5 MB limit"]}
    native = client.post("/api/v1/jobs", content=big, headers=kind)
    assert native.status_code == 413
    assert native.json() == {"error": "the request body is over the 5 MB limit"}


def test_a_host_refusal_is_in_the_protocols_own_format(host):
    guarded = ListenerGuard(create_app(host), ("127.0.0.1",), tls=False)
    with TestClient(guarded, base_url="http://evil.example") as rebound:
        cortex = rebound.get("/api/analyzer")
        threatq = rebound.get("/api/plugins")
        native = rebound.get("/api/v1/jobs")
    message = "the Host 'evil.example' is not one this host answers to (--allowed-hosts)"
    assert cortex.status_code == threatq.status_code == native.status_code == 400
    assert cortex.json() == {"type": "BadRequest", "message": message}
    assert threatq.json() == {"errors": [message]}
    assert native.json() == {"error": message}


def test_a_resume_counts_against_the_owners_open_jobs(client, host):
    first = a_job(client).json()["id"]
    assert client.post(f"/api/v1/jobs/{first}/cancel").status_code == 200
    for _ in range(3):
        assert a_job(client).status_code == 202
    # three open: resuming the cancelled one would make four
    answer = client.post(f"/api/v1/jobs/{first}/resume")
    assert answer.status_code == 429 and answer.headers["Retry-After"]
    assert "TQOPS_MAX_OPEN_JOBS" in answer.json()["error"]
    assert host.job(first)["status"] == "cancelled"
    bob = {"Authorization": f"Bearer {host.users.new_key('bob').api_key}"}
    refused = client.post(f"/api/v1/jobs/{first}/resume", headers=bob)  # another analyst's
    assert refused.status_code == 429 and "ana has 3 jobs" in refused.json()["error"]
    latest = host.store.jobs(0, 1)[0]["id"]
    assert client.post(f"/api/v1/jobs/{latest}/cancel").status_code == 200
    assert client.post(f"/api/v1/jobs/{first}/resume").json()["status"] == "queued"
