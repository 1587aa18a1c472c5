"""The console's defences in a real browser: vendor data and indicator values rendered as text
(no XSS probe runs), a viewer who sees no Run button and is refused if they post anyway,
CSRF tokens, session cookies, the Content-Security-Policy, labels and the keyboard."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from simulators import TieSimulator
from simulators.tie_data import DATA_FILE
from tests.support.browser import (
    UNLABELLED,
    Watched,
    csrf_of,
    log_in,
    post_from,
)
from tests.support.hosting import RunningHost, add_user

pytestmark = pytest.mark.browser

TOKEN = "console-security-token-77f2"
SCRIPT = "<script>alert(1)</script>"
VALUE = f"{SCRIPT}.evil.example"
ATTRIBUTE = '<img src=x onerror="alert(3)">'
CATEGORY = "<svg onload=alert(4)>"
ROLES = ("admin", "analyst", "viewer")


def hostile_ioc() -> dict[str, Any]:
    """A TIE record whose value, category and attribute hold HTML."""
    record = copy.deepcopy(json.loads(DATA_FILE.read_text(encoding="utf-8"))[0])
    record["value"] = VALUE
    observation = record["observations"][0]
    observation["categories"] = [CATEGORY]
    observation["attributes"] = [{"name": "killchain", "value": ATTRIBUTE}]
    return record


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("console-security")
    users = {role: add_user(root / "data", role, role) for role in ROLES}
    with TieSimulator(token=TOKEN, iocs=[hostile_ioc()]) as tie, RunningHost(root / "data") as host:
        admin = host.api(users["admin"]["api_key"])
        values = {"hostname": tie.hostname, "access_token": TOKEN, "ca_bundle": tie.ca_pem_path}
        url = f"{host.url}/api/v1/operations/dcso_tie/config"
        assert admin.put(url, json={"values": values}).status_code == 200
        yield {"host": host, "users": users}


@pytest.fixture()
def watched(browser, setup) -> Iterator[Watched]:
    found = Watched(browser, setup["host"].url)
    yield found
    found.close()
    assert found.problems == []  # no alert, no page error, no CSP refusal


def password(setup: dict[str, Any], role: str) -> str:
    return str(setup["users"][role]["password"])


NO_MARKUP = """() => ({
  scripts: Array.from(document.scripts).filter(s => !s.src).length,
  injected: document.querySelectorAll('main script, main img, main svg, main b, main i').length,
  handlers: Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes)
      .some(a => a.name.startsWith('on') || a.name === 'style')).length,
})"""


def test_vendor_data_and_indicator_values_show_as_typed_and_run_nothing(setup, watched, shots):
    page = watched.page
    log_in(page, "analyst", password(setup, "analyst"))
    page.get_by_label("Paste indicators, one per line").fill(
        f"FQDN,evil.example\n{SCRIPT}.example\nFQDN,{SCRIPT}.example\n"
    )
    page.get_by_role("button", name="Add indicators").click()
    added = page.locator("#added")
    expect(added).to_contain_text(f"the type of '{SCRIPT}.example' is not recognised")
    expect(added).to_contain_text(f"FQDN '{SCRIPT}.example' is not a valid domain name")

    page.get_by_label("Select FQDN evil.example").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    page.get_by_role("button", name="Run Search DCSO TIE").click()
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=30_000)
    found = page.get_by_role("row").filter(has_text="evil.example").first
    found.get_by_text(re.compile(r"1 (exact match|related); \d+ attributes?")).click()
    expect(found.get_by_text(VALUE, exact=True).first).to_be_visible()  # summed up, observed
    expect(found.get_by_text(ATTRIBUTE, exact=True).first).to_be_visible()  # summed up, observed
    expect(found.get_by_text(CATEGORY, exact=True).first).to_be_visible()  # summed up, observed
    assert page.evaluate(NO_MARKUP) == {"scripts": 0, "injected": 0, "handlers": 0}
    shots.take(page, "xss-results", full=False)

    page.get_by_role("button", name="Add everything found to platform").click()
    # the platform's own checks refuse the found "FQDN" as they refuse it pasted
    expect(page.locator("#imported")).to_contain_text("1 found value not stored")
    assert page.evaluate(NO_MARKUP) == {"scripts": 0, "injected": 0, "handlers": 0}
    page.goto("/console/indicators?q=evil")
    expect(page.get_by_role("cell", name="evil.example", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=VALUE, exact=True)).to_have_count(0)
    assert page.evaluate(NO_MARKUP) == {"scripts": 0, "injected": 0, "handlers": 0}

    page.goto("/console/jobs/1")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSON").click()
    assert VALUE in download.value.path().read_text()  # the download keeps it as data


def test_a_failed_login_name_holding_html_shows_as_text_in_the_audit_log(setup, watched):
    page = watched.page
    page.goto("/console/login")
    page.get_by_label("User name").fill(ATTRIBUTE)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    log_in(page, "admin", password(setup, "admin"))
    page.goto("/console/audit")
    expect(page.get_by_role("cell", name=ATTRIBUTE, exact=True).first).to_be_visible()
    assert page.evaluate(NO_MARKUP) == {"scripts": 0, "injected": 0, "handlers": 0}


def test_a_viewer_sees_no_run_button_and_is_refused_when_posting_anyway(setup, watched, shots):
    page = watched.page
    log_in(page, "viewer", password(setup, "viewer"))
    expect(page.get_by_role("heading", name="Indicators")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Run"))).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_text("Add indicators")).to_have_count(0)
    shots.take(page, "viewer-indicators")
    token = csrf_of(page)
    form = {"csrf": token, "id": "1", "action": "dcso_tie/search"}
    assert post_from(page, "/console/run", form) == 403
    assert post_from(page, "/console/indicators", {"csrf": token}, multipart=True) == 403
    for path in ("/console/run?id=1", "/console/operations/dcso_tie", "/console/users"):
        assert page.goto(path).status == 403
        expect(page.get_by_role("alert")).to_contain_text("needs the")
    page.goto("/console/jobs/1")
    # a viewer may search within a job, but has no Cancel, no Resume, no Add
    expect(page.get_by_role("button", name=re.compile("Cancel|Resume|Add"))).to_have_count(0)
    expect(page.get_by_role("button", name="Log out")).to_have_count(1)


def test_a_form_without_the_session_csrf_token_is_refused(setup, browser, watched):
    page = watched.page
    log_in(page, "analyst", password(setup, "analyst"))
    form = {"id": "1", "action": "dcso_tie/search"}
    assert post_from(page, "/console/run", form) == 403
    assert post_from(page, "/console/run", {**form, "csrf": "forged"}) == 403
    other = Watched(browser, setup["host"].url)
    log_in(other.page, "analyst", password(setup, "analyst"))
    theirs = csrf_of(other.page)  # another session's token is no good here
    assert post_from(page, "/console/run", {**form, "csrf": theirs}) == 403
    assert post_from(page, "/console/run", {**form, "csrf": csrf_of(page)}) == 0  # it runs
    other.close()


def test_the_session_cookie_is_http_only_secure_same_site_and_ends_at_logout(
    setup, browser, watched
):
    page = watched.page
    response = page.goto("/console/login")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    log_in(page, "analyst", password(setup, "analyst"))
    (cookie,) = [c for c in watched.context.cookies() if c["name"] == "__Host-tqops-session"]
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    assert cookie["path"] == "/" and cookie["expires"] > 0  # it expires
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    replay = Watched(browser, setup["host"].url)
    replay.context.add_cookies([cookie])  # the old token no longer opens a session
    replay.page.goto("/console/indicators")
    expect(replay.page).to_have_url(re.compile(r"/console/login\?next="))
    replay.close()


def test_every_page_labels_its_inputs_and_works_from_the_keyboard(setup, watched):
    page = watched.page
    page.goto("/console/login")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(password(setup, "admin"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    pages = ("/console/integrations", "/console/operations/dcso_tie", "/console/indicators",
             "/console/run?scope=filter", "/console/jobs", "/console/jobs/1", "/console/users",
             "/console/audit", "/console/account")  # fmt: skip
    for path in pages:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(NO_MARKUP)["handlers"] == 0, path
    page.goto("/console/indicators")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")  # on from the start of the page's content
    expect(page.locator("summary", has_text="Add indicators")).to_be_focused()
