"""The console's pieces without a browser: sessions that expire, where a login may send one
back, pasted values whose type is recognised, forms read from a manifest's fields, problems
placed at their fields, and CSV cells a spreadsheet would run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from starlette.datastructures import FormData

from tqops.config.values import MASK
from tqops.errors import ConfigError, InputError
from tqops.manifest.document import Manifest
from tqops.manifest.views import OperationView
from tqops.server.app import create_app
from tqops.server.host import Host
from tqops.server.web.exports import _cell, results_csv
from tqops.server.web.forms import draw_fields, field_values, problems_of
from tqops.server.web.paste import items_from_paste, recognise
from tqops.server.web.route import safe_next

ROOT = Path(__file__).resolve().parent.parent

PASSWORD = "a password long enough"


@pytest.fixture()
def client(tmp_path):
    host = Host(tmp_path / "data")
    host.users.add("ana", "analyst", PASSWORD)
    with TestClient(create_app(host), base_url="http://127.0.0.1") as found:
        found.host = host  # type: ignore[attr-defined]
        yield found


def log_in(client: TestClient) -> None:
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": "ana", "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
    answer = client.post("/console/login", data=form, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/jobs")


def test_a_page_without_a_session_sends_to_the_login_and_back(client):
    answer = client.get("/console/jobs?offset=0", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=%2Fconsole%2Fjobs%3Foffset%3D0"
    htmx = client.get("/console/jobs", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["HX-Redirect"].startswith("/console/login?next=")


def test_an_expired_session_is_no_session(client):
    log_in(client)
    assert client.get("/console/jobs", follow_redirects=False).status_code == 200
    token = "an-expired-session-token"
    user_id = client.host.store.user("ana")["id"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    client.host.store.add_session("console", digest, user_id, time.time() - 1, "csrf")
    client.cookies.set("tqops-session", token)
    assert client.get("/console/jobs", follow_redirects=False).status_code == 303


def test_the_login_form_needs_its_own_token_and_a_right_password(client):
    form = {"name": "ana", "password": PASSWORD, "csrf": "not-the-cookie's"}
    assert client.post("/console/login", data=form).status_code == 403
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    wrong = client.post("/console/login", data={**form, "csrf": token, "password": "no"})
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text


def test_every_console_answer_carries_the_policy_and_errors_are_pages(client):
    log_in(client)
    for path in ("/console/login", "/console/jobs", "/console/jobs/99", "/console/users"):
        answer = client.get(path)
        assert "script-src 'self'" in answer.headers["content-security-policy"], path
        assert answer.headers["content-type"].startswith("text/html"), path
    assert client.get("/console/jobs/99").status_code == 404
    assert client.get("/console/users").status_code == 403
    static = client.get("/console/static/htmx.min.js")
    assert static.status_code == 200 and "javascript" in static.headers["content-type"]
    assert client.get("/console/static/..%2Fsessions.py").status_code == 404


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/console/jobs/3?status=ok", "/console/jobs/3?status=ok"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/console/\\evil.example", "/console/"),
        ("/console/login?next=/console/", "/console/"),
        ("/api/v1/jobs", "/console/"),
    ],
)
def test_a_login_sends_back_only_to_a_console_page(given, expected):
    assert safe_next(given) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("hxxp://evil[.]example/a", "URL"),
        ("https://www.example.com/login?id=1", "URL"),
        ("billing[@]paypa1-secure[.]com", "Email Address"),
        ("203.0.113[.]7", "IP Address"),
        ("2001:db8::1", "IPv6 Address"),
        ("10.0.0.0/8", "CIDR Block"),
        ("5d41402abc4b2a76b9719d911017c592", "MD5"),
        ("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "SHA-1"),
        ("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "SHA-256"),
        ("AS13335", "ASN"),
        ("evil[.]example", "FQDN"),
        ("invoice_2024.pdf.exe", None),
        ("<script>alert(1)</script>.example", None),
    ],
)
def test_a_pasted_value_is_recognised_by_its_form(value, kind):
    found = recognise(value)
    assert (found.value if found else None) == kind


def test_pasted_lines_are_typed_recognised_or_told_apart():
    items = items_from_paste(
        "# a comment\nFQDN,a,b.example\n\nFilename,invoice.pdf.exe\n8.8.8.8\nwhat is this\n",
        "GREEN",
    )
    assert [(i.get("type"), i.get("value"), i.get("line")) for i in items] == [
        ("FQDN", "a,b.example", 2),
        ("Filename", "invoice.pdf.exe", 4),
        ("IP Address", "8.8.8.8", 5),
        (None, None, 6),
    ]
    assert items[0]["tlp"] == "GREEN"
    assert "the type of 'what is this' is not recognised" in items[3]["error"]


#: fields a manifest may declare, added to a real manifest so that it still loads
FIELDS = [
    {"name": "t_host", "label": "Host", "type": "text", "required": True, "default": "a.example"},
    {"name": "t_token", "label": "Token", "type": "password", "required": True},
    {"name": "t_proxy", "label": "Proxy", "type": "checkbox", "default": False},
    {"name": "t_level", "label": "Level", "type": "select", "default": "v1",
     "choices": [{"value": "v1", "label": "one"}, "v2"]},
    {"name": "t_user", "label": "User", "type": "text", "when": {"t_level": ["v2"]}},
]  # fmt: skip


def drawn_fields(values, secrets_set=None, errors=None, prefix=""):
    """FIELDS as a form draws them for ``values``, through the operation's read model."""
    raw = yaml.safe_load((ROOT / "manifests" / "tego.yaml").read_text(encoding="utf-8"))
    raw["config"] += FIELDS
    view = OperationView.of(Manifest.from_dict(raw), values)
    ours = [field for field in view.config if field.name.startswith("t_")]
    return ours, draw_fields(ours, values, secrets_set or {}, errors or {}, prefix)


def test_a_posted_form_keeps_an_untyped_secret_and_what_it_did_not_show():
    fields, _ = drawn_fields({})
    form = FormData(
        [("shown", "c.t_host"), ("shown", "c.t_token"), ("shown", "c.t_proxy"), ("c.t_host", " ")]
    )
    assert field_values(fields, form, "c.") == {"t_host": None, "t_token": MASK, "t_proxy": False}
    typed = FormData([("shown", "c.t_token"), ("c.t_token", "s3cret"), ("shown", "c.t_level")])
    assert field_values(fields, typed, "c.") == {"t_token": "s3cret", "t_level": None}


def test_fields_are_drawn_from_the_manifest_alone_and_never_show_a_secret():
    _, inputs = drawn_fields({"t_token": MASK}, {"t_token": True}, {"t_host": ["bad"]})
    drawn = {f.name: f for f in inputs}
    assert drawn["t_token"].value is None and drawn["t_token"].secret_set is True
    assert not drawn["t_token"].browser_required  # set: blank keeps it
    assert drawn["t_host"].errors == ("bad",) and drawn["t_host"].default == "a.example"
    assert drawn["t_level"].choices == (("v1", "one"), ("v2", "v2"))
    assert drawn["t_level"].current == "v1" and drawn["t_proxy"].checked is False
    assert drawn["t_user"].when == "t_level=v2" and not drawn["t_user"].applies  # level is v1
    _, again = drawn_fields({"t_level": "v2"})
    assert next(f for f in again if f.name == "t_user").applies
    _, unknown = drawn_fields({"t_level": "v9"})  # not a choice: the default, as a run reads it
    assert not next(f for f in unknown if f.name == "t_user").applies


def test_problems_are_placed_at_the_fields_they_name():
    error = ConfigError(
        "configuration is invalid",
        ("Host is bad @ $.config.host", "Token is required @ $.config.token", "other thing"),
    )
    found = problems_of(error, ["host", "token"])
    assert dict(found.by_field) == {"host": ("Host is bad",), "token": ("Token is required",)}
    assert found.general == ("other thing",)
    options = InputError(
        "Search options are invalid: Level expected 1-6, got 'x' @ $.options.level; "
        "unknown field 'z' @ $.options"
    )
    found = problems_of(options, ["level"])
    assert dict(found.by_field) == {"level": ("Level expected 1-6, got 'x'",)}
    assert found.general == ("unknown field 'z' @ $.options",)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-5", "-5"),
        ("-cmd", "'-cmd"),
        ("www.example.com", "www.example.com"),
        (None, ""),
    ],
)
def test_a_csv_cell_a_spreadsheet_would_run_is_kept_as_text(value, cell):
    assert _cell(value) == cell


HOSTILE = "<img src=x onerror=alert(1)>"


def stored_job(host, results):
    """A finished job whose results are ``results``, as the runner stores them."""
    run = {"operation": "dcso_tie", "action": "search", "options": {}}
    inputs = [(r["input"]["type"], r["input"]["value"], "GREEN", None) for r in results]
    job_id = host.store.create_job(run, inputs, "ana")
    for seq, result in enumerate(results):
        host.store.save_results(job_id, [seq], result["status"], json.dumps(result))
    host.store.set_job(job_id, status="done")
    return job_id


def a_result(value, status, verdict, indicators=(), reason=None):
    return {"input": {"type": "FQDN", "value": value}, "status": status, "error": None,
            "reason": reason, "warnings": [], "verdict": verdict,
            "indicators": list(indicators)}  # fmt: skip


def test_the_results_page_says_each_verdict_in_words_before_the_attributes(client):
    severity = f"severity 5/6, confidence 90 on 2025-07-21 {HOSTILE}"
    hit = {"value": "c2.example", "type": "FQDN", "match": "exact", "published_at": None,
           "attributes": [{"name": "Severity", "value": "5", "published_at": None}]}  # fmt: skip
    alike = {**hit, "value": "c2.example.evil.test", "match": "related"}
    why = "its TLP RED is above DCSO TIE's maximum, AMBER"
    job_id = stored_job(
        client.host,
        [
            a_result(
                "c2.example",
                "ok",
                {"level": "malicious", "score": 90, "reasons": [severity]},
                [hit, alike],
            ),
            a_result(
                "red.example",
                "skipped",
                {"level": "unknown", "score": None, "reasons": [f"skipped: {why}"]},
                reason=why,
            ),
            a_result("old.example", "no_results", None),  # stored before verdicts
        ],
    )
    log_in(client)
    page = client.get(f"/console/jobs/{job_id}").text
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    rows = page.split('<tr class="result ')[1:]  # each result's row, to the next one's start
    assert len(rows) == 3
    malicious, skipped, old = rows
    assert 'class="badge verdict-malicious"' in malicious
    assert words(verdict_cell(malicious)).startswith(
        "Verdict: malicious score 90/100 Why c2.example is malicious severity 5/6"
    )
    assert malicious.index("verdict-malicious") < malicious.index("Severity")  # before attributes
    assert "Exact match" in malicious and "Related, not judged" in malicious
    assert (
        words(verdict_cell(skipped))
        == f"Verdict: unknown Why red.example is unknown skipped: {why}"
    )
    assert "Skipped: its TLP RED is above" in skipped
    assert words(verdict_cell(old)) == "none given"


def verdict_cell(row):
    return re.search(r'<td class="verdict">(.*?)</td>', row, re.S).group(1)  # type: ignore[union-attr]


def words(html):
    """The text a screen reader says, HTML escapes undone, spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").replace("&amp;", "&")
    return " ".join(text.replace(" /100", "/100").split())


def test_the_csv_download_carries_each_inputs_verdict_and_each_match(client):
    hit = {"value": "c2.example", "type": "FQDN", "match": "exact", "published_at": None,
           "attributes": [{"name": "Severity", "value": "5", "published_at": None}]}  # fmt: skip
    verdict = {"level": "malicious", "score": 90, "reasons": ["one", "=two"]}
    job_id = stored_job(
        client.host,
        [
            a_result("c2.example", "ok", verdict, [hit, {**hit, "match": "related"}]),
            a_result("old.example", "no_results", None),
        ],
    )
    text = "".join(results_csv(client.host.store, job_id))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["verdict_level"], r["verdict_score"], r["verdict_reasons"]) for r in rows] == [
        ("malicious", "90", "one; =two"),
        ("malicious", "90", "one; =two"),
        ("", "", ""),
    ]
    assert [r["indicator_match"] for r in rows] == ["exact", "related", ""]
    assert [r["attribute_name"] for r in rows] == ["Severity", "Severity", ""]
