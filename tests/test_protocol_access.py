"""Every route of the ThreatQ and Cortex protocols with every role and with none, each refused
in its protocol's own format; the routes are read from the application, so a new one without an
entry here fails. MISP's modules take no credential by design: their routes are listed too, and
live on their own listener only."""

from __future__ import annotations

import hashlib
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.server.api import cortex, misp, threatq, threatq_indicators
from tqops.server.app import create_app
from tqops.server.host import Host

#: (method, path) -> the least role that may call it (None: the token endpoint itself)
THREATQ = {
    ("POST", "/api/token"): None,
    ("GET", "/api/plugins"): "viewer",
    ("GET", "/api/plugins/{plugin_id}"): "viewer",
    ("POST", "/api/plugins/{plugin_id}/execute"): "analyst",
    ("GET", "/api/indicator/types"): "viewer",
    ("GET", "/api/indicator/types/{type_id}"): "viewer",
    ("GET", "/api/indicator/statuses"): "viewer",
    ("GET", "/api/indicator/statuses/{status_id}"): "viewer",
    ("GET", "/api/indicators"): "viewer",
    ("GET", "/api/indicators/{indicator_id}"): "viewer",
    ("GET", "/api/search"): "viewer",
    ("POST", "/api/search/advanced"): "viewer",
    ("POST", "/api/indicators/query"): "viewer",
    ("GET", "/api/indicators/query/hash/{collection}"): "viewer",
    ("POST", "/api/indicators/consume"): "analyst",
    ("POST", "/api/indicators/consume/new"): "analyst",
}
CORTEX = {
    ("GET", "/api/status"): "viewer",
    ("GET", "/api/analyzer"): "viewer",
    ("POST", "/api/analyzer/_search"): "viewer",
    ("GET", "/api/analyzer/type/{data_type}"): "viewer",
    ("GET", "/api/analyzer/{analyzer_id}"): "viewer",
    ("POST", "/api/analyzer/{analyzer_id}/run"): "analyst",
    ("GET", "/api/job/{job_id}"): "viewer",
    ("GET", "/api/job/{job_id}/report"): "viewer",
    ("GET", "/api/job/{job_id}/waitreport"): "viewer",
    ("GET", "/api/job/{job_id}/artifacts"): "viewer",
    ("POST", "/api/job/status"): "viewer",
    ("GET", "/api/job"): "viewer",
    ("POST", "/api/job/_search"): "viewer",
    ("DELETE", "/api/job/{job_id}"): "analyst",
    ("GET", "/api/user/current"): "viewer",
    ("GET", "/api/user"): "viewer",
    ("POST", "/api/user/_search"): "viewer",
    ("GET", "/api/user/{user_id}"): "viewer",
    ("GET", "/api/organization"): "viewer",
    ("POST", "/api/organization/_search"): "viewer",
    ("POST", "/api/organization/_stats"): "viewer",
    ("GET", "/api/organization/{organization_id}"): "viewer",
    ("GET", "/api/organization/user"): "viewer",
    ("POST", "/api/organization/user/_search"): "viewer",
    ("GET", "/api/organization/{organization_id}/user"): "viewer",
    ("POST", "/api/organization/{organization_id}/user/_search"): "viewer",
    ("GET", "/api/responder"): "viewer",
    ("POST", "/api/responder/_search"): "viewer",
    ("GET", "/api/responder/type/{data_type}"): "viewer",
    ("GET", "/api/responder/{responder_id}"): "viewer",
    ("POST", "/api/responder/{responder_id}/run"): "analyst",
    ("GET", "/api/responderdefinition"): "viewer",
    ("GET", "/api/analyzerdefinition"): "viewer",
}
MISP = {("GET", "/modules"), ("POST", "/query"), ("GET", "/healthcheck"), ("GET", "/version")}
RANKS = {"viewer": 0, "analyst": 1, "admin": 2}
SAMPLE = {"plugin_id": "dcso_tie", "indicator_id": "1", "analyzer_id": "DCSO_TIE_Search"}
SAMPLE.update({"data_type": "ip", "job_id": "1", "type_id": "1", "status_id": "1"})
SAMPLE.update({"collection": "all"})
SAMPLE.update({"data_type": "ip", "job_id": "1", "user_id": "viewer-user"})
SAMPLE.update({"organization_id": "tqops", "responder_id": "Mailer_1_0"})


def _routes(router):
    return {(method, route.path) for route in router.routes for method in route.methods}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("protocols"))
    made = {role: host.users.add(f"{role}-user", role) for role in RANKS}
    tokens = {}
    for role, user in made.items():  # what POST /api/token stores: the SHA-256 of a token
        tokens[role] = f"tqa_{role}-token-for-the-access-walk"
        user_id = host.store.user(user.name)["id"]
        digest = hashlib.sha256(tokens[role].encode()).hexdigest()
        host.store.add_session("tq_access", digest, user_id, time.time() + 600)
    with TestClient(create_app(host)) as test_client:
        test_client.keys = {role: user.api_key for role, user in made.items()}
        test_client.tokens = tokens
        yield test_client


def test_every_protocol_route_is_listed_here_and_none_is_in_the_openapi_document(client):
    assert _routes(threatq.router) | _routes(threatq_indicators.router) == set(THREATQ)
    assert _routes(cortex.router) == set(CORTEX)
    assert _routes(misp.router) == MISP
    document = client.get("/api/v1/openapi.json").json()
    assert not [p for p in document["paths"] if not p.startswith("/api/v1/")]
    for method, path in sorted(MISP):  # MISP's routes are on their own listener only
        assert client.request(method, path).status_code in (404, 405)


@pytest.mark.parametrize(("method", "path"), sorted(THREATQ))
@pytest.mark.parametrize("role", [None, "viewer", "analyst", "admin"])
def test_each_threatq_route_checks_who_is_asking(client, method, path, role):
    needed = THREATQ[method, path]
    headers = {"Authorization": f"Bearer {client.tokens[role]}"} if role else {}
    answer = client.request(method, path.format(**SAMPLE), headers=headers, json={})
    if needed is None:  # the token endpoint refuses a request without credentials
        assert answer.status_code == 400 and answer.json()["errors"]
    elif role is None:
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["errors"][0].startswith("an access token is needed")
    elif RANKS[role] < RANKS[needed]:
        assert answer.status_code == 403 and list(answer.json()) == ["errors"], answer.text
    else:
        assert answer.status_code not in (401, 403), answer.text
    api_key = {"Authorization": f"Bearer {client.keys['admin']}"}  # keys are not tokens
    if needed is not None:
        assert client.request(method, path.format(**SAMPLE), headers=api_key).status_code == 401


@pytest.mark.parametrize(("method", "path"), sorted(CORTEX))
@pytest.mark.parametrize("role", [None, "viewer", "analyst", "admin"])
def test_each_cortex_route_checks_who_is_asking(client, method, path, role):
    headers = {"Authorization": f"Bearer {client.keys[role]}"} if role else {}
    answer = client.request(method, path.format(**SAMPLE), headers=headers, json={})
    if role is None:
        assert answer.status_code == 401
        assert answer.json()["type"] == "AuthenticationError"
    elif RANKS[role] < RANKS[CORTEX[method, path]]:
        assert answer.status_code == 403 and answer.json()["type"] == "AuthorizationError"
    else:
        assert answer.status_code not in (401, 403), answer.text
        assert answer.headers["content-type"].startswith("application/json")
