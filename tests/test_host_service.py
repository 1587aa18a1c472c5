"""The host's one way into the runtime: options checked against the stored configuration
when a job is queued, one read model of an operation whose conditions are the runtime's own,
one TLP order, and one indicator CSV reader whose errors name the right line."""

from __future__ import annotations

import html
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.support.hosting import api_client, free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from tqops.config.values import Config, _validate_fields, validate_options
from tqops.errors import ConfigError, InputError
from tqops.manifest.views import OperationView
from tqops.server.app import create_app
from tqops.server.host import Host, parse_indicator_csv
from tqops.service import Service
from tqops.tlp import LEVELS, Tlp, strictness, tlp_name

PASSWORD = "a password long enough"
SERVICE = Service()
#: a dcso_tie configuration on API v3, which does not take the option ``severity``
TIE_V3 = {"api_version": "v3", "api_user": "client-id", "api_key": "client-secret"}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    found = Host(tmp_path_factory.mktemp("host-service"))
    admin = found.users.add("admin", "admin", PASSWORD)
    found.users.add("ana", "analyst", PASSWORD)
    found.set_config("dcso_tie", TIE_V3, found.users.by_key(admin.api_key))
    return found


@pytest.fixture(scope="module")
def client(host):
    with api_client(host, "ana") as test_client:
        yield test_client


# -- options checked against the configured API version when a job is queued ----------------


def test_an_option_the_configured_api_version_does_not_take_is_refused_at_submission(client):
    before = client.get("/api/v1/jobs").json()
    answer = client.post(
        "/api/v1/jobs",
        json={
            "operation": "dcso_tie",
            "action": "search",
            "options": {"severity": "1-3"},
            "inputs": [{"type": "FQDN", "value": "queued.example"}],
        },
    )
    assert answer.status_code in (400, 422), answer.text
    error = answer.json()["error"]
    assert "\n" not in error
    assert "Severity is not taken by API Version v3 @ $.options.severity" in error
    assert client.get("/api/v1/jobs").json() == before  # nothing was queued


def test_the_service_refuses_the_option_for_the_stored_configuration_only(host):
    stored = host.config("dcso_tie")
    with pytest.raises(InputError, match=r"Severity is not taken by API Version v3"):
        host.service.check_options("dcso_tie", "search", {"severity": "1-3"}, stored)
    v1 = {**TIE_V3, "api_version": "v1"}
    host.service.check_options("dcso_tie", "search", {"severity": "1-3"}, v1)  # v1 takes it
    host.service.check_options("dcso_tie", "search", {}, stored)


# -- the read model's conditions are the runtime's ------------------------------------------


def _value_for(field: Any, tmp: Path) -> Any:
    """A value of the field's type (the runtime may refuse its form; that still shows that
    the field was checked, so that it applies)."""
    if field.type == "checkbox":
        return True  # never "off": an off checkbox is harmless where it is not taken
    if field.type == "number":
        return field.minimum if field.minimum is not None else 1
    if field.type == "select":
        return field.choices[0]
    if field.type == "password":
        return "s3cret-value"
    return {
        "hostname": "vendor.example",
        "file": str(tmp),
        "range": f"{field.minimum or 0:g}-",
        "at_least": f"{field.minimum or 0:g}",
        "date": "2024-01-02",
        "list": "one",
    }.get(field.format or "", "text")


def _variants() -> list[tuple[str, dict[str, str]]]:
    """(operation, its select values) for each installed operation and each value of each
    select field a condition names (and once with the defaults)."""
    cases = []
    for info in SERVICE.operations():
        if info.error:
            continue
        manifest = SERVICE.describe(info.name)
        cases.append((info.name, {}))
        for name in OperationView.of(manifest).values:
            field = manifest.config_field(name)
            cases += [(info.name, {name: choice}) for choice in field.choices]
    return cases


@pytest.mark.parametrize(("name", "selected"), _variants())
def test_the_view_shows_the_fields_and_options_the_runtime_takes(name, selected, tmp_path):
    manifest = SERVICE.describe(name)
    (tmp_path / "ca.pem").write_text("-")
    raw = {f.name: _value_for(f, tmp_path / "ca.pem") for f in manifest.config}
    raw.update(selected)
    view = OperationView.of(manifest, raw)

    values, problems = _validate_fields(manifest.config, raw, "$.config")  # validate_config's
    for field in view.config:
        checked = values.get(field.name) is not None or any(
            p.endswith(f"@ $.config.{field.name}") for p in problems
        )
        assert field.applies == checked, (name, selected, field.name)

    config = Config(manifest, values)
    for action in view.actions:
        spec = manifest.action(action.name)
        for option in action.options:
            given = {option.name: _value_for(option.declared, tmp_path / "ca.pem")}
            try:
                checked = validate_options(spec.options, given, spec.label, config)
                refused = ""
            except InputError as exc:
                refused = str(exc)
                checked = validate_options(spec.options, {}, spec.label, config)
            taken = "is not taken by" not in refused
            assert option.applies == taken, (name, selected, action.name, option.name)
            runtime = next(f for f in checked.fields if f.name == option.name)
            assert (option.default, option.format) == (runtime.default, runtime.format)


def test_the_rest_view_is_the_manifest_as_declared(host, client):
    shown = client.get("/api/v1/operations/dcso_tie").json()
    manifest = host.service.describe("dcso_tie")
    assert [f["name"] for f in shown["config"]] == [f.name for f in manifest.config]
    version = next(f for f in shown["config"] if f["name"] == "api_version")
    assert version["type"] == "select" and version["role"] == "variant"
    assert "secret" in next(f for f in shown["config"] if f["name"] == "api_key")
    assert shown["configured"] is True and shown["max_tlp"] == "AMBER"
    search = next(a for a in shown["actions"] if a["name"] == "search")
    severity = next(o for o in search["options"] if o["name"] == "severity")
    assert severity["when"] == {"terms": [["api_version", ["v1", "v2"]]]}


# -- one TLP order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "level"),
    [
        ("clear", Tlp.CLEAR),
        ("WHITE", Tlp.CLEAR),
        ("TLP:WHITE", Tlp.CLEAR),
        (" tlp:green ", Tlp.GREEN),
        ("Amber", Tlp.AMBER),
        ("AMBER+STRICT", Tlp.AMBER_STRICT),
        ("tlp:amber+strict", Tlp.AMBER_STRICT),
        ("RED", Tlp.RED),
        (None, Tlp.AMBER),
        ("  ", Tlp.AMBER),
    ],
)
def test_a_tlp_level_is_read_by_its_2_0_name(given, level):
    assert Tlp.parse(given) is level


@pytest.mark.parametrize("given", ["PURPLE", "AMBER-STRICT", "TLP:", "2"])
def test_an_unknown_tlp_is_a_one_line_error_naming_the_levels(given):
    with pytest.raises(ConfigError) as caught:
        tlp_name(given)
    assert "unknown TLP" in str(caught.value) and ", ".join(LEVELS) in str(caught.value)


def test_tlp_levels_are_ordered_from_clear_to_red():
    assert LEVELS == ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
    ordered = [Tlp.parse(name) for name in LEVELS]
    assert ordered == sorted(reversed(ordered))
    assert Tlp.AMBER_STRICT > Tlp.AMBER > Tlp.GREEN and Tlp.RED >= Tlp.AMBER_STRICT
    assert Tlp.strictest([Tlp.GREEN, Tlp.RED, Tlp.AMBER]) is Tlp.RED
    assert Tlp.strictest([]) is Tlp.CLEAR
    # what a mapping keeps when records differ: an unknown name never displaces a level
    assert [strictness(n) for n in ("WHITE", "bogus", "", "amber+strict", "RED")] == [0, 0, 0, 3, 4]


def test_the_tlp_gate_holds_back_an_input_above_the_maximum(host):
    """A repeated input goes at its strictest level; above the maximum it is not sent."""
    admin = host.users.by_password("admin", PASSWORD)
    host.set_settings("dcso_tie", {"max_tlp": "GREEN"}, admin)
    try:
        inputs = [
            {"type": "FQDN", "value": "gate.example", "tlp": "white"},
            {"type": "FQDN", "value": "gate.example", "tlp": "amber+strict"},
        ]
        job = host.create_job("dcso_tie", "search", {}, None, inputs, admin)
        host.jobs.wait(job["id"], 30)
        _, rows = host.store.results(job["id"], None, 0, 10)
        assert len(rows) == 2
        assert all("its TLP AMBER+STRICT is above" in row["result"] for row in rows)
    finally:
        host.set_settings("dcso_tie", {"max_tlp": "AMBER"}, admin)


# -- one indicator CSV reader, lines counted from the header ---------------------------------


CSV = (
    "type,value,tlp\n"  # line 1
    "FQDN,good.example,GREEN\n"  # line 2
    "\n"  # line 3: blank, still a line
    "FQDN,caf\xe9.example\n"  # line 4: not UTF-8 (written as Latin-1 below)
    "FQDN,nul\x00.example\n"  # line 5
    "MD5,5d41402abc4b2a76b9719d911017c592\n"  # line 6
)


def test_csv_rows_carry_their_line_in_the_file_and_unreadable_ones_say_it():
    items = parse_indicator_csv(CSV.encode("latin-1"), "iocs.csv")
    assert [item["line"] for item in items] == [2, 4, 5, 6]
    assert items[0] == {"type": "FQDN", "value": "good.example", "tlp": "GREEN", "line": 2}
    assert items[1]["error"].startswith("iocs.csv line 4 is not UTF-8 text")
    assert items[2]["error"] == "iocs.csv line 5 holds a NUL character"
    assert items[3]["tlp"] is None


def test_a_csv_without_a_header_starts_at_line_1():
    items = parse_indicator_csv("FQDN,a.example\nFQDN," + "x" * 20_000 + "\nMD5,zz\n")
    assert [item["line"] for item in items] == [1, 2, 3]
    assert items[1]["error"].startswith("CSV line 2 is longer than")


def test_a_file_that_is_no_csv_is_one_error():
    (item,) = parse_indicator_csv("type,value\n".encode("utf-16"))
    assert "UTF-16" in item["error"] and "line" not in item


def _logged_in(client: TestClient) -> str:
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": "ana", "password": PASSWORD, "csrf": token, "next": "/console/indicators"}
    answer = client.post("/console/login", data=form, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get("/console/indicators").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_the_console_names_each_csv_row_by_its_line_in_the_file(host):
    with TestClient(create_app(host), base_url="http://127.0.0.1") as console:
        csrf = _logged_in(console)
        body = "type,value\nFQDN,console-good.example\n\nNo Such Type,x.example\n"
        answer = console.post(
            "/console/indicators",
            data={"csrf": csrf, "text": ""},
            files={"file": ("upload.csv", body.encode(), "text/csv")},
        )
    assert answer.status_code == 200, answer.text
    added = html.unescape(re.sub(r"<[^>]+>", "", answer.text))
    assert "upload.csv line 4: unknown indicator type" in added
    assert "CSV 2" not in added  # the row's index in the upload is not its line


# -- the result cache belongs to the configuration that filled it -----------------------------


def test_a_configuration_change_never_answers_from_the_old_ones_cache(tmp_path, tie):
    """A look-up cached with one configuration is not an answer for the next: pointed at a
    dead port, the same input is sent (and fails) instead of coming back `ok` from the cache."""
    from tests.support.vendors import tie_config

    host = Host(tmp_path / "data")
    admin = host.users.add("admin", "admin", PASSWORD)
    who = host.users.by_key(admin.api_key)
    host.set_config("dcso_tie", tie_config(tie), who)
    host.set_settings("dcso_tie", {"cache_ttl": 3600}, who)
    inputs = [{"type": "FQDN", "value": "www.microsoft.com"}]

    def status() -> str:
        job = host.create_job("dcso_tie", "search", {}, None, inputs, who)
        host.jobs.wait(job["id"], 30)
        _, rows = host.store.results(job["id"], None, 0, 10)
        (row,) = rows
        return json.loads(row["result"])["status"]

    try:
        tie.clear_requests()
        assert [status(), status()] == ["ok", "ok"]
        assert len(tie.requests) == 1  # the repeat came from the cache
        dead = {**tie_config(tie), "hostname": f"127.0.0.1:{free_port()}"}
        host.set_config("dcso_tie", dead, who)
        assert status() == "error"  # sent to the dead port, not answered from the cache
        host.set_config("dcso_tie", tie_config(tie), who)
        assert status() == "ok"
    finally:
        host.stop()
