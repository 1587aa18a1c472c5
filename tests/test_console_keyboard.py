"""The analyst's whole round in a real browser with the keyboard only (Tab, Shift+Tab, Enter,
Space and the arrows; no click, no fill): log in, add indicators, tick them, go to Run, choose
an operation's action, enter an option, start the run, read the results, open a verdict's
reasons and switch to the Skipped tab; at each step the focus is where the next key expects
it. (Cancelling a running job by keyboard is tests/test_console_jobs_browser.py's.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from tests.support.browser import Watched
from tests.support.hosting import RunningHost
from tests.test_console_jobs_browser import FOCUSED, log_in_by_keyboard, tab_to

pytestmark = pytest.mark.browser


@pytest.fixture()
def watched(browser: Browser, tie_host: RunningHost) -> Iterator[Watched]:
    found = Watched(browser, tie_host.url)
    yield found
    found.close()
    assert found.problems == []


def focused(page: Page) -> str:
    return str(page.evaluate(FOCUSED))


def focused_id(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


def shift_tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Shift+Tab until the element named ``name`` (a regular expression) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab")
        if re.search(name, focused(page)):
            return
    raise AssertionError(f"no element named {name!r} within {limit} presses of Shift+Tab")


def follow(page: Page) -> None:
    """Press Enter on the focused link or button, and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def arrow_to(page: Page, value: str, limit: int = 20) -> None:
    """On the focused select, press the arrows until ``value`` is chosen; each change fetches
    the action's details (htmx marks the select while it waits): wait for each."""
    chosen = "() => document.activeElement.value"
    for key in ("ArrowDown", "ArrowUp"):  # down first: choosing means a change
        for _ in range(limit):
            before = page.evaluate(chosen)
            page.keyboard.press(key)
            if page.evaluate(chosen) == before:
                break  # the end of the list
            page.wait_for_function("() => !document.querySelector('.htmx-request')")
            if page.evaluate(chosen) == value:
                return
    raise AssertionError(f"the arrows do not reach {value!r}")


def test_an_analyst_runs_and_reads_with_the_keyboard_only(
    tie_host: RunningHost, sim: TieSimulator, watched: Watched
) -> None:
    page = watched.page
    log_in_by_keyboard(page, tie_host, "analyst")
    tab_to(page, "^Indicators$")
    follow(page)
    page.wait_for_url(re.compile(r"/console/indicators$"))

    # add indicators: the form is open on an empty list
    tab_to(page, "^Paste indicators")
    assert focused_id(page) == "paste"
    page.keyboard.type("FQDN,www.microsoft.com\nCIDR Block,10.0.0.0/8\nkeyboard-none.example")
    tab_to(page, "^Add indicators$")
    follow(page)
    expect(page.locator("#added")).to_contain_text("3 new indicators added")

    # tick them all, and go to Run
    tab_to(page, "^Select all on this page$")
    page.keyboard.press("Space")
    expect(page.locator('#indicators-table input[name="id"]:checked')).to_have_count(3)
    shift_tab_to(page, "^Run an operation on them")
    follow(page)
    page.wait_for_url(re.compile(r"/console/run\?"))
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()

    # choose the action with the arrows: the focus stays on the select while its details change
    tab_to(page, "^Operation and action$")
    arrow_to(page, "dcso_tie/search")
    assert focused_id(page) == "action"
    details = page.locator("#action-details")
    expect(details).to_contain_text("does not take CIDR Block (1)")
    expect(details.get_by_label("Confidence")).to_be_visible()

    # an option, then Run
    tab_to(page, "^Confidence")
    assert focused_id(page) == "f-option-confidence"
    page.keyboard.type("50-")
    tab_to(page, "^Run Search DCSO TIE$")
    follow(page)
    page.wait_for_url(re.compile(r"/console/jobs/\d+$"))
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("3 results")
    expect(page.locator("main .lead")).to_contain_text("Confidence")

    # a verdict's reasons: Enter on Why opens them, and the focus stays on it
    tab_to(page, r"^Why www\.microsoft\.com is ")
    why = page.locator("details.why").filter(has=page.locator(":focus"))
    expect(why.locator("ul.reasons")).to_be_hidden()
    page.keyboard.press("Enter")
    expect(why.locator("ul.reasons")).to_be_visible()
    assert re.match(r"^Why www\.microsoft\.com is ", focused(page))
    page.keyboard.press("Enter")  # and closes them again
    expect(why.locator("ul.reasons")).to_be_hidden()

    # back up to the tabs, and to Skipped
    shift_tab_to(page, r"^Skipped \(1\)$")
    follow(page)
    page.wait_for_url(re.compile(r"status=skipped"))
    expect(page.locator("#results-table > caption")).to_have_text("1 result: skipped")
    expect(page.locator("#results-table > tbody")).to_contain_text("does not take CIDR Block")
    # a new page: the first Tab reaches the skip link, which takes the focus to the content
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to content"
    page.keyboard.press("Enter")
    assert focused_id(page) == "main"
    tab_to(page, r"^Skipped \(1\)$")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-current')") == "page"
