"""The native REST API's contract, read from its OpenAPI document: every operation has a tag, a
response model, the error body and the bearer security scheme (but the public ones, listed
here); and the one error-to-status mapping, which the REST API, each protocol (in its own body
shape) and the console share."""

from __future__ import annotations

import json
import warnings

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.config.values import MASK
from tqops.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    InputError,
    ManifestError,
    OperationError,
    PathSyntaxError,
    TransportError,
)
from tqops.server.api import cortex, misp, threatq
from tqops.server.api.models import ConfigView
from tqops.server.app import create_app
from tqops.server.errors import Problem, answer_of, status_of
from tqops.server.host import Host
from tqops.server.integrations.wheel import IntegrationError
from tqops.server.web.route import error_status

#: operations that need no credential. None in the native API: its users log in with an API
#: key; ThreatQ's token endpoint (/api/token) and the console's login page are not in this
#: document, and the document itself (/api/v1/openapi.json) is served to anyone.
PUBLIC: frozenset[tuple[str, str]] = frozenset()
#: operations whose success has no JSON body: a deletion (204) and a server-sent event stream
NO_CONTENT = {("DELETE", "/api/v1/indicators/{indicator_id}"), ("DELETE", "/api/v1/jobs/{job_id}")}
STREAMS = {("GET", "/api/v1/jobs/{job_id}/events")}
#: operations whose success is a file in a format another standard defines: a job's export, a
#: STIX 2.1 bundle (OASIS) or a MISP event (MISP's JSON), not a view of the host's
DOWNLOADS = {("GET", "/api/v1/jobs/{job_id}/export")}
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("openapi"))
    roles = ("viewer", "analyst", "admin")
    made = {role: host.users.add(f"{role}-user", role) for role in roles}
    with TestClient(create_app(host)) as test_client:
        test_client.users = made
        yield test_client


@pytest.fixture(scope="module")
def document(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(document):
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_document_is_openapi_3_and_every_reference_resolves(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs, "the document references no schema"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, f"{ref} is not among the document's schemas"


def test_the_document_validates(document):
    from openapi_spec_validator import validate

    validate(document)


def test_the_bearer_security_scheme_is_declared(document):
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["bearerKey"]
    assert schemes["bearerKey"]["type"] == "http"
    assert schemes["bearerKey"]["scheme"] == "bearer"
    assert "tqops users add" in schemes["bearerKey"]["description"]


def test_every_operation_but_the_public_ones_requires_the_bearer_key(document):
    unprotected = set()
    for method, path, operation in _operations(document):
        if operation.get("security") != [{"bearerKey": []}]:
            unprotected.add((method, path))
    assert unprotected == PUBLIC


def test_every_operation_is_tagged_with_its_concern(document):
    tags = {}
    for method, path, operation in _operations(document):
        assert path.startswith("/api/v1/"), path
        assert len(operation.get("tags", [])) == 1, f"{method} {path} has no single tag"
        tags.setdefault(operation["tags"][0], set()).add(path.split("/")[3])
    assert set(tags) == {"operations", "integrations", "indicators", "jobs", "users"}
    assert tags["jobs"] == {"jobs"} and tags["operations"] == {"operations"}


def test_every_operation_declares_its_answer_and_its_error_body(document):
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        answers = operation["responses"]
        success = [code for code in answers if code.startswith("2")]
        assert len(success) == 1, where
        content = answers[success[0]].get("content", {})
        if (method, path) in NO_CONTENT:
            assert success == ["204"] and not content, where
        elif (method, path) in STREAMS:
            assert content["text/event-stream"]["schema"] == {"type": "string"}, where
        elif (method, path) in DOWNLOADS:
            assert set(content) == {
                "application/stix+json;version=2.1",
                "application/json",
                "text/csv",
            }
        else:  # a model of the document's, never an open "object"
            schema = content["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), where
        for errors in ("4XX", "5XX"):
            body = answers[errors]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}, where
        assert "422" not in answers, f"{where} declares FastAPI's validation body, not ours"
    error_body = document["components"]["schemas"]["ErrorBody"]
    assert error_body["required"] == ["error"] and error_body["additionalProperties"] is False


def test_response_models_name_every_key_they_take(document):
    """A model forbids keys it does not name (a view that grows one fails the tests instead
    of losing it); only the manifest's field views are open, as the manifest is."""
    schemas = document["components"]["schemas"]
    answered = {
        ref
        for _, _, operation in _operations(document)
        for code, answer in operation["responses"].items()
        if code.startswith("2")
        for ref in _refs(answer)
    }
    seen: set[str] = set()
    while answered - seen:  # every model an answer holds, however deep
        ref = (answered - seen).pop()
        seen.add(ref)
        answered |= set(_refs(schemas[ref.rsplit("/", 1)[1]]))
    names = {ref.rsplit("/", 1)[1] for ref in seen}
    assert {"OperationList", "JobView", "ResultView", "ConfigView"} <= names
    open_models = {n for n in names if schemas[n].get("additionalProperties") is not False}
    assert open_models == {"FieldView"}


def _same(answer, view):
    """The answer is the host's ``view`` as FastAPI renders a plain dict: byte for byte, keys
    in the view's order."""
    assert answer.status_code < 300, answer.text
    assert answer.content == json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode()


def test_the_answers_are_the_host_views_unchanged(client):
    """The response models shape nothing: each body is the host's own view, byte for byte."""
    host = client.app.state.host
    admin, analyst = (_bearer(client.users[r].api_key) for r in ("admin", "analyst"))
    _same(client.get("/api/v1/operations", headers=admin), {"operations": host.operations()})
    for name in host.registry.operations:
        _same(client.get(f"/api/v1/operations/{name}", headers=admin), host.operation_view(name))
        config = client.get(f"/api/v1/operations/{name}/config", headers=admin)
        _same(config, host.masked_config(name))
    given = {
        "indicators": [
            {"type": "IP Address", "value": "192.0.2.7"},
            {"type": "Nothing", "value": "x"},
        ]
    }
    added = client.post("/api/v1/indicators", json=given, headers=analyst)
    assert added.status_code == 201, added.text
    good, bad = added.json()["indicators"]
    assert list(good) == ["index", "id", "type", "value", "created"] and good["created"] is True
    assert list(bad) == ["index", "error"] and bad["index"] == 1
    _same(
        client.get(f"/api/v1/indicators/{good['id']}", headers=analyst),
        host.indicator_view(good["id"]),
    )
    name = "dcso_tie"
    action = host.operation_view(name)["actions"][0]["name"]
    # a job needs an operation that can run (else 409); its input is above the highest TLP
    # the operation is sent: skipped, the job ends at once, sending nothing
    values = {"hostname": "127.0.0.1:9", "access_token": "openapi-token-of-nothing"}
    where = f"/api/v1/operations/{name}"
    assert client.put(f"{where}/config", json={"values": values}, headers=admin).is_success
    assert client.put(f"{where}/settings", json={"max_tlp": "CLEAR"}, headers=admin).is_success
    job = {"operation": name, "action": action, "indicator_ids": [good["id"]]}
    queued = client.post("/api/v1/jobs", json=job, headers=analyst)
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["id"]
    host.jobs.wait(job_id, 30.0)
    _same(client.get(f"/api/v1/jobs/{job_id}", headers=analyst), host.job(job_id))
    # (results with indicators found: test_server.py compares them with `tqops run`'s)
    _, rows = host.store.results(job_id, None, 0, 100)
    page = {"operation": name, "action": action, "total": len(rows), "offset": 0, "limit": 100}
    page["results"] = [json.loads(row["result"]) for row in rows]
    _same(client.get(f"/api/v1/jobs/{job_id}/results", headers=analyst), page)
    _same(
        client.get("/api/v1/audit?limit=1000", headers=admin),
        {"audit": host.store.audit_log(0, 1000)},
    )
    _same(client.get("/api/v1/me", headers=admin), {"name": "admin-user", "role": "admin"})


# -- the one error-to-status mapping ----------------------------------------------------------

STATUS_CASES = [
    (ConfigError("a value is wrong"), 400),
    (ManifestError("the manifest is broken", ("a @ $.x", "b @ $.y")), 400),
    (PathSyntaxError("unexpected ']'", "a.b]", 3), 400),
    (InputError("not an IP address"), 400),
    (IntegrationError("not a wheel"), 400),
    (IntegrationError("an older version: force it", 409), 409),
    (IntegrationError("over the upload limit", 413), 413),
    (IntegrationError("the disk is full", 507), 507),
    (LookupError("no job 7"), 404),
    (Problem(403, "a viewer may not do this"), 403),
    (Problem(401, "an API key is needed", {"WWW-Authenticate": "Bearer"}), 401),
    (HTTPException(405, "Method Not Allowed"), 405),
    # the vendor's answers are a bad gateway, whatever status the vendor gave: its 401 or
    # 404 is not the caller's (the console answered the vendor's own status before)
    (ApiError("HTTP 500 @ /api/v1/iocs", status=500), 502),
    (ApiError("HTTP 404 @ /api/v1/iocs", status=404), 502),
    (AuthenticationError("the key was refused", status=401), 502),
    (AuthenticationError("the key was refused", status=403), 502),
    (TransportError("timed out", cause="timeout"), 502),
    (OperationError("something of the operation's"), 502),
    # a bug: whatever builtin it is
    (ValueError("not ours"), 500),
    (RuntimeError("not ours"), 500),
]


@pytest.mark.parametrize(
    ("error", "status"), STATUS_CASES, ids=[f"{type(e).__name__}-{s}" for e, s in STATUS_CASES]
)
def test_each_error_answers_its_status_everywhere(error, status):
    assert status_of(error) == status
    assert answer_of(error).status == status
    assert answer_of(error, invalid_status=400).status == status  # the protocols'
    assert error_status(error) == status  # the console's


def test_a_bug_answers_its_kind_only_and_every_message_is_one_line():
    assert answer_of(ValueError("tq-secret inside")).message == "internal error (a bug): ValueError"
    folded = answer_of(ConfigError("two\nlines   and  spaces"))
    assert folded.message == "two lines and spaces"
    refused = answer_of(Problem(401, "no key", {"WWW-Authenticate": "Bearer"}))
    assert refused.headers == {"WWW-Authenticate": "Bearer"}


def test_a_request_that_does_not_fit_answers_422_here_and_400_to_the_protocols():
    error = RequestValidationError(
        [{"type": "missing", "loc": ("body", "operation"), "msg": "Field required"}]
    )
    assert answer_of(error).status == 422
    assert answer_of(error, invalid_status=400).status == 400
    assert answer_of(error).message == "Field required @ operation"


# -- each protocol keeps its own error body ---------------------------------------------------


def _exact(answer, status, body):
    """The answer is ``body`` as the protocol's JSON renders it, byte for byte."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    rendered = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    assert answer.content == rendered.encode()


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_the_native_api_answers_error(client):
    answer = client.get("/api/v1/jobs/999999", headers=_bearer(client.users["viewer"].api_key))
    _exact(answer, 404, {"error": "no job 999999"})
    refused = client.get("/api/v1/audit", headers=_bearer(client.users["viewer"].api_key))
    _exact(refused, 403, {"error": "a viewer may not do this; it needs the admin role"})


def test_threatq_answers_errors_as_a_list(client):
    analyst = client.users["analyst"]
    token = client.post(
        "/api/token",
        data={"grant_type": "client_credentials"},
        auth=(analyst.name, analyst.api_key),
    ).json()["access_token"]
    plugins = client.get("/api/plugins?with=action", headers=_bearer(token)).json()["data"]
    plugin = plugins[0]
    body = {"action": plugin["action"][0]["name"], "id": 999999, "type": "Indicator"}
    answer = client.post(f"/api/plugins/{plugin['id']}/execute", json=body, headers=_bearer(token))
    _exact(answer, 404, {"errors": ["no indicator with id 999999"]})


def test_cortex_answers_errors_with_their_type(client):
    key = client.users["analyst"].api_key
    (analyzer, *_) = client.get("/api/analyzer", headers=_bearer(key)).json()
    observable = {"dataType": analyzer["dataTypeList"][0], "data": "x", "tlp": "red"}
    answer = client.post(
        f"/api/analyzer/{analyzer['id']}/run", json=observable, headers=_bearer(key)
    )
    message = "tlp is a number from 0 to 4, not 'red'"  # an InputError of the host's
    _exact(answer, 400, {"type": "BadRequest", "message": message})
    missing = client.get("/api/job/999999", headers=_bearer(key))
    _exact(missing, 404, {"type": "NotFoundError", "message": "Job 999999 not found"})


def test_misp_modules_answer_errors_with_200(client):
    host = client.app.state.host
    with TestClient(misp.create_app(host)) as modules:
        answer = modules.post("/query", json={"module": "nope"})
    _exact(answer, 200, {"error": "no enabled module named 'nope'"})


def test_protocol_routers_are_tagged_and_left_out_of_the_document(document):
    for router, tag in (
        (threatq.router, "threatq"),
        (cortex.router, "cortex"),
        (misp.router, "misp"),
    ):
        for route in router.routes:
            assert route.tags == [tag] and route.include_in_schema is False, route.path


# -- no model carries a secret ----------------------------------------------------------------


def test_the_configuration_view_masks_a_secret_that_came_in_clear():
    view = ConfigView.model_validate(
        {
            "values": {"api_key": "tq-clear-secret", "token": "env:TIE_TOKEN", "host": "h"},
            "secrets_set": {"api_key": True, "token": True},
        }
    )
    assert view.values == {"api_key": MASK, "token": "env:TIE_TOKEN", "host": "h"}
    assert "tq-clear-secret" not in view.model_dump_json()
