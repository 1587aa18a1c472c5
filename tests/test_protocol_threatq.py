"""ThreatQ's plugin API for real: the token, list and execute calls as threatqsdk, Kibana's
ThreatQ connector and XSOAR's integration make them, against `tqops serve` over TLS."""

from __future__ import annotations

import pytest

from tests.support.protocols import (
    run_result,
    searched,
)
from tqops.model import Indicator, Source

pytestmark = pytest.mark.slow


def login(host, role):
    """threatqsdk's form: grant and client id in the query, the credentials as JSON."""
    user = host.users[role]
    answer = host.api().post(
        f"{host.url}/api/token?grant_type=password&client_id=tqops-tests",
        json={"email": user["name"], "password": user["password"]},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def session(host, token):
    client = host.api()
    client.headers["Authorization"] = f"Bearer {token['access_token']}"
    return client


def test_every_grant_answers_a_token_pair(tie_host):
    analyst = tie_host.users["analyst"]
    tokens = [login(tie_host, "analyst")]
    kibana = tie_host.api().post(  # Kibana's connector: everything in a JSON body
        f"{tie_host.url}/api/token",
        json={
            "email": analyst["name"],
            "password": analyst["password"],
            "client_id": "kibana",
            "grant_type": "password",
        },
    )
    xsoar = tie_host.api().post(  # XSOAR's integration: the same, form-encoded
        f"{tie_host.url}/api/token",
        data={"grant_type": "password", "email": analyst["name"], "password": analyst["password"]},
    )
    client = tie_host.api().post(  # client credentials: HTTP Basic name and API key
        f"{tie_host.url}/api/token",
        data={"grant_type": "client_credentials"},
        auth=(analyst["name"], analyst["api_key"]),
    )
    for answer in (kibana, xsoar, client):
        assert answer.status_code == 200, answer.text
        tokens.append(answer.json())
    for token in tokens:
        assert set(token) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
        assert session(tie_host, token).get(f"{tie_host.url}/api/plugins").status_code == 200
    refreshed = tie_host.api().post(
        f"{tie_host.url}/api/token",
        json={"grant_type": "refresh_token", "refresh_token": tokens[0]["refresh_token"]},
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] not in str(tokens)
    again = tie_host.api().post(  # a refresh token is used once
        f"{tie_host.url}/api/token",
        json={"grant_type": "refresh_token", "refresh_token": tokens[0]["refresh_token"]},
    )
    assert again.status_code == 401 and again.json() == {
        "errors": ["the credentials were not accepted"]
    }
    database = (tie_host.data / "tqops.db").read_bytes()
    assert not any(t["access_token"].encode() in database for t in tokens)


def test_wrong_credentials_and_tokens_are_refused_and_the_vendor_sees_nothing(tie_host, tie):
    tie.clear_requests()
    analyst = tie_host.users["analyst"]
    bad = tie_host.api().post(
        f"{tie_host.url}/api/token?grant_type=password&client_id=x",
        json={"email": analyst["name"], "password": "not-the-password"},
    )
    assert bad.status_code == 401 and "errors" in bad.json()
    swapped = tie_host.api().post(  # another user's key is not this client's secret
        f"{tie_host.url}/api/token",
        data={"grant_type": "client_credentials"},
        auth=(analyst["name"], tie_host.users["viewer"]["api_key"]),
    )
    assert swapped.status_code == 401
    forged = session(tie_host, {"access_token": "tqa_" + "x" * 43})
    answer = forged.post(
        f"{tie_host.url}/api/plugins/dcso_tie/execute",
        json={"action": "search", "id": 1, "type": "Indicator"},
    )
    assert answer.status_code == 401 and answer.json()["errors"][0].startswith("an access token")
    key_as_token = session(tie_host, {"access_token": analyst["api_key"]})  # keys are not tokens
    assert key_as_token.get(f"{tie_host.url}/api/plugins").status_code == 401
    viewer = session(tie_host, login(tie_host, "viewer"))
    refused = viewer.post(
        f"{tie_host.url}/api/plugins/dcso_tie/execute",
        json={"action": "search", "id": 1, "type": "Indicator"},
    )
    assert refused.status_code == 403 and "analyst" in refused.json()["errors"][0]
    assert searched(tie) == []


def test_list_consume_and_execute_return_the_enrichment(tie_host, tie):
    client = session(tie_host, login(tie_host, "analyst"))
    listed = client.get(
        f"{tie_host.url}/api/plugins?with=action.objectType&limit=10&offset=0"
    ).json()
    assert listed["total"] >= 2
    plugin = next(p for p in listed["data"] if p["name"] == "dcso_tie")
    (action,) = plugin["action"]
    assert action["name"] == "search" and plugin["enabled"] is True
    assert action["object_type"] == [{"object_type_id": 1, "object_type": "Indicator"}]
    detail = client.get(f"{tie_host.url}/api/plugins/{plugin['id']}?with=action,objectType").json()
    assert detail["data"]["id"] == plugin["id"] and detail["data"]["action"][0]["name"] == "search"

    payload = Indicator("www.microsoft.com", "FQDN", sources=[Source("tests", "GREEN")])
    consumed = client.post(f"{tie_host.url}/api/indicators/consume", json=[payload.to_threatq()])
    assert consumed.status_code == 200, consumed.text
    indicator_id = consumed.json()["data"][0]["id"]
    stored = client.get(f"{tie_host.url}/api/indicators/{indicator_id}").json()["data"]
    assert stored["value"] == "www.microsoft.com" and stored["type"]["name"] == "FQDN"
    assert stored["tlp"] == {"name": "GREEN"}

    tie.clear_requests()
    executed = client.post(
        f"{tie_host.url}/api/plugins/{plugin['id']}/execute",
        json={"action": "search", "id": str(indicator_id), "type": "Indicator"},
    )
    assert executed.status_code == 200, executed.text
    found = executed.json()["data"]["data"]
    expected = run_result(tie, "FQDN", "www.microsoft.com")
    assert [i["value"] for i in found] == [i["value"] for i in expected["indicators"]]
    first, mapped = found[0], expected["indicators"][0]
    assert first["type"] == {"name": "FQDN"} and first["sources"] == [{"name": "DCSO TIE"}]
    assert [(a["name"], a["value"]) for a in first["attributes"]] == [
        (a["name"], a["value"]) for a in mapped["attributes"]
    ]
    assert searched(tie).count("www.microsoft.com") == 2  # the host's job, then `tqops run`
    assert executed.json()["data"]["verdict"] == expected["verdict"]  # look-alikes: unknown
    assert {(i["status"]["name"], i["score"]) for i in found} == {("Review", None)}


def test_execute_gives_an_exact_hit_its_verdicts_status_and_score(tie_host, tie):
    hit = "mail1.evil-cdn.com"  # the simulator's data: severity 5/6 at confidence 96
    client = session(tie_host, login(tie_host, "analyst"))
    payload = Indicator(hit, "FQDN", sources=[Source("tests", "GREEN")])
    consumed = client.post(f"{tie_host.url}/api/indicators/consume", json=[payload.to_threatq()])
    indicator_id = consumed.json()["data"][0]["id"]
    executed = client.post(
        f"{tie_host.url}/api/plugins/dcso_tie/execute",
        json={"action": "search", "id": indicator_id, "type": "Indicator"},
    )
    assert executed.status_code == 200, executed.text
    data = executed.json()["data"]
    expected = run_result(tie, "FQDN", hit)
    assert data["verdict"] == expected["verdict"] and data["verdict"]["level"] == "malicious"
    by_match = {m["value"]: m["match"] for m in expected["indicators"]}
    assert by_match[hit] == "exact"
    for found in data["data"]:
        if by_match[found["value"]] == "exact":
            score = int(expected["verdict"]["score"] / 10 + 0.5)
            assert (found["status"], found["score"]) == ({"name": "Active"}, score)
        else:  # a related match does not take the input's verdict
            assert (found["status"], found["score"]) == ({"name": "Review"}, None)


def test_indicator_types_and_a_missing_indicator(tie_host):
    client = session(tie_host, login(tie_host, "viewer"))
    types = client.get(f"{tie_host.url}/api/indicator/types").json()
    assert {"FQDN", "IP Address", "SHA-256"} <= {t["name"] for t in types["data"]}
    missing = client.get(f"{tie_host.url}/api/indicators/999999")
    assert missing.status_code == 404 and missing.json() == {
        "errors": ["no indicator with id 999999"]
    }
    analyst = session(tie_host, login(tie_host, "analyst"))
    wrong = analyst.post(
        f"{tie_host.url}/api/plugins/dcso_tie/execute",
        json={"action": "search", "id": 999999, "type": "Indicator"},
    )
    assert wrong.status_code == 404 and wrong.json()["errors"]


def test_threatqsdk_and_xsoar_requests_find_the_judged_record(tie_host, tie):
    """Over TLS, as the clients send them: threatqsdk's type look-up by name and upload, then
    XSOAR's reputation command (every body ``json.dumps``-ed, no Content-Type)."""
    import json

    import requests

    sdk = session(tie_host, login(tie_host, "analyst"))
    types = sdk.get(f"{tie_host.url}/api/indicator/types", params={"name": "FQDN"}).json()
    assert [t["name"] for t in types["data"]] == ["FQDN"]  # get_indicator_type_by_name: data[0]
    hit = "mail1.evil-cdn.com"
    uploaded = sdk.post(
        f"{tie_host.url}/api/indicators/consume/new",
        data=json.dumps([{"type": "FQDN", "status": "Review", "value": hit, "normalize": "Y"}]),
        headers={"content-type": "application/json"},
    ).json()["data"]
    indicator_id = uploaded[0]["id"]
    executed = sdk.post(
        f"{tie_host.url}/api/plugins/dcso_tie/execute",
        json={"action": "search", "id": indicator_id, "type": "Indicator"},
    )
    assert executed.status_code == 200, executed.text
    score = executed.json()["data"]["verdict"]["score"]

    token = sdk.headers["Authorization"]
    api = f"{tie_host.url}/api"

    def tq_request(method, suffix, params=None):  # XSOAR's request, as it sends it
        answer = requests.request(
            method, api + suffix, data=json.dumps(params), headers={"Authorization": token},
            verify=str(tie_host.ca),
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()

    listed = tq_request(
        "POST", "/indicators/query?limit=500&offset=0&sort=id", {"criteria": {"value": hit}}
    )
    assert [row["id"] for row in listed["data"]] == [indicator_id]
    data = tq_request("GET", f"/indicators/{indicator_id}?with=attributes,sources,score,type")
    record = data["data"]
    assert record["score"] == int(score / 10 + 0.5)
    assert tq_request("GET", f"/indicator/statuses/{record['status_id']}")["data"]["name"] == (
        "Active"
    )
    assert tq_request("GET", f"/indicator/types/{record['type_id']}")["data"]["name"] == "FQDN"
