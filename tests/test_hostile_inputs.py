"""The hostile-input corpus (tests/cases/hostile.yaml): every bad indicator, option, config
value and manifest gives a one-line error naming the problem, no traceback, and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import cli, one_input

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "hostile.yaml").read_text("utf-8"))
MANIFEST = Path(__file__).resolve().parent.parent / "manifests" / "dcso_tie.yaml"
CREDENTIAL = {"dcso_tie": "access_token", "tego": "license_key"}


def test_the_corpus_holds_at_least_150_cases():
    assert sum(len(CASES[kind]) for kind in CASES) >= 150


@pytest.fixture()
def servers(sim, tego_sim):
    return {"dcso_tie": sim, "tego": tego_sim}


def base(sim: Any, operation: str) -> list[str]:
    return [
        "--config",
        f"hostname={sim.hostname}",
        "--config",
        f"{CREDENTIAL[operation]}=t",
        "--config",
        f"ca_bundle={sim.ca_pem_path}",
    ]


def one_line(text: str) -> bool:
    return text.count("\n") == 1 and text.endswith("\n") and "Traceback" not in text


def _id(case: dict[str, Any]) -> str:
    return repr(case.get("value", case.get("option", case.get("config", case.get("set")))))[:40]


@pytest.mark.parametrize("case", CASES["indicators"], ids=_id)
def test_bad_indicator_is_its_own_error_and_nothing_is_sent(servers, capsys, case):
    sim = servers[case["operation"]]
    sim.clear_requests()
    code, out, err = cli(
        "run",
        case["operation"],
        "search",
        "--type",
        case["type"],
        f"--value={case['value']}",  # the = form: a value may start with '-'
        *base(sim, case["operation"]),
        "--format",
        "json",
        capsys=capsys,
    )
    status = "skipped" if "skipped" in case else "error"  # policy, or a malformed value
    assert code == (1 if status == "error" else 0), err
    (result,) = json.loads(out)["results"]
    assert result["status"] == status
    told = result["reason"] if status == "skipped" else result["error"]
    assert case[status] in told
    assert "\n" not in told and "Traceback" not in err
    assert sim.requests == []


@pytest.mark.parametrize("case", CASES["options"], ids=_id)
def test_bad_option_stops_the_run_before_anything_is_sent(servers, capsys, case):
    sim = servers[case["operation"]]
    sim.clear_requests()
    value = "www.microsoft.com"
    code, out, err = cli(
        *one_input(case["operation"], "FQDN", value),
        *base(sim, case["operation"]),
        "--option",
        case["option"],
        capsys=capsys,
    )
    assert code == 2 and out == ""
    assert one_line(err) and case["error"] in err, err
    assert sim.requests == []


@pytest.mark.parametrize("case", CASES["config"], ids=_id)
def test_bad_config_is_refused_before_anything_is_sent(servers, capsys, case, monkeypatch):
    monkeypatch.delenv("TQOPS_TEST_UNSET_VARIABLE", raising=False)
    sim = servers[case["operation"]]
    sim.clear_requests()
    args = ["run", case["operation"], "search", "--type", "FQDN", "--value", "example.com"]
    for name, value in case["config"].items():
        args += ["--config", f"{name}={value}"]
    code, out, err = cli(*args, capsys=capsys)
    assert code == 2 and out == ""
    assert one_line(err) and case["error"] in err, err
    assert sim.requests == []


def _apply(raw: Any, case: dict[str, Any]) -> Any:
    path = case.get("set") or case.get("delete")
    target = raw
    for key in path[:-1]:
        target = target[key]
    if "delete" in case:
        del target[path[-1]]
    elif isinstance(target, list) and path[-1] >= len(target):
        target.append(case["value"])
    else:
        target[path[-1]] = case["value"]
    return raw


@pytest.mark.parametrize("case", CASES["manifests"], ids=_id)
def test_broken_manifest_is_refused_with_its_path(tmp_path, capsys, case):
    target = tmp_path / "broken.yaml"
    if "raw" in case:
        target.write_text(case["raw"])
    else:
        raw = _apply(yaml.safe_load(MANIFEST.read_text("utf-8")), case)
        target.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, out, err = cli("validate", str(target), capsys=capsys)
    assert code == 2 and err == ""
    assert out.startswith(f"INVALID {target}")
    assert case["error"] in out, out
    if "set" in case or "delete" in case:
        assert "@ $" in out or "feed path" in out
