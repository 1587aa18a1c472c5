"""The wide CSV export (one row per found indicator) of real runs against loopback simulators,
over REST (``GET /api/v1/jobs/{id}/export?format=wide-csv``, viewer and up) and in the
console: each row names the job, the input (value, type, TLP), its verdict, the relation
(exact or related), the found indicator and its main attributes under their labels, on their
scales; nothing skipped or failed makes a row; a cell a spreadsheet would run as a formula is
text; a credential the vendor echoed is in no cell; an operation no longer installed is
exported under its attributes' own names."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.export_cases import MALICIOUS, NOTHING, SKIPPED, found, result
from tests.support.hosting import api_client
from tests.support.inprocess import finished
from tests.support.vendors import TIE_TOKEN, tego_config, tie_config
from tests.test_export_run import (  # noqa: F401 - export_tie: a fixture
    ECHOED,
    HIT,
    LOOK_ALIKES,
    PASSWORD,
    EchoingTego,
    export_tie,
    stored_job,
)
from tqops.exports.wide_csv import FIXED_COLUMNS, OTHERS, csv_cell
from tqops.server.host import Host

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.server.app import create_app


@pytest.fixture(scope="module")
def host(tmp_path_factory, export_tie) -> Host:  # noqa: F811 - the fixture imported above
    found = Host(tmp_path_factory.mktemp("wide") / "data")
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
    """A hit (GREEN), look-alikes (AMBER+STRICT, only related matches), a RED input (above
    the maximum: skipped)."""
    inputs = [
        {"type": "FQDN", "value": HIT, "tlp": "GREEN"},
        {"type": "FQDN", "value": LOOK_ALIKES, "tlp": "AMBER+STRICT"},
        {"type": "FQDN", "value": "red.wide-test.example", "tlp": "RED"},
    ]
    view = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    assert (view["status"], view["failed"], view["skipped"]) == ("done", 0, 1), view
    return view


def wide(client: TestClient, job_id: int) -> tuple[list[str], list[dict[str, str]], str]:
    answer = client.get(f"/api/v1/jobs/{job_id}/export", params={"format": "wide-csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="tqops-job-{job_id}-wide.csv"'
    )
    reader = csv.reader(io.StringIO(answer.text))
    header = next(reader)
    rows = [dict(zip(header, row)) for row in reader]
    assert all(len(row) == len(header) for row in rows)
    return header, rows, answer.text


def test_one_row_per_found_indicator_with_its_input_verdict_and_main_attributes(viewer, job):
    header, rows, text = wide(viewer, job["id"])
    assert tuple(header[: len(FIXED_COLUMNS)]) == FIXED_COLUMNS
    assert header[-1] == OTHERS
    main = header[len(FIXED_COLUMNS) : -1]
    assert {"Severity", "Confidence"} <= set(main)  # the manifest's labels, not names
    results = viewer.get(f"/api/v1/jobs/{job['id']}/results").json()["results"]
    assert len(rows) == sum(len(r["indicators"]) for r in results) > 2
    assert {row["job"] for row in rows} == {str(job["id"])}
    assert {row["operation"] for row in rows} == {"DCSO TIE"}
    assert "red.wide-test.example" not in text  # skipped: nothing was found

    (hit,) = [r for r in rows if r["input_value"] == HIT and r["found_value"] == HIT]
    assert (hit["input_type"], hit["input_tlp"], hit["relation"]) == ("FQDN", "GREEN", "exact")
    assert hit["verdict_level"] == "malicious" and hit["verdict_score"].isdigit()
    assert "severity 5" in hit["verdict_reasons"].lower()
    assert hit["Severity"] == "5/6"  # on its scale, as the console's summary reads it
    assert re.fullmatch(r"\d+/100", hit["Confidence"])
    assert int(hit["attributes"]) >= 2

    looks = [r for r in rows if r["input_value"] == LOOK_ALIKES]
    assert looks and {r["relation"] for r in looks} == {"related"}
    assert {r["input_tlp"] for r in looks} == {"AMBER+STRICT"}
    assert all(r["found_value"] != LOOK_ALIKES for r in looks)
    assert TIE_TOKEN not in text


def test_a_cell_that_would_run_as_a_formula_is_text(host, viewer):
    hostile = result(
        "FQDN",
        '=HYPERLINK("http://evil.example","click")',
        verdict={"level": "malicious", "score": 90, "reasons": ["@SUM(1+1)"]},
        indicators=(
            found("FQDN", "+cmd|' /C calc'!A0", "exact", None, Severity="-5", **{"=Note": "x"}),
            found("URL", "\t=1+1", "related", None, Severity="3"),
        ),
    )
    job_id = stored_job(host, "dcso_tie", [hostile])
    _, rows, _ = wide(viewer, job_id)
    first, second = rows
    assert first["input_value"] == '\'=HYPERLINK("http://evil.example","click")'
    assert first["verdict_reasons"] == "'@SUM(1+1)"
    assert first["found_value"] == "'+cmd|' /C calc'!A0"
    assert second["found_value"] == "'\t=1+1"
    assert first[OTHERS] == "'=Note: x"  # an attribute's name from the vendor, too
    assert first["Severity"] == "'-5/6"  # read on its scale: text, not a number
    assert (csv_cell("-5"), csv_cell("+0.5"), csv_cell("-5 apples")) == ("-5", "+0.5", "'-5 apples")


def test_an_operation_no_longer_installed_is_exported_under_its_attributes_names(host, viewer):
    job_id = stored_job(host, "retired_op", [MALICIOUS, NOTHING, SKIPPED])
    header, rows, _ = wide(viewer, job_id)
    assert tuple(header) == (*FIXED_COLUMNS, OTHERS)
    assert len(rows) == 3  # the malicious hit's three found indicators; nothing else
    assert {row["operation"] for row in rows} == {"retired_op"}
    assert [row["relation"] for row in rows] == ["exact", "related", "related"]
    assert rows[0][OTHERS] == "Severity: 5" and rows[2][OTHERS] == ""


def test_a_credential_the_vendor_echoed_is_in_no_cell(host, viewer):
    with EchoingTego(token=ECHOED, records=[]) as vendor:
        host.set_config("tego", tego_config(vendor, license_key=ECHOED), host.admin)
        inputs = [{"type": "FQDN", "value": "echo.wide-test.example", "tlp": "GREEN"}]
        view = finished(host, host.create_job("tego", "search", {}, None, inputs, host.admin))
    assert view["status"] == "done", view
    _, rows, text = wide(viewer, view["id"])
    assert rows and rows[0]["found_value"] == "echo.wide-test.example"
    assert ECHOED not in text
    assert "********" in text  # masked where the vendor repeated it


def test_the_console_offers_the_wide_csv_beside_the_other_exports(host, job):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as console:
        page = console.get("/console/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"name": "vic", "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
        assert console.post("/console/login", data=form, follow_redirects=False).status_code == 303
        page = console.get(f"/console/jobs/{job['id']}").text
        assert f'href="/console/jobs/{job["id"]}/export.wide-csv" download>Export wide CSV' in page
        answer = console.get(f"/console/jobs/{job['id']}/export.wide-csv")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        assert answer.text.startswith(",".join(FIXED_COLUMNS))
        assert HIT in answer.text
