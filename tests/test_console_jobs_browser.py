"""A job's page in a real browser, against `tqops serve` and the DCSO TIE simulator: a
keyboard-only user cancels a running job (the Cancel button is never replaced while the numbers
change, so it keeps the focus); the live region says the milestones only; the results read as
answers (the verdict first, its reasons one click away, skips apart from errors, search and
order); axe-core finds no violation on the job page in any state, nor on the jobs list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from tests.support.axe import assert_no_violations
from tests.support.browser import Screenshots, Watched
from tests.support.hosting import RunningHost
from tests.support.vendors import TEGO_LICENSE

pytestmark = pytest.mark.browser

#: what the page records: each text the live region is given, and each swap of the numbers
WATCH = """() => {
    window.said = [];
    window.swaps = 0;
    window.cancel = document.querySelector('#progress button.danger');
    new MutationObserver(() => {
        const words = document.getElementById('job-news').textContent.trim();
        if (words) window.said.push(words);
    }).observe(document.getElementById('job-news'), {childList: true, characterData: true,
                                                      subtree: true});
    new MutationObserver(() => { window.swaps += 1; })
        .observe(document.getElementById('progress-numbers'), {childList: true});
}"""
#: the focused element, as a screen reader names it
FOCUSED = """() => {
    const e = document.activeElement;
    if (!e || e === document.body) return '';
    const label = e.getAttribute('aria-label') || (e.labels && e.labels.length
        && e.labels[0].textContent);
    return (label || e.textContent || '').trim().replace(/\\s+/g, ' ');
}"""


@pytest.fixture()
def watched(browser: Browser, tie_host: RunningHost) -> Iterator[Watched]:
    found = Watched(browser, tie_host.url)
    yield found
    found.close()
    assert found.problems == []


def start_job(host: RunningHost, inputs: list[dict[str, str]]) -> int:
    """A DCSO TIE search on ``inputs``, queued by the analyst through the REST API."""
    answer = host.api(host.users["analyst"]["api_key"]).post(
        f"{host.url}/api/v1/jobs",
        json={"operation": "dcso_tie", "action": "search", "inputs": inputs},
    )
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def fqdns(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"type": "FQDN", "value": f"{prefix}{n}.example"} for n in range(count)]


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the element named ``name`` (a regular expression) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if re.search(name, page.evaluate(FOCUSED)):
            return
    raise AssertionError(f"no element named {name!r} within {limit} presses of Tab")


def log_in_by_keyboard(page: Page, host: RunningHost, role: str) -> None:
    page.goto("/console/login")
    tab_to(page, "^User name")
    page.keyboard.type(f"{role}@example.com")
    tab_to(page, "^Password")
    page.keyboard.type(str(host.users[role]["password"]))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/(?!login)"))


def log_in(page: Page, host: RunningHost, role: str) -> None:
    page.goto("/console/login")
    page.get_by_label("User name").fill(f"{role}@example.com")
    page.get_by_label("Password").fill(str(host.users[role]["password"]))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/(?!login)"))


def no_violations(page: Page, state: str) -> None:
    assert_no_violations(page, f"the job page, {state}")


def numbers_changed(page: Page, swaps: int, timeout: float = 30_000) -> int:
    """Wait until the numbers have been swapped more than ``swaps`` times; how many times."""
    expect(page.locator("#progress .badge")).to_have_text(re.compile("queued|running"))
    page.wait_for_function("(n) => window.swaps > n", arg=swaps, timeout=timeout)
    return int(page.evaluate("() => window.swaps"))


def test_a_keyboard_user_cancels_a_running_job_whose_numbers_change_meanwhile(
    tie_host: RunningHost, sim: TieSimulator, watched: Watched
) -> None:
    sim.latency = 2.0  # 200 inputs, 16 at a time: about 25 seconds of progress
    page = watched.page
    log_in_by_keyboard(page, tie_host, "analyst")
    job_id = start_job(tie_host, fqdns("keyboard", 200))
    tab_to(page, "^Jobs$")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/jobs$"))
    tab_to(page, f"^Job {job_id}$")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/console/jobs/{job_id}$"))
    expect(page.locator("#progress .badge")).to_have_text(re.compile("queued|running"))
    page.evaluate(WATCH)
    tab_to(page, "^Cancel the job$")
    no_violations(page, "running, Cancel focused")
    swaps = numbers_changed(page, 0)
    numbers_changed(page, swaps)  # twice: the focus is not lost to the first swap by chance
    assert page.evaluate(
        "() => window.cancel.isConnected && document.activeElement === window.cancel"
    )
    assert page.evaluate(FOCUSED) == "Cancel the job"
    done = int(page.locator("#progress progress").get_attribute("value") or 0)
    assert done < 200, "the job ended before it could be cancelled"
    said = page.evaluate("() => window.said")
    # milestones only (the start, a quarter), each once: not each of the swaps
    milestones = rf"Job {job_id}( started, on 200 inputs|: (25 %|half|75 %) done, \d+ of 200)\."
    assert all(re.fullmatch(milestones, words) for words in said), said
    assert len(said) == len(set(said)) <= 4
    page.keyboard.press("Enter")
    expect(page.locator("#progress .badge")).to_have_text("cancelled", timeout=30_000)
    expect(page.get_by_role("button", name=re.compile("^Resume"))).to_be_visible()
    no_violations(page, "cancelled, with Resume")


def test_the_live_region_says_the_start_the_quarters_and_the_end_not_every_event(
    tie_host: RunningHost, sim: TieSimulator, watched: Watched
) -> None:
    sim.latency = 1.5  # 64 inputs, 16 at a time: each quarter a batch, 6 seconds in all
    page = watched.page
    log_in(page, tie_host, "analyst")
    job_id = start_job(tie_host, fqdns("quarters", 64))
    page.goto(f"/console/jobs/{job_id}")
    page.evaluate(WATCH)
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("64 results")
    expect(page.locator("#job-news")).to_contain_text("ended")
    said: list[str] = page.evaluate("() => window.said")
    assert said[-1] == f"Job {job_id} ended: done, 64 of 64 done."
    quarters = [w for w in said[:-1] if re.match(rf"Job {job_id}: (25 %|half|75 %) done", w)]
    assert said[:-1] == [w for w in said[:-1] if "started" in w] + quarters
    assert len(quarters) == len(set(quarters)) and len(said) <= 5
    assert len(said) >= 2  # the start or a quarter, and the end
    assert int(page.evaluate("() => window.swaps")) >= len(said) - 1  # more events than words
    no_violations(page, "ended")


def row(page: Page, value: str) -> Any:
    return page.locator("#results-table > tbody > tr").filter(has_text=value)


def test_results_read_as_answers_searched_ordered_and_without_violations(
    tie_host: RunningHost, sim: TieSimulator, watched: Watched, shots: Screenshots
) -> None:
    inputs = [
        {"type": "FQDN", "value": "www.microsoft.com"},
        {"type": "IP Address", "value": "203.0.113.7"},
        {"type": "FQDN", "value": "answers-none.example"},
        {"type": "FQDN", "value": "answers-secret.example", "tlp": "RED"},  # a policy skip
    ]
    job_id = start_job(tie_host, inputs)
    page = watched.page
    log_in(page, tie_host, "analyst")
    page.goto(f"/console/jobs/{job_id}")
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("4 results")
    header = page.locator("#results-table > thead th").first
    expect(header).to_have_text("Verdict")

    found = row(page, "www.microsoft.com")
    verdict = found.locator("td.verdict")
    expect(verdict.locator(".badge")).to_have_text(
        re.compile("^Verdict: (malicious|suspicious|benign|unknown)$")
    )
    reasons = verdict.locator("ul.reasons")
    expect(reasons).to_be_hidden()
    verdict.get_by_text("Why").click()  # one click away
    expect(reasons).to_be_visible()
    found.locator("details.found > summary").click()
    # TIE answers for www.microsoft.com with other indicators than the one searched
    expect(found.locator("h3.found-group").first).to_have_text(
        re.compile(r"^(Exact match|Related, not judged \(\d+\))$")
    )
    expect(found.locator("dl.summary").first).to_contain_text("Severity")
    expect(found.locator("dl.summary").first).to_contain_text(re.compile(r"\d/6"))
    observations = found.locator("details.observations").first
    observations.locator(":scope > summary").click()
    expect(observations.locator("table.attributes caption").first).to_contain_text(
        re.compile(r"of \d{4}-\d\d-\d\d \d\d:\d\d UTC")
    )
    assert "killchain" not in (found.inner_text() or "")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    no_violations(page, "ended, everything unfolded")
    shots.both_widths(page, "job-answers", full=False)

    skipped = row(page, "answers-secret.example")
    expect(skipped.locator(".outcome")).to_have_text(re.compile(r"^Skipped: its TLP RED"))
    colour = skipped.locator(".outcome").evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(179, 38, 30)"  # never the errors' red

    page.get_by_role("link", name="Skipped (1)").click()
    expect(page.locator("#results-table > caption")).to_have_text("1 result: skipped")
    no_violations(page, "the Skipped tab")
    page.get_by_role("link", name="Errors (0)").click()
    expect(page.locator("#results-table > tbody")).to_have_text("No results here.")
    no_violations(page, "the Errors tab, empty")

    page.get_by_role("link", name=re.compile(r"^All")).click()
    page.get_by_label("Search these results").fill("microsoft")
    page.get_by_label("Search these results").press("Enter")
    expect(page.locator("#results-table > caption")).to_have_text("1 result with “microsoft”")
    expect(row(page, "www.microsoft.com")).to_have_count(1)
    no_violations(page, "a search")
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Order").select_option("verdict")
    page.get_by_role("button", name="Search", exact=True).click()
    levels = page.locator("#results-table > tbody td.verdict .badge").all_inner_texts()
    rank = ["malicious", "suspicious", "benign", "unknown"]
    assert levels == sorted(levels, key=lambda level: rank.index(level.split()[-1]))

    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.get_by_role("row").filter(has_text=f"Job {job_id}")).to_contain_text(
        "Search DCSO TIE"
    )
    no_violations(page, "the jobs list (not the job page)")


def test_a_viewer_reads_a_job_page_without_violations(
    tie_host: RunningHost, watched: Watched
) -> None:
    job_id = start_job(tie_host, fqdns("viewer", 3))
    page = watched.page
    log_in(page, tie_host, "viewer")
    page.goto(f"/console/jobs/{job_id}")
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("3 results")
    expect(page.get_by_role("button", name="Cancel the job")).to_have_count(0)
    no_violations(page, "as a viewer")


def test_a_tego_job_of_12_inputs_with_6_policy_skips_shows_6_skipped_and_0_errors(
    tie_host: RunningHost, tego_sim: Any, watched: Watched
) -> None:
    admin = tie_host.api(tie_host.users["admin"]["api_key"])
    values = {"hostname": tego_sim.hostname, "license_key": TEGO_LICENSE,
              "ca_bundle": tego_sim.ca_pem_path}  # fmt: skip
    configured = admin.put(f"{tie_host.url}/api/v1/operations/tego/config", json={"values": values})
    assert configured.status_code == 200, configured.text
    public = ["8.8.8.8", "1.1.1.1", "4.4.4.4", "149.112.112.112", "9.9.9.9", "208.67.222.222"]
    private = ["10.1.2.3", "192.168.1.10", "172.16.5.4", "127.0.0.1", "169.254.1.1", "100.64.0.9"]
    inputs = [{"type": "IP Address", "value": v} for v in public + private]
    analyst = tie_host.api(tie_host.users["analyst"]["api_key"])
    answer = analyst.post(
        f"{tie_host.url}/api/v1/jobs",
        json={"operation": "tego", "action": "search", "inputs": inputs},
    )
    assert answer.status_code == 202, answer.text
    page = watched.page
    log_in(page, tie_host, "analyst")
    page.goto(f"/console/jobs/{answer.json()['id']}")
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.get_by_role("link", name="Skipped (6)")).to_be_visible()
    expect(page.get_by_role("link", name="Errors (0)")).to_be_visible()
    page.get_by_role("link", name="Skipped (6)").click()
    expect(page.locator("#results-table > caption")).to_have_text("6 results: skipped")
    for value in private:
        expect(row(page, value).locator(".outcome")).to_contain_text("public addresses only")
    no_violations(page, "a Tego job's skips")
