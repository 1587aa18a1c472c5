"""The console's main pages at 1280 and at 800 pixels wide, in a real browser against `tqops
serve` and the DCSO TIE simulator: the login page, the Run page, a job's results (everything
unfolded) and an indicator's page. Each is saved as a screenshot at both widths (under the
run's console-screenshots folder); at 800 pixels none scrolls sideways, no table needs its own
sideways scroll, and no text is cut off where it is clipped (an element that hides what
overflows it holds no more than it shows)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from tests.support.browser import NARROW, WIDE, Screenshots, Watched
from tests.support.hosting import RunningHost
from tests.test_console_jobs_browser import log_in, start_job

pytestmark = pytest.mark.browser

#: how far the page scrolls sideways (0: not at all)
SIDEWAYS = """() => {
    const page = document.scrollingElement;
    return page.scrollWidth - page.clientWidth;
}"""
#: the tables wider than their wrapper (each would scroll on its own), and every visible
#: element that clips what overflows it (overflow hidden or clip, or text-overflow) while its
#: content is wider or taller than it: text cut off. The visually-hidden texts are left out
#: (clipped on purpose: they are for screen readers).
CUT = """() => {
    const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
        + (typeof e.className === 'string' && e.className
           ? '.' + e.className.split(' ').join('.') : '');
    const found = [];
    document.querySelectorAll('.table-wrap').forEach(w => {
        if (w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1)
            found.push('table scrolls: ' + name(w.querySelector('table') || w)
                       + ' ' + w.scrollWidth + ' > ' + w.clientWidth);
    });
    document.querySelectorAll('main *, header *').forEach(e => {
        if (e.closest('.visually-hidden') || e.offsetParent === null) return;
        const style = getComputedStyle(e);
        const clips = ['hidden', 'clip'].includes(style.overflowX)
            || ['hidden', 'clip'].includes(style.overflowY) || style.textOverflow === 'ellipsis';
        if (!clips || !e.textContent.trim()) return;
        if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
            found.push('cut off: ' + name(e) + ' '
                       + JSON.stringify(e.textContent.trim().slice(0, 60)));
    });
    return found;
}"""


@pytest.fixture()
def watched(browser: Browser, tie_host: RunningHost) -> Iterator[Watched]:
    found = Watched(browser, tie_host.url)
    yield found
    found.close()
    assert found.problems == []


def at_both_widths(page: Page, shots: Screenshots, name: str) -> None:
    """A screenshot at 1280 and at 800 pixels; at 800, nothing sideways and nothing cut."""
    page.set_viewport_size({"width": WIDE, "height": 900})
    shots.take(page, f"{name}-{WIDE}")
    page.set_viewport_size({"width": NARROW, "height": 900})
    path = shots.take(page, f"{name}-{NARROW}")
    assert path.stat().st_size > 0
    assert page.evaluate(SIDEWAYS) <= 0, f"{name} scrolls sideways at {NARROW} px"
    assert page.evaluate(CUT) == [], f"{name} at {NARROW} px"
    page.set_viewport_size({"width": WIDE, "height": 900})


def test_the_main_pages_fit_800_pixels(
    tie_host: RunningHost, sim: TieSimulator, watched: Watched, shots: Screenshots
) -> None:
    page = watched.page
    page.goto("/console/login")
    at_both_widths(page, shots, "widths-login")

    inputs: list[dict[str, Any]] = [
        {"type": "FQDN", "value": "www.microsoft.com"},
        {"type": "IP Address", "value": "203.0.113.7"},
        {"type": "URL", "value": "https://widths.example/" + "a-long-path/" * 12},
        {"type": "FQDN", "value": "widths-secret.example", "tlp": "RED"},
    ]
    job_id = start_job(tie_host, inputs)
    stored = tie_host.api(tie_host.users["analyst"]["api_key"]).post(
        f"{tie_host.url}/api/v1/indicators", json={"indicators": inputs}
    )
    assert stored.status_code == 201, stored.text
    log_in(page, tie_host, "analyst")
    page.goto(f"/console/jobs/{job_id}")
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("4 results")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    at_both_widths(page, shots, "widths-job-results")

    page.get_by_role("link", name="Indicators", exact=True).click()
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()
    with page.expect_response(lambda r: "/console/run?" in r.url):
        page.get_by_label("Operation and action").select_option("dcso_tie/search")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    at_both_widths(page, shots, "widths-run")

    page.goto("/console/indicators")
    page.get_by_role("link", name=re.compile(r"^www\.microsoft\.com$")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("www.microsoft.com")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    at_both_widths(page, shots, "widths-indicator")
