"""Every route with every role and with none: who may do what, read from the OpenAPI document,
so a new route without an entry here fails."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.server.app import create_app
from tqops.server.host import Host

#: (method, path) -> the least role that may call it
ROUTES = {
    ("GET", "/api/v1/operations"): "viewer",
    ("GET", "/api/v1/operations/{name}"): "viewer",
    ("GET", "/api/v1/operations/{name}/config"): "admin",
    ("PUT", "/api/v1/operations/{name}/config"): "admin",
    ("PUT", "/api/v1/operations/{name}/settings"): "admin",
    ("POST", "/api/v1/operations/{name}/test-connection"): "admin",
    ("POST", "/api/v1/integrations"): "admin",
    ("DELETE", "/api/v1/integrations/{name}"): "admin",
    ("POST", "/api/v1/indicators"): "analyst",
    ("GET", "/api/v1/indicators"): "viewer",
    ("GET", "/api/v1/indicators/{indicator_id}"): "viewer",
    ("DELETE", "/api/v1/indicators/{indicator_id}"): "analyst",
    ("POST", "/api/v1/jobs"): "analyst",
    ("GET", "/api/v1/jobs"): "viewer",
    ("GET", "/api/v1/jobs/{job_id}"): "viewer",
    ("GET", "/api/v1/jobs/{job_id}/results"): "viewer",
    ("GET", "/api/v1/jobs/{job_id}/events"): "viewer",
    ("GET", "/api/v1/jobs/{job_id}/export"): "viewer",
    ("POST", "/api/v1/jobs/{job_id}/cancel"): "analyst",
    ("DELETE", "/api/v1/jobs/{job_id}"): "analyst",
    ("POST", "/api/v1/jobs/{job_id}/resume"): "analyst",
    ("POST", "/api/v1/jobs/{job_id}/import"): "analyst",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/me"): "viewer",
}
RANKS = {"viewer": 0, "analyst": 1, "admin": 2}
SAMPLE = {"name": "tego", "indicator_id": "1", "job_id": "1"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("access"))
    keys = {role: host.users.add(f"{role}-user", role).api_key for role in RANKS}
    with TestClient(create_app(host)) as test_client:
        test_client.keys = keys
        yield test_client


def test_every_route_is_listed_here(client):
    document = client.get("/api/v1/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert served == set(ROUTES)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
@pytest.mark.parametrize("role", [None, "viewer", "analyst", "admin"])
def test_each_route_checks_who_is_asking(client, method, path, role):
    url = path.format(**SAMPLE)
    headers = {"Authorization": f"Bearer {client.keys[role]}"} if role else {}
    answer = client.request(method, url, headers=headers, json={})
    if role is None:
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    elif RANKS[role] < RANKS[ROUTES[method, path]]:
        assert answer.status_code == 403, answer.text
    else:
        assert answer.status_code not in (401, 403), answer.text
    assert answer.headers["content-type"].startswith(("application/json", "text/event-stream"))
