"""Every way in that queues a job refuses an operation that cannot run, as the console's Run
page does: 409 and one line that names what an admin must do first (what the configuration
lacks, in the fields' labels, or that it is disabled), no job queued and nothing sent to the
vendor. The native REST API, Cortex's analyzer run, ThreatQ's plugin execute, and a MISP
query with the stored configuration (MISP's protocol: its one-line ``error`` with 200, as
misp-modules answers every error); a configured, enabled operation still runs."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from simulators import TieSimulator
from tests.support.inprocess import misp_query
from tests.support.vendors import tie_config
from tqops.server.app import create_app
from tqops.server.host import Host

PASSWORD = "a password long enough"
UNCONFIGURED = re.compile(r"^DCSO TIE is not configured \((.+)\): an admin can configure it$")
DISABLED = "DCSO TIE is disabled: an admin can enable it"
JOB = {
    "operation": "dcso_tie",
    "action": "search",
    "inputs": [{"type": "FQDN", "value": "refused.example"}],
}


@pytest.fixture()
def host(tmp_path) -> Iterator[Host]:
    found = Host(tmp_path / "data")
    try:
        admin = found.users.add("admin", "admin", PASSWORD)
        found.users.add("ana", "analyst", PASSWORD)
        found.admin = found.users.by_key(admin.api_key)  # type: ignore[attr-defined]
        added = found.add_indicators([{"type": "FQDN", "value": "refused.example"}], found.admin)  # type: ignore[attr-defined]
        found.indicator_id = added[0]["id"]  # type: ignore[attr-defined]
        yield found
    finally:
        found.stop()


@pytest.fixture()
def client(host: Host) -> Iterator[TestClient]:
    key = host.users.new_key("ana").api_key
    with TestClient(create_app(host), base_url="http://127.0.0.1") as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client


def jobs(host: Host) -> int:
    return len(host.store.jobs(0, 1000))


def configure(host: Host, sim: TieSimulator) -> None:
    host.set_config("dcso_tie", tie_config(sim), host.admin)  # type: ignore[attr-defined]


def disable(host: Host) -> None:
    host.set_settings("dcso_tie", {"enabled": False}, host.admin)  # type: ignore[attr-defined]


def refused(answer: Any) -> str:
    """The one line of a 409, whatever shape the protocol gives its errors."""
    assert answer.status_code == 409, answer.text
    body = answer.json()
    said = str(body.get("error") or body.get("message") or body.get("errors", [""])[0])
    assert "\n" not in said
    return said


def test_rest_refuses_an_unconfigured_operation_then_runs_it_once_configured(
    host: Host, client: TestClient, sim: TieSimulator
) -> None:
    said = refused(client.post("/api/v1/jobs", json=JOB))
    lacks = UNCONFIGURED.match(said)
    assert lacks and "Access Token" in lacks.group(1), said  # the fields' labels
    assert "access_token" not in said
    assert jobs(host) == 0
    configure(host, sim)
    queued = client.post("/api/v1/jobs", json=JOB)
    assert queued.status_code == 202, queued.text


def test_rest_refuses_a_disabled_operation(
    host: Host, client: TestClient, sim: TieSimulator
) -> None:
    configure(host, sim)
    disable(host)
    assert refused(client.post("/api/v1/jobs", json=JOB)) == DISABLED
    by_id = {**JOB, "inputs": None, "indicator_ids": [host.indicator_id]}  # type: ignore[attr-defined]
    assert refused(client.post("/api/v1/jobs", json=by_id)) == DISABLED
    assert jobs(host) == 0 and sim.requests == []


def test_rest_still_names_an_operation_that_is_not_installed(client: TestClient) -> None:
    answer = client.post("/api/v1/jobs", json={**JOB, "operation": "no_such_op"})
    assert answer.status_code == 400 and "no_such_op" in answer.json()["error"]


def test_cortex_refuses_a_run_of_an_unconfigured_analyzer(host: Host, client: TestClient) -> None:
    answer = client.post(
        "/api/analyzer/DCSO_TIE_Search/run", json={"dataType": "domain", "data": "x.example"}
    )
    assert UNCONFIGURED.match(refused(answer))
    assert jobs(host) == 0


def test_threatq_refuses_an_execute_of_an_unconfigured_or_disabled_plugin(
    host: Host, sim: TieSimulator
) -> None:
    with TestClient(create_app(host), base_url="http://127.0.0.1") as threatq:
        token = threatq.post(
            "/api/token?grant_type=password&client_id=tqops-tests",
            json={"email": "ana", "password": PASSWORD},
        ).json()["access_token"]
        threatq.headers["Authorization"] = f"Bearer {token}"
        body = {"action": "search", "id": str(host.indicator_id), "type": "Indicator"}  # type: ignore[attr-defined]
        assert UNCONFIGURED.match(refused(threatq.post("/api/plugins/dcso_tie/execute", json=body)))
        configure(host, sim)
        disable(host)
        answer = threatq.post("/api/plugins/dcso_tie/execute", json=body)
        assert refused(answer) == DISABLED
    assert jobs(host) == 0 and sim.requests == []


def test_misp_refuses_a_query_with_a_stored_configuration_that_is_incomplete(
    host: Host,
) -> None:
    host.set_settings("dcso_tie", {"misp_allowed": True}, host.admin)  # type: ignore[attr-defined]
    attribute = {
        "type": "domain",
        "value": "x.example",
        "uuid": "5e6f7a8b-0000-4000-8000-0a0b0c0d0e0f",
    }
    answer = misp_query(host, {"module": "dcso_tie_search", "attribute": attribute})
    assert answer.status_code == 200  # misp-modules answers its errors with 200
    assert UNCONFIGURED.match(answer.json()["error"]), answer.text
    assert set(answer.json()) == {"error"}
    assert jobs(host) == 0
