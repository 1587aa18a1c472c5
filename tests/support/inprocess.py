"""A host's applications driven in process (FastAPI's TestClient), beside a module's own
``client`` fixture: the tests that check every way in without starting `tqops serve`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.server.api import misp
from tqops.server.app import create_app
from tqops.server.host import Host

__all__ = ["finished", "misp_query", "threatq_execute", "unstarted"]


@contextmanager
def unstarted(host: Host) -> Iterator[TestClient]:
    """Another client of the host's application that leaves its life to the module's
    ``client`` fixture (entering a TestClient would stop the host when it exits)."""
    yield TestClient(create_app(host), base_url="http://127.0.0.1")


def finished(host: Host, job: dict) -> dict:
    """The job's view once it has ended."""
    host.jobs.wait(job["id"], 30)
    return host.job(job["id"])


def misp_query(host: Host, body: dict) -> Any:
    """MISP's modules listener answering one query."""
    with TestClient(misp.create_app(host), base_url="http://127.0.0.1") as modules:
        return modules.post("/query", json=body)


def threatq_execute(
    host: Host, plugin_name: str, indicator_id: int, user: str, password: str
) -> dict:
    """ThreatQ's execute of the plugin named ``plugin_name`` on a stored indicator, signed in
    as ``user`` through `/api/token`: the answer's ``data``."""
    with unstarted(host) as threatq:
        token = threatq.post(
            "/api/token?grant_type=password&client_id=tqops-tests",
            json={"email": user, "password": password},
        ).json()["access_token"]
        threatq.headers["Authorization"] = f"Bearer {token}"
        plugins = threatq.get("/api/plugins?with=action&limit=50").json()["data"]
        plugin = next(p for p in plugins if p["name"] == plugin_name)
        answer = threatq.post(
            f"/api/plugins/{plugin['id']}/execute",
            json={"action": "search", "id": str(indicator_id), "type": "Indicator"},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]
