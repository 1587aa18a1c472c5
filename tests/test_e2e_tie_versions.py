"""End to end: `tqops` against the TIE simulator's v2 and v3 over real HTTPS on loopback, each
with its own authentication; options and credentials refused before anything is sent; the
credential in no output; offline mapping by the configured version."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import dcso_tie_operation.client as tie_client
from tests.support.cli import cli, flags, one_input
from tests.support.vendors import TIE_KEY, TIE_TOKEN, TIE_USER

FORMS = (
    TIE_KEY,
    TIE_KEY.lower(),
    base64.b64encode(f"{TIE_USER}:{TIE_KEY}".encode()).decode(),
    TIE_KEY[7:],
)
SAMPLES = Path(tie_client.__file__).parent / "samples"


@pytest.fixture(autouse=True)
def _key_in_the_environment(monkeypatch):
    monkeypatch.setenv("TQOPS_E2E_TIE_KEY", TIE_KEY)


def config_args(sim: Any, version: str, key: str = "env:TQOPS_E2E_TIE_KEY") -> list[str]:
    fields = {
        "api_version": version,
        "hostname": sim.hostname,
        "api_user": TIE_USER,
        "api_key": key,
        "ca_bundle": sim.ca_pem_path,
    }
    return flags("--config", fields)


def run(sim: Any, version: str, capsys: Any, *extra: str, value: str = "evil-cdn.com"):
    return cli(
        *one_input("dcso_tie", "FQDN", value),
        *config_args(sim, version),
        *extra,
        capsys=capsys,
    )


def assert_no_credential(*texts: str) -> None:
    for text in texts:
        assert not [form for form in FORMS if form in text]


def test_v3_sends_basic_auth_and_the_ioc_parameter_and_follows_next_pages(sim, capsys, monkeypatch):
    monkeypatch.setattr(tie_client, "PAGE_SIZE", 50)  # 120 *.evil-cdn.com IOCs: 3 pages
    code, out, err = run(sim, "v3", capsys, "--format", "json")
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "ok" and len(result["indicators"]) == 120
    assert result["warnings"] == []
    requests = [r for r in sim.requests if r.path == "/tie/v3/iocs"]
    assert len(requests) == 3
    expected = "Basic " + base64.b64encode(f"{TIE_USER}:{TIE_KEY}".encode()).decode()
    assert all(r.headers["authorization"] == expected for r in requests)
    assert requests[0].query == {"ioc": ["evil-cdn.com"], "limit": ["50"]}
    assert (
        "next" not in requests[0].query
        and requests[1].query["next"]
        and requests[2].query["next"] != requests[1].query["next"]
    )
    indicator = result["indicators"][0]
    assert indicator["type"] == "FQDN" and indicator["sources"][0]["tlp"]["name"]
    assert {a["name"] for a in indicator["attributes"]} >= {"Confidence", "TLP", "Created"}
    assert_no_credential(out, err)


def test_v3_looks_hashes_up_without_their_prefix(sim, capsys):
    sha1 = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
    code, out, err = cli(
        *one_input("dcso_tie", "SHA-1", sha1),
        *config_args(sim, "v3"),
        "--option",
        "confidence=60-",
        "--format",
        "json",
        capsys=capsys,
    )
    assert code == 0, err
    (request,) = sim.requests
    assert request.query == {"ioc": [sha1], "minConfidence": ["60"], "limit": ["500"]}
    (indicator,) = json.loads(out)["results"][0]["indicators"]
    assert (indicator["type"], indicator["value"]) == ("SHA-1", sha1)


def test_v2_sends_basic_auth_the_v1_family_and_follows_link_pages(sim, capsys, monkeypatch):
    monkeypatch.setattr(tie_client, "PAGE_SIZE", 50)
    code, out, err = run(sim, "v2", capsys, "--option", "severity=1-", "--format", "json")
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "ok" and result["warnings"] == []
    requests = [r for r in sim.requests if r.path == "/tie/v1/iocs"]
    assert len(requests) >= 2 and requests[0].headers["authorization"].startswith("Basic ")
    assert requests[0].query == {
        "value": ["evil-cdn.com"],
        "exact": ["false"],
        "data_type": ["DomainName"],
        "severity": ["1-"],
        "limit": ["50"],
    }
    assert requests[1].query["offset"] == ["50"]
    names = {a["name"] for i in result["indicators"] for a in i["attributes"]}
    assert {"Severity", "Confidence", "Categories", "Feed Source", "misp-uuid"} <= names
    assert_no_credential(out, err)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--option", "last_seen_since=2024-01-01"],
            "Last Seen Since is not taken by API Version v3 @ $.options.last_seen_since",
        ),
        (["--option", "confidence=60-80"], "minimum only, got '60-80' @ $.options.confidence"),
        (["no api_key"], "API Key is required with API Version v3 @ $.config.api_key"),
    ],
)
def test_what_the_version_does_not_take_is_one_line_exit_2_and_nothing_sent(
    sim, capsys, extra, message
):
    args = config_args(sim, "v3")
    if extra == ["no api_key"]:  # the credential left out
        at = args.index("api_key=env:TQOPS_E2E_TIE_KEY")
        del args[at - 1 : at + 1]
        extra = []
    code, out, err = cli(
        *one_input("dcso_tie", "FQDN", "a.example"),
        *args,
        *extra,
        capsys=capsys,
    )
    assert code == 2 and out == "" and sim.requests == []
    assert err.count("\n") == 1 and message in err
    assert_no_credential(out, err)


def test_test_connection_speaks_the_configured_version(sim, capsys):
    code, out, err = cli("test-connection", "dcso_tie", *config_args(sim, "v3"), capsys=capsys)
    assert code == 0, out + err
    assert "(API v3) accepted the credential" in out
    assert {r.path for r in sim.requests} == {"/tie/v3/iocs"}
    code, out, err = cli(
        "test-connection", "dcso_tie", *config_args(sim, "v2", key=TIE_KEY + "x"), capsys=capsys
    )
    assert code == 1 and "rejected the api user and api key (HTTP 401" in out
    assert_no_credential(out, err)


def test_the_credential_appears_in_no_output_even_at_debug(sim, capsys):
    for version in ("v2", "v3"):
        for fmt in ("json", "jsonl", "table"):
            code, out, err = cli(
                "-vv",
                *one_input("dcso_tie", "FQDN", "www.microsoft.com"),
                *config_args(sim, version, key=TIE_KEY),
                "--format",
                fmt,
                capsys=capsys,
            )
            assert code == 0, err
            assert_no_credential(out, err)


def test_a_drifted_record_is_one_warning_in_a_run(sim, capsys):
    extra = {**sim.iocs[2], "novel_score": 3}  # one of the *.evil-cdn.com IOCs
    sim.iocs.append(extra)
    try:
        code, out, err = cli(
            "run",
            "dcso_tie",
            "search",
            *("--type", "FQDN", "--value", extra["value"]),
            *("--type", "FQDN", "--value", extra["value"]),
            *("--config", f"hostname={sim.hostname}", "--config", f"access_token={TIE_TOKEN}"),
            *("--config", f"ca_bundle={sim.ca_pem_path}", "--format", "json"),
            capsys=capsys,
        )
    finally:
        sim.iocs.pop()
    assert code == 0, out + err
    told = [w for r in json.loads(out)["results"] for w in r["warnings"]]
    assert told == ["DCSO TIE returned fields this operation does not map: novel_score"]


# -- offline: tqops map with the configured version ----------------------------------------


def test_map_uses_the_configured_versions_table_and_refuses_another_shape(tmp_path, capsys):
    page = str(SAMPLES / "v3" / "tie_v3_page.json")
    code, out, err = cli(
        "map", "dcso_tie", "search", page, "--config", "api_version=v3", capsys=capsys
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["variant"] == "v3" and len(document["indicators"]) == 15
    config = tmp_path / "tie.yaml"
    config.write_text("api_version: v3\napi_user: someone\n")
    code, out, _ = cli(
        "map", "dcso_tie", "search", page, "--config-file", str(config), capsys=capsys
    )
    assert code == 0 and json.loads(out)["variant"] == "v3"
    code, out, err = cli("map", "dcso_tie", "search", page, capsys=capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "does not fit API Version v1: expected an object with the list 'iocs'" in err
    code, out, err = cli(
        "map", "dcso_tie", "search", page, "--config", "api_version=v9", capsys=capsys
    )
    assert code == 2 and "API Version expected one of v1, v2, v3" in err


def test_map_coverage_and_warnings_in_the_table(capsys):
    page = str(SAMPLES / "legacy_iocs.json")
    code, out, err = cli("map", "dcso_tie", "search", page, "--coverage", capsys=capsys)
    assert code == 0, err
    coverage = json.loads(out)["coverage"]
    rows = {(r["path"], r["makes"]): r["records"] for r in coverage["rows"]}
    assert coverage["records"] == 3 and rows[(".iocs[].min_severity", "Severity")] == 3
    assert {"key": "min_seq", "records": 3, "ignored": True} in coverage["unread"]
    v3 = str(SAMPLES / "v3" / "tie_v3_page.json")
    code, out, err = cli(
        "map",
        "dcso_tie",
        "search",
        v3,
        "--config",
        "api_version=v3",
        "--format",
        "table",
        "--coverage",
        capsys=capsys,
    )
    assert code == 0, err
    assert "| warning" in out and "domainPort" in out
    assert "Coverage of 16 record(s):" in out and "eventIDs" in out
