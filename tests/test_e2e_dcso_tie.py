"""End to end: the `tqops` CLI against the TIE simulator over real HTTPS on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

import dcso_tie_operation.client as tie_client
from tests.support.cli import cli, flags, one_input
from tests.support.vendors import TIE_TOKEN, tie_config


def config_args(sim: Any, token: str = TIE_TOKEN, **extra: Optional[str]) -> list[str]:
    return flags("--config", tie_config(sim, token, **extra))


def search(
    sim: Any,
    capsys: Any,
    kind: str,
    value: str,
    *more: str,
    fmt: Optional[str] = "json",
    **config: Optional[str],
) -> tuple[int, str, str]:
    """``tqops run dcso_tie search MORE --format FMT`` of one input against ``sim``
    (``config`` as :func:`config_args` takes it)."""
    formats = ("--format", fmt) if fmt else ()
    args = [*one_input("dcso_tie", kind, value), *config_args(sim, **config), *more, *formats]
    return cli(*args, capsys=capsys)


def search_requests(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.path == "/api/v1/iocs-with-context"]


#: the options of the guide's example
GUIDE_OPTIONS = {"severity": "1-4", "category": "!parking, !spam"}


def test_guide_example_sends_tie_parameters_and_maps_the_guide_table(sim, capsys):
    code, out, err = search(
        sim,
        capsys,
        "FQDN",
        "www.microsoft.com",
        *flags("--option", GUIDE_OPTIONS),
        ca_bundle=None,
        verify_ssl="false",
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["operation"] == "dcso_tie" and document["action"] == "search"
    (result,) = document["results"]
    assert result["input"] == {"type": "FQDN", "value": "www.microsoft.com"}
    assert result["status"] == "ok" and result["error"] is None
    (request,) = search_requests(sim)
    assert request.headers["authorization"] == f"Bearer {TIE_TOKEN}"
    assert request.query["value"] == ["www.microsoft.com"]
    assert request.query["data_type"] == ["DomainName"]
    assert request.query["exact"] == ["false"]
    assert request.query["severity"] == ["1-4"]
    assert request.query["category"] == ["!parking,!spam"]
    by_value = {i["value"]: i for i in result["indicators"]}
    sample = by_value["www.microsoft.com.msonlinemicrosoft.com"]
    assert sample["type"] == "FQDN"
    assert sample["published_at"] == "2020-03-16T14:56:56Z"
    attributes = {(a["name"], a["value"]) for a in sample["attributes"]}
    assert {
        ("Severity", "2"),
        ("Confidence", "80"),
        ("Hotness", "0.0"),
        ("Gamma", "3.85e-06"),
        ("First Seen", "2020-03-16T14:56:56Z"),
    } <= attributes
    assert TIE_TOKEN not in out + err


#: the options of the issue's example, as an analyst types them
ISSUE_OPTIONS = {
    "severity": "2-4",
    "category": "phishing, c2-server",
    "confidence": "70",
    "last_seen_since": "2020-01-29",
    "family": "guload",
    "actor": " TA505 ",
    "wildcard_suffix": "yes",
}


def test_issue_example_options_become_tie_parameters(sim, capsys):
    code, _, err = search(
        sim, capsys, "FQDN", "www.microsoft.com", *flags("--option", ISSUE_OPTIONS)
    )
    assert code == 0, err
    (request,) = search_requests(sim)
    assert request.query == {
        "value": ["www.microsoft.com%"],
        "exact": ["false"],
        "data_type": ["DomainName"],
        "severity": ["2-4"],
        "category": ["phishing,c2-server"],
        "confidence": ["70"],
        "last_seen_since": ["2020-01-29"],
        "family": ["guload"],
        "actor": ["TA505"],
        "limit": ["500"],
    }


def test_observation_attributes_are_published_at_their_observation(sim, capsys):
    code, out, _ = search(sim, capsys, "FQDN", "software-download.trillium.cam")
    assert code == 0
    (result,) = json.loads(out)["results"]
    indicator = next(
        i
        for i in result["indicators"]
        if i["value"] == "www.microsoft.com/software-download.trillium.cam"
    )
    attributes = {(a["name"], a["value"]): a["published_at"] for a in indicator["attributes"]}
    assert attributes[("killchain", "c2")] == "2020-05-26T02:37:55Z"
    assert attributes[("Categories", "c2-server")] == "2020-05-26T02:37:55Z"
    assert indicator["published_at"] == "2020-05-26T02:37:55Z"


def test_every_page_is_followed(sim, capsys, monkeypatch):
    monkeypatch.setattr(tie_client, "PAGE_SIZE", 50)
    code, out, _ = search(sim, capsys, "FQDN", "evil-cdn.com")
    assert code == 0
    (result,) = json.loads(out)["results"]
    pages = search_requests(sim)
    assert len(pages) >= 3
    offsets = [r.query.get("offset", ["0"])[0] for r in pages]
    assert len(set(offsets)) == len(offsets)
    values = [i["value"] for i in result["indicators"]]
    assert len(values) == len(set(values)) > 100


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("confidence=abc", "Confidence"),
        ("last_seen_since=2024-02-30", "2024-02-30"),
        ("severity=5-2", "reversed"),
        ("severity=7", "outside"),
        ("category=a,,b", "empty"),
    ],
)
def test_bad_option_is_one_line_and_sends_nothing(sim, capsys, option, expected):
    code, out, err = search(sim, capsys, "FQDN", "example.com", "--option", option, fmt=None)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and expected in err
    assert "Traceback" not in err
    assert sim.requests == []


def test_rejected_token_is_reported_clearly_and_never_shown(sim, capsys):
    wrong = "wrong-token-a8d1e0c2f4"
    code, out, err = search(sim, capsys, "FQDN", "example.com", token=wrong)
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert result["status"] == "error"
    assert "rejected the access token (HTTP 401" in result["error"]
    assert "check the access_token field" in result["error"]
    assert wrong not in out + err and TIE_TOKEN not in out + err
    assert len(search_requests(sim)) == 1  # a 401 is not retried


def test_untrusted_certificate_is_refused_in_one_line(sim, capsys):
    code, out, _err = cli(
        "test-connection", "dcso_tie", *config_args(sim, ca_bundle=None), capsys=capsys
    )
    assert code == 1
    assert out.count("\n") == 1
    assert out.startswith("FAILED DCSO TIE tls: certificate") and "ca_bundle" in out
    assert sim.requests == []


def test_test_connection_succeeds_with_the_test_ca(sim, capsys):
    code, out, _ = cli("test-connection", "dcso_tie", *config_args(sim), capsys=capsys)
    assert code == 0
    assert out.startswith("OK ") and TIE_TOKEN not in out


def test_one_bad_indicator_does_not_stop_the_others(sim, capsys, tmp_path):
    rows = [
        "type,value",
        "FQDN,www.microsoft.com",
        "IP Address,999.1.1.1",
        "Bogus Type,x",
        "MD5,nothex",
        "Email Address,billing@paypa1-secure.com",
    ]
    source = tmp_path / "selected.csv"
    source.write_text("\n".join(rows) + "\n")
    code, out, _ = cli(
        "run",
        "dcso_tie",
        "search",
        "--input",
        str(source),
        *config_args(sim),
        "--format",
        "json",
        "--concurrency",
        "4",
        capsys=capsys,
    )
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["input"]["value"] for r in results] == [row.split(",", 1)[1] for row in rows[1:]]
    statuses = [r["status"] for r in results]
    assert statuses[0] == "ok" and statuses[1:4] == ["error"] * 3
    assert statuses[4] in ("ok", "no_results")
    assert all("\n" not in (r["error"] or "") for r in results)
    sent = {r.query["value"][0] for r in search_requests(sim)}
    assert sent == {"www.microsoft.com", "billing@paypa1-secure.com"}


def test_jsonl_streams_one_line_per_input(sim, capsys):
    code, out, _ = cli(
        *one_input("dcso_tie", "FQDN", "www.microsoft.com"),
        "--type",
        "IP Address",
        "--value",
        "203.0.113.7",
        *config_args(sim),
        "--format",
        "jsonl",
        capsys=capsys,
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["input"]["value"] for line in lines) == ["203.0.113.7", "www.microsoft.com"]
    ip = next(line for line in lines if line["input"]["value"] == "203.0.113.7")
    assert any(i["value"] == "203.0.113.7" and i["type"] == "IP Address" for i in ip["indicators"])


def test_table_output_is_readable(sim, capsys):
    code, out, _ = search(sim, capsys, "FQDN", "www.microsoft.com", fmt=None)
    assert code == 0
    assert "www.microsoft.com.msonlinemicrosoft.com" in out
    assert "Severity: 2" in out
    assert "1 input(s): 1 ok" in out


def test_console_script_runs_in_a_subprocess(sim, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PROXY")}
    env["TIE_TOKEN_FOR_TEST"] = TIE_TOKEN
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tqops.cli",
            *one_input("dcso_tie", "IP Address", "203.0.113.7"),
            "--config",
            f"hostname={sim.hostname}",
            "--config",
            "access_token=env:TIE_TOKEN_FOR_TEST",
            "--config",
            f"ca_bundle={sim.ca_pem_path}",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    (result,) = json.loads(completed.stdout)["results"]
    assert result["status"] == "ok"
    assert TIE_TOKEN not in completed.stdout + completed.stderr


def test_validate_and_describe_and_list(capsys):
    assert cli("list", capsys=capsys)[1].startswith("dcso_tie")
    code, out, _ = cli("validate", capsys=capsys)
    assert code == 0 and "OK dcso_tie" in out
    code, out, _ = cli("describe", "dcso_tie", "--format", "json", capsys=capsys)
    described = json.loads(out)
    assert [f["name"] for f in described["config"]][:6] == [
        "hostname",
        "api_version",
        "access_token",
        "api_user",
        "api_key",
        "use_proxy",
    ]
    broken = Path(__file__).parent / "fixtures" / "broken_manifest.yaml"
    code, out, _ = cli("validate", str(broken), capsys=capsys)
    assert code == 2 and "$.actions[0]" in out


def test_a_value_starting_with_a_dash_is_a_value_not_an_option(sim, capsys):
    code, out, err = search(sim, capsys, "Filename", "-dropper.exe")
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["input"] == {"type": "Filename", "value": "-dropper.exe"}
    (request,) = search_requests(sim)
    assert request.query["value"] == ["-dropper.exe"]
