"""What bounds a caller's work (issue 19, finding 4): a job over the inputs limit, and a user
over the open-jobs limit, are refused before anything is stored on every way in that queues a
job (REST, the console's run page, Cortex, ThreatQ, MISP), each in its own error format with
the limit and the setting named, and audited; the settings' bad values are one-line errors.

The host here runs no worker, so the jobs it queues stay queued: what is counted is exactly
what the test queued."""

from __future__ import annotations

import re
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tests.support.vendors import tie_config
from tqops.errors import ConfigError
from tqops.server.api import misp
from tqops.server.app import create_app
from tqops.server.host import Host
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
