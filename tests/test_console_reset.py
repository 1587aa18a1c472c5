"""An admin resets another user's password on the console's Users page, in a real browser: to
a generated one shown once, or to one the admin types (under the password policy); either way
the user's sessions end, the change is audited, and only an admin, with the form's CSRF token,
may do it (never to their own password, which the account page changes)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.browser import UNLABELLED, Watched, csrf_of, log_in, post_from
from tests.support.hosting import RunningHost, add_user

pytestmark = pytest.mark.browser

NAME = "dana@example.com"
TYPED = "a passphrase the admin chose"


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Iterator[tuple[RunningHost, dict, dict, dict]]:
    data = tmp_path_factory.mktemp("console-reset") / "data"
    admin = add_user(data, "admin", "admin")
    analyst = add_user(data, NAME, "analyst")
    second = add_user(data, "erin@example.com", "analyst")
    with RunningHost(data) as running:
        yield running, admin, analyst, second


def _reset(page, name: str, typed: str = "") -> None:
    row = page.get_by_role("row").filter(has_text=name)
    row.get_by_text("Reset password", exact=False).first.click()  # the summary opens it
    row.get_by_label(f"New password for {name}").fill(typed)
    row.get_by_role("button", name=re.compile("^Reset password")).click()


def test_an_admin_resets_a_password_and_the_users_sessions_end(browser, host, shots):
    running, admin, analyst, _ = host
    watched, theirs = Watched(browser, running.url), Watched(browser, running.url)
    page, other = watched.page, theirs.page
    log_in(page, "admin", admin["password"])
    log_in(other, NAME, analyst["password"])
    page.get_by_role("link", name="Users").click()
    # their own row offers no reset: the account page changes one's own password
    mine = page.get_by_role("row").filter(has_text="admin (you)")
    expect(mine.get_by_text("Reset password")).to_have_count(0)

    _reset(page, NAME)  # blank: a generated one
    shown = page.locator("#shown-once")
    expect(shown).to_contain_text(f"A new password for {NAME}")
    expect(shown).to_contain_text("Their sessions and tokens have ended")
    expect(page.locator("#made-key")).to_have_count(0)  # the API key is left as it was
    generated = page.locator("#made-password").inner_text()
    assert len(generated) >= 20
    shots.both_widths(page, "users-reset")
    assert page.evaluate(UNLABELLED) == []
    page.goto("/console/users")
    expect(page.locator("#shown-once")).to_have_count(0)  # shown once

    other.reload()  # their session ended with the old password
    expect(other.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(other, NAME, generated)
    assert running.api(analyst["api_key"]).get(f"{running.url}/api/v1/me").status_code == 200

    _reset(page, NAME, "short")  # typed: the policy applies
    expect(page.get_by_role("alert")).to_contain_text(
        f"The password of {NAME} is not changed: a password needs at least 12 characters"
    )
    other.reload()
    expect(other.get_by_role("heading", name="Log in")).to_have_count(0)  # nothing changed

    _reset(page, NAME, TYPED)
    expect(page.get_by_role("status")).to_contain_text("The password is changed")
    expect(page.locator("#made-password")).to_have_count(0)  # the admin typed it: not shown
    other.reload()
    expect(other.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(other, NAME, TYPED)

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator('tr[data-code="reset-password"]')).to_have_count(2)
    expect(page.get_by_role("row").filter(has_text="reset the password of")).to_have_count(2)
    for each in (watched, theirs):
        each.close()
        assert each.problems == []


def test_only_an_admin_with_the_forms_token_resets_and_never_their_own(browser, host):
    running, admin, _, second = host
    watched, theirs = Watched(browser, running.url), Watched(browser, running.url)
    page, other = watched.page, theirs.page
    log_in(page, "admin", admin["password"])
    page.goto("/console/users")
    token = csrf_of(page)
    assert post_from(page, "/console/users/admin/password", {"csrf": token}) == 409
    assert post_from(page, f"/console/users/{NAME}/password", {"password": TYPED}) == 403
    log_in(other, second["name"], second["password"])
    other.goto("/console/account")
    answer = post_from(other, "/console/users/admin/password", {"csrf": csrf_of(other)})
    assert answer == 403
    log_in(other, "admin", admin["password"])  # no reset happened to the admin's
    for each in (watched, theirs):
        each.close()
        assert each.problems == []
