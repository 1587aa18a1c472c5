"""Configuration that cannot be missed, in a real browser against `tqops serve` over TLS and the
DCSO TIE simulator: Test Connection shows every outcome (a configuration it cannot test, in the
fields' labels; a request the host refused; a host that does not answer); "Test these values"
tests the form before it is saved (a secret left blank is the saved one) and stores nothing;
an outcome gives way when the form changes; and the Run page marks an operation that is not
configured or disabled, keeps its Run button disabled with the reason, and the host refuses a
run of it in one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from tests.support.browser import (
    UNLABELLED,
    Watched,
    choose_action,
    csrf_of,
    log_in,
    post_from,
)
from tests.support.hosting import RunningHost, add_user, free_port

pytestmark = pytest.mark.browser

TOKEN = "console-config-token-7d2a"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("console-config")
    users = {role: add_user(root / "data", role, role) for role in ("admin", "analyst")}
    with TieSimulator(token=TOKEN) as tie, RunningHost(root / "data") as host:
        analyst = host.api(users["analyst"]["api_key"])
        added = analyst.post(
            f"{host.url}/api/v1/indicators",
            json={"indicators": [{"type": "FQDN", "value": "www.microsoft.com"}]},
        )
        assert added.status_code == 201, added.text
        yield {"host": host, "tie": tie, "users": users}


@pytest.fixture()
def watched(browser: Browser, setup: dict[str, Any]) -> Iterator[Watched]:
    found = Watched(browser, setup["host"].url)
    yield found
    found.close()
    assert found.problems == []  # no alert, no page error, no CSP refusal


def _admin(page: Page, setup: dict[str, Any]) -> None:
    log_in(page, "admin", setup["users"]["admin"]["password"])


def _stored(setup: dict[str, Any]) -> dict[str, Any]:
    host = setup["host"]
    admin = host.api(setup["users"]["admin"]["api_key"])
    return admin.get(f"{host.url}/api/v1/operations/dcso_tie/config").json()


def test_test_connection_of_an_unconfigured_operation_says_what_is_missing(setup, watched):
    page = watched.page
    _admin(page, setup)
    page.goto("/console/operations/dcso_tie")
    page.get_by_role("button", name="Test Connection").click()
    report = page.locator("#connection")
    expect(report).to_contain_text(
        "The connection was not tested: the saved configuration is incomplete or invalid."
    )
    expect(report).to_contain_text("Access Token is required")
    expect(report).not_to_contain_text("$.config")  # labels, not the API's locations
    expect(report.get_by_role("alert")).to_have_count(1)


def test_test_these_values_tests_the_form_without_saving_it(setup, watched, shots):
    page, tie = watched.page, setup["tie"]
    _admin(page, setup)
    page.goto("/console/operations/dcso_tie")
    page.get_by_label("Hostname").fill(tie.hostname)
    page.get_by_label("Access Token").fill(TOKEN)
    page.get_by_text("Advanced settings").click()
    page.get_by_label("CA Bundle").fill(tie.ca_pem_path)
    page.get_by_role("button", name="Test these values").click()
    report = page.locator("#connection")
    expect(report).to_contain_text("The connection works with the values entered (not saved yet).")
    expect(report.locator("li").filter(has_text="authentication")).to_contain_text("ok")
    shots.both_widths(page, "test-these-values")
    assert page.evaluate(UNLABELLED) == []
    stored = _stored(setup)
    assert stored["secrets_set"].get("access_token") is not True  # nothing was saved
    assert stored["values"].get("hostname") != tie.hostname

    # a change to the form: the outcome no longer describes it
    page.get_by_label("Access Token").fill("a-wrong-token")
    expect(report).to_contain_text("The form has changed since this test")
    expect(report).not_to_contain_text("The connection works")
    page.get_by_role("button", name="Test these values").click()
    expect(report).to_contain_text("The connection failed with the values entered (not saved).")
    expect(report.locator("li").filter(has_text="authentication")).to_contain_text("failed")
    assert "a-wrong-token" not in page.content()

    # saved: a secret left blank is then the saved one
    page.get_by_label("Access Token").fill(TOKEN)
    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("status").first).to_contain_text("configuration of DCSO TIE is saved")
    page.get_by_label("Hostname").fill(f"127.0.0.1:{free_port()}")  # nothing listens there
    page.get_by_role("button", name="Test these values").click()
    expect(report.locator("li").filter(has_text="tcp")).to_contain_text("failed")
    page.get_by_label("Hostname").fill(tie.hostname)
    expect(report).to_contain_text("The form has changed since this test")
    page.get_by_role("button", name="Test these values").click()
    expect(report).to_contain_text("The connection works with the values entered")
    assert _stored(setup)["values"]["hostname"] == tie.hostname


def test_a_refused_or_unanswered_test_is_shown_not_swallowed(setup, watched):
    page = watched.page
    _admin(page, setup)
    page.goto("/console/operations/dcso_tie")
    report = page.locator("#connection")
    # a form whose CSRF token is no longer good: the host answers 403
    page.locator("#connection").evaluate(
        "e => { e.previousElementSibling.querySelector('input[name=csrf]').value = 'stale'; }"
    )
    page.get_by_role("button", name="Test Connection").click()
    expect(report.get_by_role("alert")).to_contain_text("That did not work (403)")
    page.reload()
    page.route("**/test-connection", lambda route: route.abort())
    page.get_by_role("button", name="Test Connection").click()
    expect(report.get_by_role("alert")).to_contain_text("The host did not answer")


#: the text of the page a form posted from the page answers
_POSTED_TEXT = """async ([path, fields]) => {
    const answer = await fetch(path, {method: 'POST', body: new URLSearchParams(fields)});
    const page = new DOMParser().parseFromString(await answer.text(), 'text/html');
    return page.querySelector('main').textContent.replace(/\\s+/g, ' ');
}"""


def _run_page(page: Page, setup: dict[str, Any]) -> None:
    log_in(page, "analyst", setup["users"]["analyst"]["password"])
    page.goto("/console/indicators")
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()


def test_the_run_page_marks_what_cannot_run_and_the_host_refuses_it(setup, watched, shots):
    page = watched.page
    host = setup["host"]
    admin = host.api(setup["users"]["admin"]["api_key"])
    values = {"hostname": setup["tie"].hostname, "access_token": TOKEN}
    values["ca_bundle"] = setup["tie"].ca_pem_path
    url = f"{host.url}/api/v1/operations"
    assert admin.put(f"{url}/dcso_tie/config", json={"values": values}).status_code == 200
    _run_page(page, setup)
    select = page.get_by_label("Operation and action")
    expect(select.locator("option").first).to_have_text(re.compile(r"^DCSO TIE: .*takes 1 of 1"))
    expect(select.locator('option[value="tego/search"]')).to_contain_text("not configured")
    choose_action(page, "tego/search")
    details = page.locator("#action-details")
    expect(details.get_by_role("alert")).to_contain_text("Tego is not configured: it cannot run")
    expect(details).to_contain_text("Tego License is required")
    expect(details).to_contain_text("An admin can configure it.")
    expect(details).not_to_contain_text("$.config")
    run = page.get_by_role("button", name=re.compile("^Run Search Tego"))
    expect(run).to_be_disabled()
    expect(run).to_have_attribute("aria-describedby", "blocked-reason")
    shots.both_widths(page, "run-unconfigured", full=False)
    assert page.evaluate(UNLABELLED) == []

    # posted anyway: one line, nothing queued
    jobs = len(admin.get(f"{host.url}/api/v1/jobs").json()["jobs"])
    form = {"csrf": csrf_of(page), "id": "1", "action": "tego/search"}
    assert post_from(page, "/console/run", form) == 409
    page.goto(page.url)  # the answer as a page: its one line
    said = page.evaluate(_POSTED_TEXT, ["/console/run", list(form.items())])
    assert "Tego is not configured (Tego License is required): an admin can configure it" in said
    assert len(admin.get(f"{host.url}/api/v1/jobs").json()["jobs"]) == jobs

    # disabled: marked too, and refused
    assert admin.put(f"{url}/dcso_tie/settings", json={"enabled": False}).status_code == 200
    try:
        page.goto("/console/run?id=1")
        expect(select.locator('option[value="dcso_tie/search"]')).to_contain_text("disabled")
        choose_action(page, "dcso_tie/search")
        expect(details.get_by_role("alert")).to_contain_text("DCSO TIE is disabled")
        expect(page.get_by_role("button", name=re.compile("^Run Search DCSO"))).to_be_disabled()
        form = {"csrf": csrf_of(page), "id": "1", "action": "dcso_tie/search"}
        assert post_from(page, "/console/run", form) == 409
    finally:
        assert admin.put(f"{url}/dcso_tie/settings", json={"enabled": True}).status_code == 200
    page.goto("/console/run?id=1")
    choose_action(page, "dcso_tie/search")
    expect(page.get_by_role("button", name=re.compile("^Run Search DCSO"))).to_be_enabled()
