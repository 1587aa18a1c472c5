"""axe-core on every console page and state the other browser tests do not check, in a real
browser against `tqops serve` and the DCSO TIE simulator: the login page (empty, and after a
wrong password), the Run page (an operation that can run, one not configured, one disabled,
an option refused, no selection), the indicators-added notice, users (the list, a password
reset's shown-once password, a refused reset), the audit log, integrations (the list, for an
admin and for a viewer, an upload refused, an upgrade report), the configuration page (its
advanced settings open, fields refused, settings saved) and Test Connection's outcome, the
account page (as it is, a refused change) and the error page. Each state: no violation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from tests.support.axe import assert_no_violations
from tests.support.browser import Watched, choose_action, log_in
from tests.support.hosting import RunningHost
from tests.support.protocols import protocol_host
from tests.test_console_flow import next_version
from tqops.service import Service

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, tie: TieSimulator) -> Iterator[RunningHost]:
    """A host of its own (an upgrade is uploaded here), with three indicators stored."""
    root = tmp_path_factory.mktemp("console-axe")
    Service().bundle("dcso_tie", root / "dist")
    with protocol_host(root / "data", tie) as running:
        running.dist = root / "dist"
        added = running.api(running.users["analyst"]["api_key"]).post(
            f"{running.url}/api/v1/indicators",
            json={
                "indicators": [
                    {"type": "FQDN", "value": "www.microsoft.com"},
                    {"type": "IP Address", "value": "203.0.113.9"},
                    {"type": "CIDR Block", "value": "10.0.0.0/8"},
                ]
            },
        )
        assert added.status_code == 201, added.text
        yield running


@pytest.fixture()
def watched(browser: Browser, host: RunningHost) -> Iterator[Watched]:
    found = Watched(browser, host.url)
    yield found
    found.close()
    assert found.problems == []  # no alert, no page error, no CSP refusal


def enter(page: Page, host: RunningHost, role: str) -> None:
    log_in(page, f"{role}@example.com", str(host.users[role]["password"]))


def admin_api(host: RunningHost) -> Any:
    return host.api(host.users["admin"]["api_key"])


def test_the_login_page_empty_and_after_a_wrong_password(watched: Watched) -> None:
    page = watched.page
    page.goto("/console/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert_no_violations(page, "the login page")
    page.get_by_label("User name").fill("admin@example.com")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_violations(page, "the login page after a wrong password")


def test_the_run_page_in_each_state(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "analyst")
    page.goto("/console/run")
    expect(page.get_by_role("alert")).to_contain_text("No indicators are selected")
    assert_no_violations(page, "the run page, nothing selected")

    page.goto("/console/indicators")
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()
    choose_action(page, "dcso_tie/search")
    expect(page.locator("#action-details")).to_contain_text("does not take CIDR Block (1)")
    assert_no_violations(page, "the run page, an operation that can run")
    page.get_by_label("Confidence").fill("lots")
    page.get_by_role("button", name="Run Search DCSO TIE").click()
    expect(page.locator("#f-option-confidence-error")).to_contain_text("expected a number")
    assert_no_violations(page, "the run page, an option refused")

    choose_action(page, "tego/search")
    expect(page.locator("#action-details").get_by_role("alert")).to_contain_text(
        "Tego is not configured"
    )
    assert_no_violations(page, "the run page, an operation not configured")

    url = f"{host.url}/api/v1/operations/dcso_tie/settings"
    assert admin_api(host).put(url, json={"enabled": False}).status_code == 200
    try:
        page.goto("/console/run?scope=filter")
        choose_action(page, "dcso_tie/search")
        expect(page.locator("#action-details").get_by_role("alert")).to_contain_text(
            "DCSO TIE is disabled"
        )
        assert_no_violations(page, "the run page, an operation disabled")
    finally:
        assert admin_api(host).put(url, json={"enabled": True}).status_code == 200


def test_the_indicators_added_notice(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "analyst")
    page.goto("/console/indicators")
    page.locator("summary", has_text="Add indicators").click()
    page.get_by_label("Paste indicators, one per line").fill(
        "axe-one[.]example\nFQDN,axe-two.example\nwhat is this\n"
    )
    page.get_by_role("button", name="Add indicators").click()
    added = page.locator("#added")
    expect(added).to_contain_text("2 new indicators added")
    expect(added).to_contain_text("is not recognised")
    assert_no_violations(page, "the indicators page, with the added notice and a refused line")


def test_users_a_reset_password_and_a_refused_reset(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "admin")
    page.goto("/console/users")
    expect(page.get_by_role("table")).to_contain_text("viewer@example.com")
    assert_no_violations(page, "the users list")
    row = page.get_by_role("row").filter(has_text="viewer@example.com")
    row.locator("summary").click()
    assert_no_violations(page, "the users list, a reset unfolded")
    row.get_by_role("button", name=re.compile("^Reset password")).click()
    expect(page.locator("#shown-once")).to_contain_text("A new password for viewer@example.com")
    host.users["viewer"]["password"] = page.locator("#made-password").inner_text()
    assert_no_violations(page, "the users list, a reset password shown once")

    row = page.get_by_role("row").filter(has_text="viewer@example.com")
    row.locator("summary").click()
    row.get_by_label("New password for viewer@example.com").fill("short")
    row.get_by_role("button", name=re.compile("^Reset password")).click()
    expect(page.get_by_role("alert")).to_contain_text("is not changed")
    assert_no_violations(page, "the users list, a reset refused")

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("table")).to_contain_text("viewer@example.com")
    assert_no_violations(page, "the audit log")


def test_the_account_page_and_a_refused_change(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "analyst")
    page.get_by_role("link", name="analyst@example.com").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert_no_violations(page, "the account page")
    page.get_by_label("Current password").fill("not the current one")
    page.get_by_label("New password (at least 12 characters)").fill("short")
    page.get_by_label("New password again").fill("other")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("p.error").first).to_be_visible()
    assert_no_violations(page, "the account page, a change refused")


def test_the_error_page(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "viewer")
    page.goto("/console/jobs/987654")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert_no_violations(page, "the error page, not found")
    page.goto("/console/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    assert_no_violations(page, "the error page, not allowed")


def test_integrations_for_a_viewer(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "viewer")
    page.get_by_role("link", name="Integrations").click()
    expect(page.get_by_role("table")).to_contain_text("DCSO TIE")
    assert_no_violations(page, "the integrations list, as a viewer")


def test_test_connection_outcome(host: RunningHost, watched: Watched) -> None:
    page = watched.page
    enter(page, host, "admin")
    page.goto("/console/operations/dcso_tie")
    page.get_by_role("button", name="Test Connection").click()
    expect(page.locator("#connection")).to_contain_text("The connection works")
    assert_no_violations(page, "the configuration page, a connection tested")
    page.goto("/console/operations/tego")
    page.get_by_role("button", name="Test Connection").click()
    expect(page.locator("#connection")).to_contain_text("The connection was not tested")
    assert_no_violations(page, "the configuration page, a configuration that cannot be tested")


def test_the_configuration_page_with_errors_and_its_settings_saved(
    host: RunningHost, watched: Watched
) -> None:
    page = watched.page
    enter(page, host, "admin")
    page.goto("/console/operations/tego")
    page.get_by_text("Advanced settings").click()
    assert_no_violations(page, "the configuration page, advanced settings open")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    assert_no_violations(page, "the configuration page, fields refused")
    page.get_by_label("Cache TTL (seconds)").fill("60")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").first).to_contain_text("settings of Tego are saved")
    assert_no_violations(page, "the configuration page, settings saved")


def test_integrations_an_upload_refused_and_an_upgrade_report(
    host: RunningHost, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    enter(page, host, "admin")
    page.get_by_role("link", name="Integrations").click()
    assert_no_violations(page, "the integrations list, as an admin")

    junk = tmp_path / "not-a-wheel-1.0-py3-none-any.whl"
    junk.write_bytes(b"this is no zip file")
    page.get_by_label("Integration file").set_input_files(str(junk))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_violations(page, "the integrations list, an upload refused")

    (wheel,) = Path(host.dist).glob("tq_op_dcso_tie-*.whl")
    newer = next_version(wheel, tmp_path)
    page.get_by_label("Integration file").set_input_files(str(wheel))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("is installed")
    assert_no_violations(page, "the integrations list, an upload installed")
    page.get_by_label("Integration file").set_input_files(str(newer))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Upgrade DCSO TIE")
    assert_no_violations(page, "the upgrade report")
    page.get_by_role("button", name="Confirm: install 2.0.0").click()
    expect(page.get_by_role("status")).to_contain_text("upgraded to 2.0.0")

    page.get_by_label("Integration file").set_input_files(str(wheel))  # older: forceable
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("button", name=re.compile("anyway"))).to_be_visible()
    assert_no_violations(page, "the integrations list, an older version refused (forceable)")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Remove DCSO TIE").click()
    expect(page.get_by_role("status")).to_contain_text("The integration is removed.")
