"""Exports of real runs: ``tqops run --format stix|misp`` and a host job's export over REST
(``GET /api/v1/jobs/{id}/export``, viewer and up) and in the console, against loopback
simulators; a vendor that echoes the credential has it in neither export."""

from __future__ import annotations

import copy
import json
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_string

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from simulators import TegoSimulator, TieSimulator
from simulators._server import RecordedRequest
from simulators.tie_data import DATA_FILE
from tego_operation.client import SEARCH_PATH
from tests.support.cli import cli, flags
from tests.support.export_cases import MALICIOUS, NOTHING, SKIPPED
from tests.support.hosting import api_client
from tests.support.inprocess import finished
from tests.support.vendors import TIE_TOKEN, tego_config, tie_config
from tqops.exports.stix import TLP_MARKINGS
from tqops.server.app import create_app
from tqops.server.host import Host
from tqops.tlp import Tlp

HIT = "c2.export-test.example"
LOOK_ALIKES = "WWW.Microsoft.com"  # TIE's data has only related matches for it
PASSWORD = "a password long enough"
ECHOED = "echoed-license-5b7c9d1e"


def valid_stix(text: str) -> dict[str, Any]:
    checked = validate_string(text, ValidationOptions(version="2.1"))
    assert checked.is_valid and checked.errors == [], [str(e) for e in checked.errors]
    return json.loads(text)


def pymisp_event(text: str) -> Any:
    pymisp = pytest.importorskip("pymisp")
    event = pymisp.MISPEvent()
    event.load(text)
    return event


@pytest.fixture(scope="module")
def export_tie() -> Iterator[TieSimulator]:
    """TIE with a severity 5 hit (malicious) besides its own data."""
    iocs = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    template = next(i for i in iocs if i["data_type"] == "DomainName" and i["observations"])
    hit = copy.deepcopy(template)
    hit["value"] = HIT
    hit["observations"] = [
        {**hit["observations"][0], "severity": 5, "confidence": 90, "categories": [],
         "first_seen": "2025-07-21 10:00:00+00:00"},
    ]  # fmt: skip
    with TieSimulator(token=TIE_TOKEN, iocs=[hit, *iocs]) as sim:
        yield sim


class EchoingTego(TegoSimulator):
    """Tego answering each search with a record that repeats the license it was sent."""

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.path != SEARCH_PATH or request.headers.get("license") != self.token:
            return super().respond(request)
        value = request.query["value"][-1]
        record = {"token": value, "type": "domain", "domain": value, "riskLevel": "High",
                  "description": f"seen with license {request.headers.get('license')}"}  # fmt: skip
        return self.json_response(200, [record])


# -- tqops run ---------------------------------------------------------------------------------


def run_export(capsys: Any, tmp_path: Any, sim: TieSimulator, fmt: str) -> str:
    rows = f"type,value,tlp\nFQDN,{HIT},GREEN\nFQDN,{LOOK_ALIKES},AMBER+STRICT\n"
    rows += "IP Address,10.0.0.7,GREEN\n"
    given = tmp_path / "inputs.csv"
    given.write_text(rows, encoding="utf-8")
    code, out, err = cli(
        "run", "dcso_tie", "search", "--input", str(given), "--max-tlp", "AMBER+STRICT",
        *flags("--config", tie_config(sim)), "--format", fmt, capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    assert TIE_TOKEN not in out + err
    return out


def test_run_writes_a_stix_bundle_the_validator_accepts(capsys, tmp_path, export_tie):
    bundle = valid_stix(run_export(capsys, tmp_path, export_tie, "stix"))
    objects = {o["id"]: o for o in bundle["objects"]}
    (indicator,) = [o for o in bundle["objects"] if o["type"] == "indicator"]
    assert indicator["pattern"] == f"[domain-name:value = '{HIT}']"
    assert (indicator["labels"], indicator["confidence"]) == (["malicious"], 90)
    assert indicator["valid_from"] == "2025-07-21T10:00:00Z"
    assert indicator["object_marking_refs"] == [TLP_MARKINGS[Tlp.GREEN]]
    related = [o for o in bundle["objects"] if o.get("relationship_type") == "related-to"]
    assert related and {objects[r["source_ref"]]["value"] for r in related} == {LOOK_ALIKES}
    assert {tuple(r["object_marking_refs"]) for r in related} == {(TLP_MARKINGS[Tlp.AMBER_STRICT],)}
    assert "10.0.0.7" not in json.dumps(bundle)  # a private address is skipped: left out


def test_run_writes_a_misp_event_pymisp_loads(capsys, tmp_path, export_tie):
    event = pymisp_event(run_export(capsys, tmp_path, export_tie, "misp"))
    (hit,) = [a for a in event.attributes if a.value == HIT]
    assert [t.name for t in hit.tags] == ["tlp:green", 'tqops:verdict="malicious"']
    assert [t.name for t in event.tags] == ["tlp:amber+strict"]
    for annotation in event.objects:
        assert {r.object_uuid for r in annotation.references} == {annotation.uuid}


@pytest.mark.parametrize("fmt", ["stix", "misp"])
def test_a_license_the_vendor_echoes_is_in_no_export(capsys, fmt):
    with EchoingTego(token=ECHOED, records=[]) as vendor:
        code, out, err = cli(
            "run", "tego", "search", "--type", "FQDN", "--value", "echo.export-test.example",
            *flags("--config", tego_config(vendor, license_key=ECHOED)), "--format", fmt,
            capsys=capsys,
        )  # fmt: skip
    assert code == 0, err
    assert ECHOED not in out + err
    assert "seen with license ********" in out  # the answer is there, its secret masked
    valid_stix(out) if fmt == "stix" else pymisp_event(out)


def test_without_stix2_the_stix_export_is_refused_before_anything_is_sent(
    capsys, monkeypatch, export_tie
):
    monkeypatch.setitem(sys.modules, "stix2", None)  # as if the cli extra were not installed
    export_tie.clear_requests()
    code, out, err = cli(
        "run", "dcso_tie", "search", "--type", "FQDN", "--value", HIT,
        *flags("--config", tie_config(export_tie)), "--format", "stix", capsys=capsys,
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err == (
        "tqops: error: the STIX export needs the stix2 package: "
        "pip install 'tqops[cli]' (or [server])\n"
    )
    assert export_tie.requests == []


# -- the host -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory, export_tie) -> Host:
    found = Host(tmp_path_factory.mktemp("exports") / "data")
    admin = found.users.add("admin", "admin", PASSWORD)
    found.users.add("vic", "viewer", PASSWORD)
    found.admin = found.users.by_key(admin.api_key)  # type: ignore[attr-defined]
    found.set_config("dcso_tie", tie_config(export_tie), found.admin)  # type: ignore[attr-defined]
    found.set_settings("dcso_tie", {"max_tlp": "AMBER+STRICT"}, found.admin)  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="module")
def viewer(host) -> Iterator[TestClient]:
    with api_client(host, "vic") as client:
        yield client


@pytest.fixture(scope="module")
def job(host) -> dict[str, Any]:
    """A job run on the TIE simulator: a hit (GREEN), look-alikes (AMBER+STRICT), a RED input
    (above the maximum: skipped)."""
    inputs = [
        {"type": "FQDN", "value": HIT, "tlp": "GREEN"},
        {"type": "FQDN", "value": LOOK_ALIKES, "tlp": "AMBER+STRICT"},
        {"type": "FQDN", "value": "red.export-test.example", "tlp": "RED"},
    ]
    view = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    assert (view["status"], view["failed"], view["skipped"]) == ("done", 0, 1), view
    return view


def test_a_viewer_exports_a_jobs_results_as_a_valid_stix_bundle(viewer, job):
    answer = viewer.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "stix"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/stix+json")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="tqops-job-{job["id"]}-stix.json"'
    )
    bundle = valid_stix(answer.text)
    markings = {o["id"] for o in bundle["objects"] if o["type"] == "marking-definition"}
    assert markings == {TLP_MARKINGS[Tlp.GREEN], TLP_MARKINGS[Tlp.AMBER_STRICT]}  # no RED
    assert "red.export-test.example" not in answer.text
    (identity,) = [o for o in bundle["objects"] if o["type"] == "identity"]
    assert identity["name"] == "DCSO TIE"
    assert any(o["type"] == "indicator" for o in bundle["objects"])


def test_a_viewer_exports_a_jobs_results_as_a_misp_event(viewer, job):
    answer = viewer.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "misp"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    event = pymisp_event(answer.text)
    assert HIT in {a.value for a in event.attributes}
    assert TIE_TOKEN not in answer.text


def test_an_export_is_refused_clearly(host, viewer, job):
    odd = viewer.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "csv"})
    assert odd.status_code in (400, 422) and "format" in odd.json()["error"]
    assert viewer.get(f"/api/v1/jobs/{job['id']}/export").status_code in (400, 422)
    missing = viewer.get("/api/v1/jobs/987654/export", params={"format": "stix"})
    assert missing.status_code == 404 and "987654" in missing.json()["error"]
    with TestClient(create_app(host), base_url="http://127.0.0.1") as nobody:
        anonymous = nobody.get(f"/api/v1/jobs/{job['id']}/export", params={"format": "stix"})
    assert anonymous.status_code == 401


def stored_job(host: Host, operation: str, results: list[dict[str, Any]]) -> int:
    """A finished job whose results are ``results`` (each input queued as GREEN)."""
    run = {"operation": operation, "action": "search", "options": {}}
    inputs = [(r["input"]["type"], r["input"]["value"], "GREEN", None) for r in results]
    job_id = host.store.create_job(run, inputs, "admin")
    for seq, stored in enumerate(results):
        host.store.save_results(job_id, [seq], stored["status"], json.dumps(stored))
    host.store.set_job(job_id, status="done")
    return job_id


def test_a_stored_indicators_stricter_tlp_marks_the_export(host, viewer):
    """A value stored under RED and queued as GREEN is exported under RED (as the TLP gate
    reads it): the export never hands on more than the store allows."""
    host.store.add_indicators([("FQDN", "c2.example", "RED", "", "analyst")], "admin")
    job_id = stored_job(host, "dcso_tie", [MALICIOUS, NOTHING, SKIPPED])
    answer = viewer.get(f"/api/v1/jobs/{job_id}/export", params={"format": "stix"})
    bundle = valid_stix(answer.text)
    marks = {
        o["abstract"]: o["object_marking_refs"]
        for o in bundle["objects"]
        if o["type"] == "note" and " verdict on " in o["abstract"]
    }
    assert marks == {
        "DCSO TIE verdict on FQDN c2.example: malicious": [TLP_MARKINGS[Tlp.RED]],
        "DCSO TIE verdict on IP Address 198.51.100.4: unknown": [TLP_MARKINGS[Tlp.GREEN]],
    }


def test_a_job_of_an_operation_no_longer_installed_is_exported_under_its_name(host, viewer):
    job_id = stored_job(host, "retired_op", [NOTHING])
    answer = viewer.get(f"/api/v1/jobs/{job_id}/export", params={"format": "stix"})
    (identity,) = [o for o in valid_stix(answer.text)["objects"] if o["type"] == "identity"]
    assert identity["name"] == "retired_op"
    misp = viewer.get(f"/api/v1/jobs/{job_id}/export", params={"format": "misp"})
    assert pymisp_event(misp.text).info == "retired_op: results of search"


def test_the_console_offers_both_exports_beside_the_downloads(host, job):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as console:
        page = console.get("/console/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"name": "vic", "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
        assert console.post("/console/login", data=form, follow_redirects=False).status_code == 303
        page = console.get(f"/console/jobs/{job['id']}").text
        for kind, label in (("stix", "Export STIX 2.1"), ("misp", "Export MISP event")):
            link = f'href="/console/jobs/{job["id"]}/export.{kind}" download>{label}</a>'
            assert link in page
            answer = console.get(f"/console/jobs/{job['id']}/export.{kind}")
            assert answer.status_code == 200
            assert "attachment" in answer.headers["content-disposition"]
        valid_stix(console.get(f"/console/jobs/{job['id']}/export.stix").text)
        assert console.get(f"/console/jobs/{job['id']}/export.xml").status_code == 404
