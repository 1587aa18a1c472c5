"""Issue 19, findings 3 and 5, through the host: a record's TLP survives "Add to platform"
and a value stored under a stricter TLP keeps it however it is given (REST, Cortex, MISP,
ThreatQ); a vendor that echoes a credential or a password option has it masked in stored
results, the Cortex report and the MISP answer; a password option is sealed at rest, masked
in views and sent to the vendor as itself; ``file:``/``env:`` references entered over REST
are refused outside the directories the host was started with; and the MISP listener answers
a path it is given the same way whether there is a file there or not. Loopback simulators."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from simulators import TegoSimulator
from simulators._server import RecordedRequest
from simulators.tie_data import DATA_FILE
from simulators.tie_shapes import v3_record
from tego_operation import OPERATION as TEGO
from tego_operation.actions import test_connection as tego_test_connection
from tego_operation.client import SEARCH_PATH, TegoClient
from tests.support.cli import cli
from tests.support.hosting import api_client
from tests.support.inprocess import finished, misp_query, threatq_execute
from tests.support.vendors import TIE_KEY, TIE_USER, tego_config, tie_config
from tqops import Indicator, Operation, Status
from tqops.config.values import MASK
from tqops.server.host import Host

PASSWORD = "a password long enough"


def threatq_execute_as_ana(host: Host, plugin_name: str, indicator_id: int) -> dict:
    return threatq_execute(host, plugin_name, indicator_id, "ana", PASSWORD)


def _red_v3_domain() -> str:
    """A domain the TIE simulator's v3 API marks TLP RED."""
    for ioc in json.loads(DATA_FILE.read_text(encoding="utf-8")):
        record = v3_record(ioc, ioc.get("observations") or [])
        if record and record["tlpLevel"] == "red" and record["iocType"] == "domain":
            return str(record["ioc"])
    raise AssertionError("the simulator's data has no TLP RED domain")


RED_DOMAIN = _red_v3_domain()


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie, tego):
    found = Host(tmp_path_factory.mktemp("tlp-secrets") / "data")
    admin = found.users.add("admin", "admin", PASSWORD)
    found.users.add("ana", "analyst", PASSWORD)
    found.admin = found.users.by_key(admin.api_key)
    v3 = tie_config(tie, token=None, api_version="v3", api_user=TIE_USER, api_key=TIE_KEY)
    found.set_config("dcso_tie", v3, found.admin)
    found.set_config("tego", tego_config(tego), found.admin)
    for name in ("dcso_tie", "tego"):  # every look-up is sent, none answered from the cache
        found.set_settings(name, {"cache_ttl": 0}, found.admin)
    return found


@pytest.fixture(scope="module")
def client(host):
    with api_client(host, "ana") as test_client:
        yield test_client


# -- finding 3: TLP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported_red(host, client, tie) -> dict:
    """RED_DOMAIN searched in TIE v3 (given as GREEN) and its results added to the platform."""
    inputs = [{"type": "FQDN", "value": RED_DOMAIN, "tlp": "GREEN"}]
    job = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    assert (job["status"], job["failed"]) == ("done", 0)
    answer = client.post(f"/api/v1/jobs/{job['id']}/import", json={})
    assert answer.status_code == 200, answer.text
    page = client.get("/api/v1/indicators", params={"q": RED_DOMAIN}).json()
    (row,) = [i for i in page["indicators"] if i["value"] == RED_DOMAIN]
    return row


def test_add_to_platform_keeps_the_red_tlp_of_a_tie_v3_record(imported_red):
    assert imported_red["tlp"] == "RED"  # the record's, not the default AMBER
    assert imported_red["source"] == "DCSO TIE"


def test_a_value_stored_as_red_is_sent_to_no_one_however_it_is_given(
    host, client, imported_red, tego_sim
):
    host.set_settings("tego", {"misp_allowed": True}, host.admin)
    by_id = "its TLP RED is above Tego's maximum, AMBER"
    reason = "its TLP RED (the stored indicator's) is above Tego's maximum, AMBER"
    green = {"type": "FQDN", "value": RED_DOMAIN, "tlp": "GREEN"}
    jobs = []
    for body in (
        {"operation": "tego", "action": "search", "indicator_ids": [imported_red["id"]]},
        {"operation": "tego", "action": "search", "inputs": [green]},
        # the same value refanged and in capitals is the same stored indicator
        {"operation": "tego", "action": "search",
         "inputs": [{**green, "value": RED_DOMAIN.upper().replace(".", "[.]")}]},
    ):  # fmt: skip
        answer = client.post("/api/v1/jobs", json=body)
        assert answer.status_code == 202, answer.text
        jobs.append(answer.json())
    observable = {"dataType": "domain", "data": RED_DOMAIN, "tlp": 1}  # Cortex's GREEN
    ran = client.post("/api/analyzer/Tego_Search_1_1/run", json=observable)
    assert ran.status_code == 200, ran.text
    jobs.append({"id": int(ran.json()["id"])})
    for job, expected in zip(jobs, (by_id, reason, reason, reason)):
        view = finished(host, job)
        assert (view["done"], view["skipped"], view["failed"]) == (1, 1, 0)
        _, (row,) = host.store.results(view["id"], None, 0, 10)
        assert json.loads(row["result"])["reason"] == expected
    report = client.get(f"/api/job/{jobs[-1]['id']}/report").json()
    assert report["status"] == "Success"  # a skip is an answer, not a failure
    attribute = {"type": "domain", "value": RED_DOMAIN, "Tag": [{"name": "tlp:green"}]}
    answer = misp_query(host, {"module": "tego_search", "attribute": attribute}).json()
    assert answer["skipped"] == reason and answer["results"]["Attribute"] == []
    executed = threatq_execute_as_ana(host, "tego", imported_red["id"])
    assert (executed["status"], executed["reason"]) == ("skipped", by_id)
    assert tego_sim.requests == []  # nothing reached Tego, by any way in


def test_adding_a_value_again_raises_its_tlp_and_never_lowers_it(host):
    (first,) = host.add_indicators(
        [{"type": "FQDN", "value": "raised.example", "tlp": "GREEN"}], host.admin
    )
    host.add_indicators([{"type": "FQDN", "value": "raised.example", "tlp": "RED"}], host.admin)
    assert host.indicator_view(first["id"])["tlp"] == "RED"
    host.add_indicators([{"type": "FQDN", "value": "raised.example", "tlp": "CLEAR"}], host.admin)
    assert host.indicator_view(first["id"])["tlp"] == "RED"


def test_what_a_red_search_found_is_added_no_lower_than_the_search(host, client):
    inputs = [{"type": "FQDN", "value": RED_DOMAIN, "tlp": "RED"}]
    host.set_settings("dcso_tie", {"max_tlp": "RED"}, host.admin)
    try:
        job = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    finally:
        host.set_settings("dcso_tie", {"max_tlp": "AMBER"}, host.admin)
    _, rows = host.store.results(job["id"], None, 0, 10)
    found = [i for row in rows for i in json.loads(row["result"])["indicators"]]
    assert found and all(i["sources"][0]["tlp"]["name"] for i in found)
    client.post(f"/api/v1/jobs/{job['id']}/import", json={})
    listed = client.get("/api/v1/indicators", params={"q": RED_DOMAIN, "limit": 1000}).json()
    stored = {(i["type"], i["value"]): i["tlp"] for i in listed["indicators"]}
    assert {stored[(i["type"], i["value"])] for i in found} == {"RED"}


# -- finding 5: secrets a vendor echoes, password options ---------------------------------------

ECHO_LICENSE = "echo-license-7Qf3b1d9"
PASSPHRASE = "option-passphrase-Z81c4e"


class EchoingTego(TegoSimulator):
    """Tego answering each search with a record whose description repeats the license it was
    sent and the ``passphrase`` parameter: a vendor that echoes credentials in a normal
    answer."""

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        license_key = request.headers.get("license")
        if request.path != SEARCH_PATH or license_key != self.token:
            return super().respond(request)
        value = request.query["value"][-1]
        given = request.query.get("passphrase", ["(none)"])[-1]
        record = {
            "token": value,
            "type": "domain",
            "domain": value,
            "riskLevel": "High",
            "description": f"seen with license {license_key} and passphrase {given}",
        }
        return self.json_response(200, [record])


class RawReadingClient(TegoClient):
    """A client that reads its answers itself (as an uploaded integration may), not through
    the HTTP client's JSON parsing, which masks what it knows of the secrets."""

    def search_raw(self, indicator: Indicator, options: Any) -> list[Any]:
        params = {**self.build_query(indicator), **options.parameters()}
        # one document: the list of records, as Tego's own client yields it
        return [json.loads(self.http.request("GET", SEARCH_PATH, params=params).content)]


def _echoing_operation() -> Operation:
    raw = yaml.safe_load((TEGO.package_dir / "tego.yaml").read_text(encoding="utf-8"))
    raw["name"], raw["label"] = "echoing", "Echoing"
    (action,) = raw["actions"]
    action["options"] = [
        {"name": "passphrase", "label": "Passphrase", "type": "password",
         "parameter": "passphrase"},
    ]  # fmt: skip
    manifest = type(TEGO.manifest).from_dict(raw)
    search = lambda client, indicator, options: client.search_raw(indicator, options)  # noqa: E731
    return Operation.define(manifest, RawReadingClient, {"search": search}, tego_test_connection)


@pytest.fixture(scope="module")
def echoing(host) -> Iterator[EchoingTego]:
    with EchoingTego(token=ECHO_LICENSE, records=[]) as vendor:
        host.registry.add(_echoing_operation())
        config = tego_config(vendor, license_key=ECHO_LICENSE)
        host.set_config("echoing", config, host.admin)
        host.set_settings("echoing", {"misp_allowed": True}, host.admin)
        yield vendor


def _secrets_in(text: str) -> list[str]:
    return [secret for secret in (ECHO_LICENSE, PASSPHRASE) if secret in text]


def test_a_password_option_reaches_the_vendor_as_itself_and_is_masked_in_job_views(
    host, client, echoing
):
    echoing.clear_requests()
    body = {"operation": "echoing", "action": "search", "options": {"passphrase": PASSPHRASE},
            "inputs": [{"type": "FQDN", "value": "echo-one.example"}]}  # fmt: skip
    job = client.post("/api/v1/jobs", json=body).json()
    view = finished(host, job)
    assert view["status"] == "done", view
    (sent,) = echoing.requests
    assert sent.query["passphrase"] == [PASSPHRASE]  # not Secret('********')
    shown = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert shown["options"] == {"passphrase": MASK}
    assert client.get("/api/v1/jobs").status_code == 200
    assert _secrets_in(client.get("/api/v1/jobs").text) == []
    with host.store.transaction() as conn:
        (stored,) = conn.execute("SELECT options FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert PASSPHRASE not in stored and "sealed" in json.loads(stored)["passphrase"]


def test_an_echoed_license_and_password_option_are_masked_in_stored_results(host, client, echoing):
    host.set_settings("echoing", {"cache_ttl": 3600}, host.admin)  # the cache is stored too
    body = {"operation": "echoing", "action": "search", "options": {"passphrase": PASSPHRASE},
            "inputs": [{"type": "FQDN", "value": "echo-two.example"}]}  # fmt: skip
    job = finished(host, client.post("/api/v1/jobs", json=body).json())
    assert job["status"] == "done" and job["done"] == 1
    page = client.get(f"/api/v1/jobs/{job['id']}/results")
    (result,) = page.json()["results"]
    description = next(
        a["value"] for a in result["indicators"][0]["attributes"] if a["name"] == "Description"
    )
    assert description == f"seen with license {MASK} and passphrase {MASK}"
    assert _secrets_in(page.text) == []
    host.store.close()  # every connection given back: what is on disk is all there is
    on_disk = b"".join(p.read_bytes() for p in host.data.glob("tqops.db*"))
    assert ECHO_LICENSE.encode() not in on_disk and PASSPHRASE.encode() not in on_disk


def test_the_cortex_report_and_the_misp_answer_hold_no_echoed_secret(host, client, echoing):
    observable = {"dataType": "domain", "data": "echo-three.example", "tlp": 1,
                  "parameters": {"passphrase": PASSPHRASE}}  # fmt: skip
    ran = client.post("/api/analyzer/Echoing_Search_1_1/run", json=observable)
    assert ran.status_code == 200, ran.text
    report = client.get(f"/api/job/{ran.json()['id']}/waitreport", params={"atMost": "30s"})
    assert report.json()["status"] == "Success", report.text
    assert MASK in report.text and _secrets_in(report.text) == []
    assert report.json()["parameters"] == {"passphrase": MASK}
    attribute = {"type": "domain", "value": "echo-four.example"}
    answer = misp_query(host, {"module": "echoing_search", "attribute": attribute})
    assert answer.status_code == 200, answer.text
    assert MASK in answer.text and _secrets_in(answer.text) == []


# -- finding 5: references over REST, the path oracle ---------------------------------------------


@pytest.fixture()
def admin(host):
    with api_client(host, "admin") as test_client:
        yield test_client


def _put_license(admin_client: TestClient, value: str) -> Any:
    body = {"values": {"license_key": value}}
    return admin_client.put("/api/v1/operations/tego/config", json=body)


def test_secret_references_over_rest_are_refused_without_secrets_dir(host, admin, tmp_path):
    there = tmp_path / "license.txt"
    there.write_text("a-license-from-a-file")
    answers = {
        ref: _put_license(admin, ref)
        for ref in (f"file:{there}", f"file:{tmp_path / 'absent.txt'}", "env:HOME",
                    f"file:{host.data / 'secret.key'}")
    }  # fmt: skip
    for ref, answer in answers.items():
        assert answer.status_code == 400, (ref, answer.text)
        error = answer.json()["error"]
        assert "\n" not in error and error.startswith("Tego configuration is invalid: Tego License")
    file_errors = {answers[f"file:{there}"].json()["error"],
                   answers[f"file:{tmp_path / 'absent.txt'}"].json()["error"]}  # fmt: skip
    assert len(file_errors) == 1  # whether the file is there or not: one answer
    assert "--secrets-dir" in file_errors.pop()
    assert "environment variable" in answers["env:HOME"].json()["error"]
    assert host.config("tego").to_json()["license_key"] != f"file:{there}"
    refused = [e for e in host.store.audit_log(0, 50) if e["action"] == "configure-refused"]
    assert len(refused) == len(answers) and {e["user"] for e in refused} == {"admin"}


def test_a_reference_inside_a_secrets_dir_is_read_and_nothing_outside(tmp_path, tego, tego_sim):
    allowed = tmp_path / "secrets"
    allowed.mkdir()
    (allowed / "tego.license").write_text(tego.token + "\n")
    outside = tmp_path / "elsewhere.license"
    outside.write_text("elsewhere")
    (allowed / "link.license").symlink_to(outside)
    data = tmp_path / "data"
    host = Host(data, secrets_dirs=[allowed, data])  # the data directory never counts
    try:
        host.users.add("admin", "admin", PASSWORD)
        with api_client(host, "admin") as admin_client:
            config = {**tego_config(tego), "license_key": f"file:{allowed / 'tego.license'}"}
            put = admin_client.put("/api/v1/operations/tego/config", json={"values": config})
            assert put.status_code == 200, put.text
            checked = admin_client.post("/api/v1/operations/tego/test-connection")
            assert checked.json()["ok"], checked.text
            assert tego_sim.requests[-1].headers["license"] == tego.token
            for ref in (f"file:{allowed / 'link.license'}", f"file:{data / 'secret.key'}"):
                refused = _put_license(admin_client, ref)
                assert refused.status_code == 400, (ref, refused.text)
    finally:
        host.stop()


def test_a_reference_stored_before_is_refused_when_the_run_needs_it(tmp_path, tego, tego_sim):
    host = Host(tmp_path / "data")
    try:
        admin = host.users.add("admin", "admin", PASSWORD)
        user = host.users.by_key(admin.api_key)
        host.set_config("tego", tego_config(tego), user)
        # as a host before this check (or one started with --secrets-dir) stored it
        sealed = host.vault.seal({**tego_config(tego), "license_key": "env:HOME"}, ("license_key",))
        host.store.save_settings("tego", config=json.dumps(sealed))
        host.pools.invalidate("tego")
        tego_sim.clear_requests()
        inputs = [{"type": "FQDN", "value": "stored-ref.example"}]
        assert not host.hosted("tego").configured  # the operation says it cannot run
        job = finished(host, host.create_job("tego", "search", {}, None, inputs, user))
        assert job["status"] == "failed" and "environment variable" in job["error"]
        assert tego_sim.requests == []
    finally:
        host.stop()


def test_serve_refuses_a_secrets_dir_that_is_not_a_directory(tmp_path, capsys):
    code, _, err = cli("serve", "--data", str(tmp_path / "d"), "--secrets-dir",
                       str(tmp_path / "nowhere"), capsys=capsys)  # fmt: skip
    assert code == 2
    assert err.strip() == f"tqops: error: --secrets-dir {tmp_path / 'nowhere'}: no such directory"


def test_the_misp_listener_is_no_oracle_of_the_hosts_paths(host, tie, tmp_path):
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not certificates")
    answers = []
    for path in (tmp_path / "absent.pem", tmp_path, not_pem, host.data / "secret.key"):
        config = {**tie_config(tie), "ca_bundle": str(path)}
        body = {"module": "dcso_tie_search", "domain": "oracle.example", "config": config}
        answer = misp_query(host, body)
        answers.append((answer.status_code, answer.json()))
    # MISP's modules answer an error with 200 and its one line
    assert answers[0] == (200, {"error": "ca_bundle is not a CA bundle this host can use"})
    assert all(answer == answers[0] for answer in answers)


def test_the_runtime_itself_masks_an_echoed_license_in_what_it_returns():
    """Below the host: `ConfiguredOperation.run` (what `tqops run` prints) masks a configured
    secret a vendor repeats in a found indicator's value or attributes."""
    with EchoingTego(token=ECHO_LICENSE, records=[]) as vendor:
        config = tego_config(vendor, license_key=ECHO_LICENSE)
        with _echoing_operation().configure(config) as configured:
            (result,) = configured.run("search", {}, [("FQDN", "echo-three.example")])
    assert result.status is Status.OK
    text = json.dumps(result.to_dict())
    assert ECHO_LICENSE not in text and "seen with license ********" in text
