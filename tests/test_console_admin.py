"""Users and the audit log in the console, in a real browser: an admin adds a user (whose
password and API key are shown once), sets their role, makes them a new key, disables, enables
and removes them; a user changes their own password; the audit log says who did what."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import UNLABELLED, Watched, log_in
from tests.support.hosting import RunningHost, add_user

pytestmark = pytest.mark.browser

NEW = "carol@example.com"
NEW_PASSWORD = "a long new passphrase of hers"


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Iterator[tuple[RunningHost, dict]]:
    data = tmp_path_factory.mktemp("console-admin") / "data"
    admin = add_user(data, "admin", "admin")
    with RunningHost(data) as running:
        yield running, admin


def test_an_admin_manages_a_user_who_changes_their_password(browser, host, shots):
    running, admin = host
    watched, theirs = Watched(browser, running.url), Watched(browser, running.url)
    page, other = watched.page, theirs.page
    log_in(page, "admin", admin["password"])
    page.get_by_role("link", name="Users").click()
    page.get_by_label("User name").fill(NEW)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add user").click()
    shown = page.locator("#shown-once")
    expect(shown).to_contain_text(f"New user {NEW}")
    password, key = (
        page.locator("#made-password").inner_text(),
        page.locator("#made-key").inner_text(),
    )
    shots.take(page, "users")
    assert page.evaluate(UNLABELLED) == []
    page.reload()
    expect(page.locator("#shown-once")).to_have_count(0)  # shown once

    log_in(other, NEW, password)
    expect(other.get_by_role("button", name=re.compile("Run"))).to_have_count(0)
    row = page.get_by_role("row").filter(has_text=NEW)
    row.get_by_label(f"Role of {NEW}").select_option("analyst")
    row.get_by_role("button", name=re.compile("^Set")).click()
    expect(page.get_by_role("status")).to_contain_text("The role is changed.")
    other.reload()
    expect(other.locator("summary", has_text="Add indicators")).to_have_count(1)  # an analyst

    api = running.api(key)
    assert api.get(f"{running.url}/api/v1/me").status_code == 200
    page.get_by_role("row").filter(has_text=NEW).get_by_role(
        "button", name=re.compile("New API key")
    ).click()
    expect(page.locator("#shown-once")).to_contain_text(f"A new API key for {NEW}")
    new_key = page.locator("#made-key").inner_text()
    assert api.get(f"{running.url}/api/v1/me").status_code == 401
    assert running.api(new_key).get(f"{running.url}/api/v1/me").status_code == 200

    other.get_by_role("link", name=NEW).click()
    other.get_by_label("Current password").fill(password)
    other.get_by_label("New password (at least 12 characters)").fill(NEW_PASSWORD)
    other.get_by_label("New password again").fill(NEW_PASSWORD)
    other.get_by_role("button", name="Change password").click()
    expect(other.get_by_role("status")).to_contain_text("Your password is changed")

    page.get_by_role("row").filter(has_text=NEW).get_by_role(
        "button", name=re.compile("^Disable")
    ).click()
    expect(page.get_by_role("status")).to_contain_text("The user is disabled")
    other.reload()  # their session ends with it
    expect(other.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("row").filter(has_text=NEW).get_by_role(
        "button", name=re.compile("^Enable")
    ).click()
    log_in(other, NEW, NEW_PASSWORD)

    page.get_by_role("row").filter(has_text=NEW).get_by_role(
        "button", name=re.compile("^Remove")
    ).click()
    expect(page.get_by_role("status")).to_contain_text("The user is removed.")
    expect(page.get_by_role("row").filter(has_text=NEW)).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="admin (you)")).not_to_contain_text("Remove")

    page.get_by_role("link", name="Audit log").click()
    log = page.get_by_role("table")
    # in words, not the codes the store keeps
    for did, detail in (
        ("added the user", "as a viewer"),
        ("changed the role of", "to an analyst"),
        ("made a new API key for", ""),
        ("changed the password of", ""),
        ("disabled the user", ""),
        ("removed the user", ""),
    ):
        entry = log.get_by_role("row").filter(has_text=did).filter(has_text=NEW).first
        expect(entry).to_contain_text(detail)
    for code in ("add-user", "role-user", "new-key", "change-password", "remove-user"):
        expect(log).not_to_contain_text(code)
    shots.take(page, "audit", full=False)
    assert page.evaluate(UNLABELLED) == []
    for each in (watched, theirs):
        each.close()
        assert each.problems == []
