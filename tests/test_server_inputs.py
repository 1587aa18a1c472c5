"""Hostile indicator lists and CSVs sent to the host: each bad row is its own one-line error,
the good rows are stored, and nothing crashes or runs."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.server.app import create_app
from tqops.server.host import MAX_INDICATORS_PER_CALL, Host


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("inputs"))
    key = host.users.add("analyst", "analyst").api_key
    with TestClient(create_app(host)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client


def post_csv(client, body):
    return client.post("/api/v1/indicators", content=body, headers={"Content-Type": "text/csv"})


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("FQDN,a\x00b.example", "CSV line 3 holds a NUL character"),
        ("FQDN," + "a" * 300_000, "CSV line 3 is longer than 16384 bytes"),
        ('FQDN,"unclosed.example', ""),
        ("No Such Type,x.example", "unknown indicator type"),
        ("FQDN,", "needs a type and a value"),
        ("FQDN,ok.example,PURPLE", "unknown TLP"),
        ("=cmd|' /C calc'!A0,x", "unknown indicator type"),
        ("IP Address,<script>alert(1)</script>", "not a valid"),
    ],
)
def test_a_hostile_row_is_its_own_one_line_error_and_the_good_rows_are_stored(client, row, why):
    answer = post_csv(client, f"type,value,tlp\nFQDN,good-row.example\n{row}\n".encode())
    assert answer.status_code == 201, answer.text
    rows = answer.json()["indicators"]
    assert rows[0]["value"] == "good-row.example" and "id" in rows[0]
    bad = rows[1:]
    for item in bad:
        if "error" in item:
            assert "\n" not in item["error"] and len(item["error"]) < 400
            assert why in item["error"]


def test_a_body_that_is_not_utf8_is_refused_in_one_line(client):
    answer = post_csv(client, "FQDN,caf\xe9.example\n".encode("latin-1"))
    assert answer.status_code == 400 and answer.json() == {"error": "the body is not UTF-8 text"}
    utf16 = post_csv(client, "type,value\nFQDN,x.example\n".encode("utf-16"))
    assert utf16.status_code == 400


def test_too_many_rows_in_one_call_is_refused(client):
    rows = "".join(f"FQDN,h{i}.example\n" for i in range(MAX_INDICATORS_PER_CALL + 1))
    answer = post_csv(client, rows.encode())
    assert answer.status_code == 400 and str(MAX_INDICATORS_PER_CALL) in answer.json()["error"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"indicators": "x"}', b'{"indicators": [{"type": 1}]}', b"{" * 5000],
)
def test_json_that_does_not_fit_is_a_400_with_the_expected_shape(client, body):
    answer = client.post(
        "/api/v1/indicators", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and "indicators" in answer.json()["error"]


def test_a_job_with_hostile_inline_inputs_reports_each_without_sending(client):
    answer = client.post(
        "/api/v1/jobs",
        json={"operation": "tego", "action": "search", "inputs": [{"type": "x", "value": "y"}],
              "options": {"nope": "1"}},
    )  # fmt: skip
    assert answer.status_code == 400 and "nope" in answer.json()["error"]
    answer = client.post("/api/v1/jobs", json={"operation": "tego", "action": "search"})
    assert answer.status_code == 400
    answer = client.post(
        "/api/v1/jobs",
        json={"operation": "tego", "action": "search", "inputs": [{"type": "FQDN", "value": "x",
              "tlp": "BLUE"}]},
    )  # fmt: skip
    assert answer.status_code == 400 and "TLP" in answer.json()["error"]


def test_every_platform_type_is_checked_without_a_crash(client):
    from tqops import IndicatorType

    items = [{"type": kind.value, "value": "abc"} for kind in IndicatorType]
    answer = client.post("/api/v1/indicators", json={"indicators": items})
    assert answer.status_code == 201, answer.text
    for row, kind in zip(answer.json()["indicators"], IndicatorType):
        assert ("id" in row) != ("error" in row), (kind, row)
    free_text = {"Email Subject", "File Path", "Mutex", "Registry Key", "User-agent"}
    stored = {row["type"] for row in answer.json()["indicators"] if "id" in row}
    assert free_text <= stored
