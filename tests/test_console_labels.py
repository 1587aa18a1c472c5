"""Labels, not internal names, where a person reads: the upgrade report names configuration
fields, actions and options by their manifest's labels (the REST answer keeps the names in
``what`` and adds the words in ``text``), and the audit log page says each entry in words
(what was done, to which operation or action by its label, which fields by theirs, counts with
their grammar), against a real `tqops serve`, the DCSO TIE simulator and a real browser."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, expect

from simulators import TieSimulator
from tests.support.axe import assert_no_violations
from tests.support.browser import Watched, log_in
from tests.support.hosting import RunningHost, wait_for
from tests.support.protocols import protocol_host
from tests.test_console_flow import next_version
from tqops.manifest.document import Manifest
from tqops.publishing.upgrade import compare
from tqops.service import Service

MANIFEST = Path(__file__).resolve().parent.parent / "dcso_tie_operation" / "dcso_tie.yaml"


def _raw() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def _option(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in raw["actions"][0]["options"] if o["name"] == name)


def test_the_upgrade_report_names_fields_actions_and_options_by_their_labels() -> None:
    old = _raw()
    new = copy.deepcopy(old)
    new["version"] = "9.0.0"
    new["config"] = [f for f in new["config"] if f["name"] != "timeout"]  # removed
    new["config"].append(
        {"name": "tenant", "label": "Tenant", "type": "text", "required": True,
         "description": "The DCSO tenant."}
    )  # fmt: skip
    _option(new, "confidence")["maximum"] = 50
    _option(new, "severity")["label"] = "Severity Range"
    new["actions"][0]["options"] = [
        o for o in new["actions"][0]["options"] if o["name"] != "family"
    ]
    texts = {
        c.text: c.needs_action for c in compare(Manifest.from_dict(old), Manifest.from_dict(new))
    }
    assert texts == {
        f"Version {old['version']} to 9.0.0": False,
        "Configuration field “Timeout” removed": True,
        "Configuration field “Tenant” added (required, no default: must be filled in)": True,
        "Option “Confidence” of “Search DCSO TIE”: its maximum changes from 100 to 50": True,
        "Option “Severity” of “Search DCSO TIE” is renamed “Severity Range”": False,
        "Option “Family” of “Search DCSO TIE” removed": True,
    }


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, tie: TieSimulator) -> Iterator[RunningHost]:
    root = tmp_path_factory.mktemp("console-labels")
    Service().bundle("dcso_tie", root / "dist")
    with protocol_host(root / "data", tie) as running:
        running.dist = root / "dist"
        yield running


def _upload(host: RunningHost, path: Path, **params: str) -> Any:
    with open(path, "rb") as handle:
        return host.api(host.users["admin"]["api_key"]).post(
            f"{host.url}/api/v1/integrations", params=params, files={"file": (path.name, handle)}
        )


def test_the_rest_upgrade_report_keeps_the_names_and_adds_the_labels(
    host: RunningHost, tmp_path: Path
) -> None:
    (wheel,) = Path(host.dist).glob("tq_op_dcso_tie-*.whl")
    assert _upload(host, wheel).json()["installed"] is True
    try:
        answer = _upload(host, next_version(wheel, tmp_path))
        assert answer.status_code == 200, answer.text
        changes = answer.json()["upgrade"]["changes"]
        added = next(c for c in changes if "region" in c["what"])
        assert added == {
            "what": "config field 'region' added (optional)",
            "text": "Configuration field “Region” added (optional)",
            "needs_action": False,
        }
    finally:
        admin = host.api(host.users["admin"]["api_key"])
        assert admin.delete(f"{host.url}/api/v1/integrations/dcso_tie").status_code == 200


@pytest.mark.browser
def test_the_audit_log_says_each_entry_in_words(
    host: RunningHost, sim: TieSimulator, browser: Browser
) -> None:
    admin = host.api(host.users["admin"]["api_key"])
    analyst = host.api(host.users["analyst"]["api_key"])
    settings = f"{host.url}/api/v1/operations/dcso_tie/settings"
    assert admin.put(settings, json={"cache_ttl": 0}).status_code == 200
    one = [{"type": "FQDN", "value": "one-more.labels.example"}]
    added = analyst.post(f"{host.url}/api/v1/indicators", json={"indicators": one})
    assert added.status_code == 201, added.text
    job = analyst.post(
        f"{host.url}/api/v1/jobs",
        json={"operation": "dcso_tie", "action": "search",
              "inputs": [{"type": "FQDN", "value": "labels.example"}]},
    )  # fmt: skip
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    wait_for(lambda: analyst.get(f"{host.url}/api/v1/jobs/{job_id}").json()["status"] == "done")
    watched = Watched(browser, host.url)
    try:
        page = watched.page
        log_in(page, "admin@example.com", str(host.users["admin"]["password"]))
        page.goto("/console/audit")
        log = page.get_by_role("table")
        row = log.locator('tr[data-code="configure"]').first
        expect(row).to_contain_text("configured")
        expect(row).to_contain_text("DCSO TIE")
        expect(row).to_contain_text(re.compile(r"fields: .*Access Token"))
        row = log.locator('tr[data-code="settings"]').first
        expect(row).to_contain_text("changed the host's settings of")
        expect(row).to_contain_text("Cache TTL (seconds): off")
        row = log.locator('tr[data-code="run"]').first
        expect(row).to_contain_text("ran")
        expect(row).to_contain_text("Search DCSO TIE")
        expect(row).to_contain_text(f"job {job_id}, 1 input")
        row = log.locator('tr[data-code="add-indicators"]').first
        expect(row).to_contain_text("added")
        expect(row).to_contain_text("1 new indicator")
        row = log.locator('tr[data-code="login"]').first
        expect(row).to_contain_text("logged in to")
        expect(row).to_contain_text("the console")
        text = log.inner_text()
        for code in ("dcso_tie", "access_token", "1 inputs", "cache_ttl", "1 added", "indicators"):
            assert code not in text, code
        assert_no_violations(page, "the audit log, with entries of every kind")
    finally:
        watched.close()
    assert watched.problems == []
