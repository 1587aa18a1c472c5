"""ThreatQ's indicator API as its clients call it, in process: threatqsdk's type and status
look-ups and its upload (`consume/new`), the exact requests of XSOAR's ThreatQ v2 reputation
commands (`POST /api/indicators/query`, then the record, its status and its type by id, bodies
without a Content-Type), and Elastic's data-collection feed paged by `cursorMark`; a job's
verdict gives the stored indicator its status and score. Malformed input is a 400 or 422 with
a one-line error."""

from __future__ import annotations

import json
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tests.support.inprocess import threatq_execute
from tests.support.vendors import tie_config
from tqops.server.api.threatq_indicators import FEED_SETTLE_SECONDS
from tqops.server.app import create_app
from tqops.server.host import Host

PASSWORD = "a password long enough"
#: the TIE simulator's data: a malicious hit (severity 5/6 at confidence 96)
HIT = "mail1.evil-cdn.com"


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie):
    found = Host(tmp_path_factory.mktemp("threatq-indicators"))
    admin = found.users.add("admin", "admin", PASSWORD)
    found.users.add("ana", "analyst", PASSWORD)
    found.users.add("vic", "viewer", PASSWORD)
    found.set_config("dcso_tie", tie_config(tie), found.users.by_key(admin.api_key))
    return found


@pytest.fixture(scope="module")
def app(host):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as client:
        yield client


def signed_in(app, user):
    """A client with an access token of ``user``, as threatqsdk's TokenHolder gets one."""
    token = app.post(
        "/api/token?grant_type=password&client_id=tests",
        json={"email": user, "password": PASSWORD},
    ).json()["access_token"]
    client = TestClient(app.app, base_url="http://127.0.0.1")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def analyst(app):
    return signed_in(app, "ana")


@pytest.fixture(scope="module")
def viewer(app):
    return signed_in(app, "vic")


def sdk_post(client, path, data):
    """threatqsdk's post: the body as ``json.dumps``, Content-Type application/json."""
    headers = {"content-type": "application/json"}
    answer = client.post(path, content=json.dumps(data), headers=headers)
    assert answer.status_code == 200, answer.text
    assert "errors" not in answer.json()  # threatqsdk raises APIError on any
    return answer.json()


def xsoar(client, method, path, params=None):
    """XSOAR's tq_request: every body ``json.dumps``-ed, with no Content-Type (GETs send
    ``null``)."""
    return client.request(method, "/api" + path, content=json.dumps(params))


def upload(client, value, kind="FQDN", status="Review", **extra):
    """threatqsdk's Indicator.upload: one indicator to `consume/new`; its id."""
    item = {"type": kind, "status": status, "value": value, "normalize": "Y", **extra}
    result = sdk_post(client, "/api/indicators/consume/new", [item])["data"]
    assert result and "id" in result[0]
    return result[0]["id"]


# -- threatqsdk -------------------------------------------------------------------------------


def test_threatqsdk_finds_a_type_by_name_and_names_a_type_by_id(viewer):
    # get_indicator_type_by_name: GET /api/indicator/types?name=..., data[0]["id"]
    fqdn = viewer.get("/api/indicator/types", params={"name": "FQDN"}).json()
    assert fqdn["total"] == 1 and fqdn["data"][0]["name"] == "FQDN"
    every = viewer.get("/api/indicator/types").json()["data"]
    assert len(every) > 10 and every[0]["name"] != "FQDN"  # unfiltered, data[0] is another
    # gettypename: the whole list, searched by id
    assert [t["name"] for t in every if t["id"] == fqdn["data"][0]["id"]] == ["FQDN"]
    ip = viewer.get("/api/indicator/types?name=ip%20address").json()["data"]
    assert [t["name"] for t in ip] == ["IP Address"] and ip[0]["class"] == "network"
    assert viewer.get("/api/indicator/types?name=Nothing").json() == {"total": 0, "data": []}


def test_threatqsdk_reads_statuses_by_name_and_id(viewer):
    statuses = viewer.get("/api/indicator/statuses").json()["data"]
    by_name = {s["name"]: s["id"] for s in statuses}  # getstatusidbyname
    assert {"Active", "Expired", "Indirect", "Review", "Whitelisted"} == set(by_name)
    one = viewer.get(f"/api/indicator/statuses/{by_name['Review']}").json()["data"]
    assert one["name"] == "Review" and one["description"]
    assert viewer.get("/api/indicator/statuses?name=active").json()["data"][0]["id"] == 1
    missing = viewer.get("/api/indicator/statuses/99")
    assert missing.status_code == 404 and missing.json() == {
        "errors": ["no indicator status with id 99"]
    }


def test_threatqsdk_uploads_and_reads_back_an_indicator(analyst, viewer):
    iid = upload(analyst, "upload.example.com", sources=[{"name": "sdk tests"}])
    # BulkIndicator's form: status and type as objects, empty dates, relations
    bulk = {
        "status": {"id": 5},
        "value": "203.0.113.9",
        "attributes": [{"name": "Note", "value": "from the bulk upload"}],
        "type": {"name": "IP Address"},
        "class": "network",
        "normalize": "Y",
        "indicators": [],
        "events": [],
        "adversaries": [],
        "published_at": "",
        "last_detected_at": "",
    }
    (bulked,) = sdk_post(analyst, "/api/indicators/consume/new", [bulk])["data"]
    # fill_from_api_response: id, value, type_id and status_id, named by the look-ups
    record = viewer.get(f"/api/indicators/{iid}", params={"with": "attributes"}).json()["data"]
    assert record["value"] == "upload.example.com" and record["sources"][0]["name"] == "sdk tests"
    types = viewer.get("/api/indicator/types").json()["data"]
    statuses = viewer.get("/api/indicator/statuses").json()["data"]
    assert [t["name"] for t in types if t["id"] == record["type_id"]] == ["FQDN"]
    assert [s["name"] for s in statuses if s["id"] == record["status_id"]] == ["Review"]
    assert bulked["status"]["name"] == "Whitelisted" and bulked["type"]["name"] == "IP Address"
    assert [(a["name"], a["value"]) for a in bulked["attributes"]] == [
        ("Note", "from the bulk upload")
    ]
    again = upload(analyst, "upload.example.com", status="Active")  # the same one, restated
    assert again == iid
    assert viewer.get(f"/api/indicators/{iid}").json()["data"]["status"]["name"] == "Active"


def test_an_upload_is_checked_per_indicator_and_needs_an_analyst(analyst, viewer):
    refused = viewer.post("/api/indicators/consume/new", json=[{"type": "FQDN", "value": "a.b"}])
    assert refused.status_code == 403
    mixed = analyst.post(
        "/api/indicators/consume/new",
        json=[
            {"type": "FQDN", "status": "Review", "value": "fine.example.org"},
            {"type": "FQDN", "status": "Deployed", "value": "bad-status.example.org"},
            {"type": "Nonsense", "status": "Review", "value": "x"},
        ],
    )
    assert mixed.status_code == 200
    body = mixed.json()
    assert [r["value"] for r in body["data"]] == ["fine.example.org"]
    assert len(body["errors"]) == 2 and "unknown indicator status 'Deployed'" in body["errors"][0]
    assert "unknown indicator type" in body["errors"][1]
    none_ok = analyst.post("/api/indicators/consume/new", json=[{"type": "FQDN", "value": ""}])
    assert none_ok.status_code == 400 and len(none_ok.json()["errors"]) == 1


# -- XSOAR's ThreatQ v2 -----------------------------------------------------------------------


def test_xsoar_reputation_finds_the_judged_record_its_status_and_type(host, analyst, app):
    iid = upload(analyst, HIT)
    found = threatq_execute(host, "dcso_tie", iid, "ana", PASSWORD)  # a job's verdict on it
    verdict = found["verdict"]
    assert verdict["level"] == "malicious" and isinstance(verdict["score"], int)
    expected_score = int(verdict["score"] / 10 + 0.5)
    for criteria in ({"value": HIT}, {"value": {"+equals": HIT}}):  # both XSOAR versions
        answer = xsoar(
            analyst, "POST", "/indicators/query?limit=500&offset=0&sort=id", {"criteria": criteria}
        )
        assert answer.status_code == 200, answer.text
        listed = answer.json()
        assert listed["total"] == 1 and listed["limit"] == 500 and listed["offset"] == 0
        (row,) = listed["data"]
        assert (row["id"], row["value"], row["score"]) == (iid, HIT, expected_score)
    record = xsoar(analyst, "GET", f"/indicators/{iid}?with=attributes,sources,score,type")
    data = record.json()["data"]
    assert data["status_id"] == 1 and data["score"] == expected_score
    status = xsoar(analyst, "GET", f"/indicator/statuses/{data['status_id']}").json()["data"]
    kind = xsoar(analyst, "GET", f"/indicator/types/{data['type_id']}").json()["data"]
    assert (status["name"], kind["name"]) == ("Active", "FQDN")
    nothing = xsoar(analyst, "POST", "/indicators/query?limit=500&offset=0&sort=id",
                    {"criteria": {"value": "never-stored.example"}})  # fmt: skip
    assert nothing.json()["data"] == [] and nothing.json()["total"] == 0
    # the value as an analyst types it: ThreatQ matches values case-insensitively
    upper = xsoar(analyst, "POST", "/indicators/query", {"criteria": {"value": HIT.upper()}})
    assert [r["id"] for r in upper.json()["data"]] == [iid]


def test_a_verdict_keeps_a_whitelisted_status_and_sets_the_score(host, analyst, viewer):
    iid = upload(analyst, HIT, status="Whitelisted")
    score = threatq_execute(host, "dcso_tie", iid, "ana", PASSWORD)["verdict"]["score"]
    record = viewer.get(f"/api/indicators/{iid}").json()["data"]
    assert record["status"]["name"] == "Whitelisted"  # a malicious verdict does not deploy it
    assert record["score"] == int(score / 10 + 0.5) > 0
    listed = viewer.get("/api/indicators", params={"value": HIT, "status_id": 5}).json()["data"]
    assert [r["id"] for r in listed] == [iid] and listed[0]["score"] == record["score"]
    upload(analyst, HIT, status="Review")  # what a client sets, the next verdict replaces
    threatq_execute(host, "dcso_tie", iid, "ana", PASSWORD)
    assert viewer.get(f"/api/indicators/{iid}").json()["data"]["status"]["name"] == "Active"


def test_queries_combine_criteria_as_clients_build_them(analyst, viewer):
    ids = [upload(analyst, f"q{n}.query.example", kind="FQDN") for n in range(3)]
    url_id = upload(analyst, "http://q9.query.example/path", kind="URL")
    splunk = {  # Splunk's multiple-indicator look-up: fields, and values ORed
        "fields": ["id", "value", "type", "status", "score"],
        "criteria": {"+or": [{"value": "q0.query.example"}, {"value": "q2.query.example"}]},
    }
    answer = analyst.post("/api/indicators/query?limit=100&offset=0", json=splunk).json()
    assert sorted(r["id"] for r in answer["data"]) == [ids[0], ids[2]]
    fqdn_only = {"criteria": {"value": {"+contains": "query.example"}, "type": "FQDN"}}
    answer = viewer.post("/api/indicators/query?sort=-id", json=fqdn_only).json()
    assert [r["id"] for r in answer["data"]] == ids[::-1] and url_id not in ids
    by_ids = {"criteria": {"type_id": {"+in": [answer["data"][0]["type_id"]]},
                           "id": {"+in": ids[:2]}}}  # fmt: skip
    answer = viewer.post("/api/indicators/query", json=by_ids).json()
    assert [r["id"] for r in answer["data"]] == ids[:2]
    paged = viewer.post("/api/indicators/query?limit=1&offset=1&sort=id", json=fqdn_only).json()
    assert paged["total"] == 3 and [r["id"] for r in paged["data"]] == [ids[1]]
    legacy = viewer.get("/api/search?query=q1.query&limit=10").json()  # older XSOAR's search
    assert legacy["data"] == [{"object": "indicator", "id": ids[1], "value": "q1.query.example"}]
    # XSOAR's threatq-advanced-search: the type by id, the value "like"
    fqdn_id = viewer.get("/api/indicator/types?name=FQDN").json()["data"][0]["id"]
    advanced = {"indicators": [[
        {"field": "indicator_type", "operator": "is", "value": str(fqdn_id)},
        {"field": "indicator_value", "operator": "like", "value": "query.example"},
    ]]}  # fmt: skip
    answer = xsoar(viewer, "POST", "/search/advanced?limit=2", advanced).json()
    assert answer["total"] == 3 and [r["id"] for r in answer["data"]] == ids[:2]
    advanced["indicators"][0][0]["operator"] = "like"
    refused = xsoar(viewer, "POST", "/search/advanced?limit=2", advanced)
    assert refused.status_code == 422 and "indicator_type takes is, is not" in refused.text


# -- Elastic's data collection feed -----------------------------------------------------------


def feed(client, mark, limit=2):
    answer = client.get(
        "/api/indicators/query/hash/all",
        params={"sort": "updated_at", "limit": limit, "cursorMark": mark},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def drain(client, mark):
    """Elastic's polls from ``mark`` until a poll brings nothing: (records, last mark)."""
    seen = []
    for _ in range(100):
        page = feed(client, mark)
        assert page["limit"] == 2 and len(page["data"]) <= 2
        if not page["data"]:
            assert page["nextCursorMark"] == mark  # nothing new: the same mark back
            return seen, mark
        seen += page["data"]
        mark = page["nextCursorMark"]
    raise AssertionError("the feed never ended")


def test_elastics_feed_pages_every_indicator_once_then_each_change(host, analyst, viewer):
    hit = upload(analyst, HIT)
    for n in range(5):
        upload(analyst, f"f{n}.feed.example")
    time.sleep(FEED_SETTLE_SECONDS + 0.1)  # a change is sent once it has settled
    first, mark = drain(viewer, "*")
    ids = [r["id"] for r in first]
    assert len(ids) == len(set(ids)) == host.store.find_indicators(None, "id", 0, 1)[0]
    stamps = [(r["updated_at"], r["id"]) for r in first]
    assert stamps == sorted(stamps)  # oldest change first
    assert feed(viewer, mark)["total"] == len(ids)

    upload(analyst, "f1.feed.example")  # restated as it is: no change
    new = upload(analyst, "f9.feed.example")
    threatq_execute(host, "dcso_tie", hit, "ana", PASSWORD)  # a verdict: a change
    time.sleep(FEED_SETTLE_SECONDS + 0.1)
    changed, mark = drain(viewer, mark)
    assert sorted(r["id"] for r in changed) == sorted([hit, new])
    assert drain(viewer, mark) == ([], mark)
    bad = viewer.get("/api/indicators/query/hash/all?sort=updated_at&cursorMark=bm90LWEtbWFyaw")
    assert bad.status_code == 400 and bad.json()["errors"][0].startswith("cursorMark is not")
    assert viewer.get("/api/indicators/query/hash/nope").status_code == 404
    active = viewer.get("/api/indicators/query/hash/active?cursorMark=*&limit=100").json()
    assert active["data"] and {r["status"]["name"] for r in active["data"]} == {"Active"}


# -- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        # an id out of range is no id (the host's rule for every path id)
        ("GET", "/api/indicators/99999999999999999999999999", None, 404),
        ("GET", "/api/indicators/9999999999", None, 404),
        ("GET", "/api/indicator/statuses/-9223372036854775808", None, 404),
        ("GET", "/api/indicators?limit=100000000000000000000000", None, 422),
        ("GET", "/api/indicators?type_id=-1", None, 400),  # a bound the route declares
        ("GET", "/api/indicators?sort=password", None, 422),
        ("GET", "/api/indicator/types/99999999999999999999", None, 404),
        ("POST", "/api/indicators/query", b"{not json", 400),
        ("POST", "/api/indicators/query", b'{"criteria":' * 40 + b"1" + b"}" * 40, 400),
        ("POST", "/api/indicators/query", b'{"criteria": {"id": 123456789012345678901234}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"id": 9999999999}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"colour": "red"}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {}, "order": "x"}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"value": {"+regex": ".*"}}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"value": ["a"]}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"type": "Planet"}}', 422),
        ("POST", "/api/indicators/query", b'{"criteria": {"+or": {"value": "a"}}}', 422),
        ("POST", "/api/indicators/query", b"[1, 2]", 422),
        ("POST", "/api/indicators/consume/new", b'[{"value": "a.b", "colour": 1}]', 422),
        ("POST", "/api/indicators/consume/new", b'[{"value": 1e999, "type": "FQDN"}]', 400),
        ("GET", "/api/indicators/query/hash/all?cursorMark=" + "A" * 300, None, 400),
    ],
)
def test_malformed_input_is_a_one_line_client_error(analyst, method, path, body, status):
    answer = analyst.request(method, path, content=body)
    assert answer.status_code == status, answer.text
    (message,) = answer.json()["errors"]
    assert message and "\n" not in message and "Traceback" not in message


def test_many_conditions_and_huge_numbers_in_attributes_are_refused(analyst):
    many = {"criteria": {"+or": [{"value": str(n)} for n in range(501)]}}
    answer = analyst.post("/api/indicators/query", json=many)
    assert answer.status_code == 422 and "at most 500 conditions" in answer.json()["errors"][0]
    item = {"type": "FQDN", "status": "Review", "value": "when.example"}
    item["attributes"] = [{"name": "n", "value": "v", "published_at": 1e300}]
    dated = analyst.post("/api/indicators/consume/new", json=[item])
    assert dated.status_code == 400 and "valid date" in dated.json()["errors"][0]


def test_without_a_token_nothing_is_read(app):
    answer = app.get("/api/indicator/types?name=FQDN")
    assert answer.status_code == 401 and answer.json()["errors"][0].startswith("an access token")
