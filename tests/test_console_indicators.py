"""The console's indicators in a real browser, against a real `tqops serve` over TLS and the
DCSO TIE simulator: the list (newest first, sorted, paged, ticks kept across pages, TLP in
FIRST's colours, hashes unbroken), an indicator's page (its stored attributes with their
source and TLP, its enrichment history, Run and Delete), pivots from a job's found indicator
in one step, "Add to platform" as the indicator's page shows it, and the search of every
job's results. axe-core checks each page and state."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from simulators import TieSimulator
from simulators.tie import DATA_FILE
from tests.support.axe import assert_no_violations, violations
from tests.support.browser import UNLABELLED, Watched, csrf_of, log_in, post_from
from tests.support.hosting import RunningHost, add_user, wait_for

pytestmark = pytest.mark.browser

TOKEN = "console-indicators-token-7d2a"
HOSTILE_ATTRIBUTE = "<img src=x onerror=alert(document.domain)>"
#: a value only the simulator's extra record has: searching it finds exactly that record
QAKBOT = "qakbot-c2.example"
SHA512 = "ab" * 64
#: values the platform takes as text, as an attacker would choose them
HOSTILE_NAME = "<img src=x onerror=alert(1)><b>\"'&amp;.exe"
UNICODE_SUBJECT = "Rechnung Ünïcödé ☃ 𝔘𝔫𝔦 \u202egnp.exe"


def records() -> list[dict[str, Any]]:
    """The simulator's records, and one for ``QAKBOT`` whose attributes carry markup."""
    found = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    extra = copy.deepcopy(next(r for r in found if r["data_type"] == "DomainName"))
    extra["value"] = QAKBOT
    extra["id"] = "0f5f0c2e-5b4e-4c55-9d0e-qakbot000001"
    observation = extra["observations"][0]
    observation["families"] = ["qakbot"]
    observation["attributes"] = [
        {"name": "malware", "value": "qakbot"},
        {"name": "threattype", "value": HOSTILE_ATTRIBUTE},
    ]
    return [*found, extra]


class Console:
    """The host, its users and the simulator."""

    def __init__(self, host: RunningHost, tie: TieSimulator, users: dict[str, Any]) -> None:
        self.host, self.tie, self.users = host, tie, users

    def password(self, role: str) -> str:
        return str(self.users[role]["password"])

    def api(self, role: str = "admin") -> Any:
        return self.host.api(self.users[role]["api_key"])

    def add(self, items: list[dict[str, str]]) -> list[dict[str, Any]]:
        answer = self.api("analyst").post(
            f"{self.host.url}/api/v1/indicators", json={"indicators": items}
        )
        assert answer.status_code in (200, 201), answer.text
        rows = list(answer.json()["indicators"])
        assert all("id" in row for row in rows), rows
        return rows

    def indicator(self, indicator_id: int) -> dict[str, Any]:
        answer = self.api().get(f"{self.host.url}/api/v1/indicators/{indicator_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def run(self, kind: str, value: str) -> int:
        """A job on one input, by REST, once it has ended."""
        api = self.api("analyst")
        body = {
            "operation": "dcso_tie",
            "action": "search",
            "inputs": [{"type": kind, "value": value}],
        }
        job = api.post(f"{self.host.url}/api/v1/jobs", json=body).json()
        wait_for(
            lambda: api.get(f"{self.host.url}/api/v1/jobs/{job['id']}").json()["status"] == "done"
        )
        return int(job["id"])

    def find(self, value: str) -> list[dict[str, Any]]:
        answer = self.api().get(f"{self.host.url}/api/v1/indicators", params={"q": value})
        return [i for i in answer.json()["indicators"] if i["value"] == value]


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console-indicators")
    users = {role: add_user(root / "data", role, role) for role in ("admin", "analyst", "viewer")}
    with TieSimulator(token=TOKEN, iocs=records()) as tie, RunningHost(root / "data") as host:
        found = Console(host, tie, users)
        values = {"hostname": tie.hostname, "access_token": TOKEN, "ca_bundle": tie.ca_pem_path}
        url = f"{host.url}/api/v1/operations/dcso_tie/config"
        assert found.api().put(url, json={"values": values}).status_code == 200
        yield found


@pytest.fixture()
def watched(browser: Browser, console: Console) -> Iterator[Watched]:
    found = Watched(browser, console.host.url)
    yield found
    found.close()
    assert found.problems == []


def row_of(page: Page, text: str) -> Any:
    return page.get_by_role("row").filter(has_text=text)


def job_done(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/console/jobs/\d+$"))
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).not_to_contain_text("so far")


def test_axe_finds_a_violation_where_there_is_one(console, watched):
    """The check itself can fail: an input without a label is reported."""
    page = watched.page
    log_in(page, "viewer", console.password("viewer"))
    assert violations(page) == []
    page.evaluate(
        "() => document.querySelector('main').appendChild(document.createElement('input'))"
    )
    assert "label" in {v["id"] for v in violations(page)}


def test_an_indicator_page_runs_it_and_shows_what_add_to_platform_stored(console, watched, shots):
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    page.get_by_label("Paste indicators, one per line").fill(f"FQDN,{QAKBOT}")
    page.get_by_label("TLP", exact=True).select_option("GREEN")
    page.get_by_role("button", name="Add indicators").click()
    expect(page.locator("#added")).to_contain_text("1 new indicator added")
    page.get_by_role("link", name=QAKBOT, exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(QAKBOT)
    expect(page.locator("dl.facts .tlp")).to_have_text(re.compile("GREEN"))
    expect(page.locator("#attributes-table > caption")).to_have_text("0 attributes stored")
    expect(page.locator("#history-table")).to_contain_text("No job has searched it yet")
    assert_no_violations(page, "an indicator's page, new")
    run = page.get_by_role("link", name="Run with options…")
    assert re.search(r"/console/run\?id=\d+$", run.get_attribute("href") or "")

    page.get_by_role("button", name="DCSO TIE: Search DCSO TIE").click()  # one step
    job_done(page)
    expect(page.locator("#results-table")).to_contain_text(QAKBOT)
    page.get_by_role("button", name="Add everything found to platform").click()
    notice = page.locator("#imported")
    expect(notice).to_contain_text(re.compile(r"^\s*0 new indicators, [1-9]\d* attributes? added"))
    expect(notice).to_contain_text("added to 1 indicator.")
    assert_no_violations(page, "a job's page after Add to platform")
    page.get_by_role("link", name="See what was added to the platform").click()

    attributes = page.locator("#attributes-table")
    expect(attributes).to_contain_text("qakbot")
    expect(attributes).to_contain_text("DCSO TIE")  # the source operation
    expect(attributes.locator(".tlp").first).to_have_text(re.compile("AMBER|GREEN|RED"))
    expect(attributes.get_by_role("link", name=re.compile(r"^job \d+$")).first).to_be_visible()
    # the vendor's markup is text: shown as written, never run (Watched fails on a dialog)
    expect(attributes).to_contain_text(HOSTILE_ATTRIBUTE)
    assert page.locator("#attributes-table img").count() == 0
    history = page.locator("#history-table")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history).to_contain_text("DCSO TIE: Search DCSO TIE")
    expect(history).to_contain_text("analyst")
    expect(history.locator(".badge").first).to_have_text(
        re.compile("malicious|suspicious|benign|unknown|ok|no results")
    )
    expect(history.get_by_role("link", name=re.compile(r"^Job \d+$"))).to_be_visible()
    assert_no_violations(page, "an indicator's page with attributes and history")
    shots.both_widths(page, "indicator-page")
    assert page.evaluate(UNLABELLED) == []


def test_a_pivot_from_a_found_indicator_runs_in_one_step(console, watched, shots):
    (searched,) = console.add([{"type": "FQDN", "value": "microsoft.com", "tlp": "GREEN"}])
    # a found value stored before as RED: the pivot must not lower it
    (kept,) = console.add([{"type": "FQDN", "value": "microsoft.com-update.info", "tlp": "RED"}])
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    page.goto(f"/console/indicators/{searched['id']}")
    page.get_by_role("button", name="DCSO TIE: Search DCSO TIE").click()
    job_done(page)
    first_job = page.url
    page.get_by_text(re.compile(r"\d+ (exact match|related).*; \d+ attributes?")).first.click()

    target = "www.microsoft.com.secure-login.top"
    menu = page.locator("details.pivot").filter(has_text=target)
    menu.locator("summary").click()
    button = menu.get_by_role("button", name=re.compile("DCSO TIE: Search DCSO TIE"))
    expect(button).to_be_visible()
    assert_no_violations(page, "a job's page with a pivot menu open")
    shots.both_widths(page, "job-pivot", full=False)
    button.click()
    expect(page).not_to_have_url(first_job)
    job_done(page)
    expect(page.locator("#results-table")).to_contain_text(target)
    (stored,) = console.find(target)
    assert stored["tlp"] == "AMBER"  # the search's GREEN, the record's default AMBER: AMBER
    assert stored["source"] == "DCSO TIE"

    page.goto(first_job)
    page.get_by_text(re.compile(r"\d+ (exact match|related).*; \d+ attributes?")).first.click()
    menu = page.locator("details.pivot").filter(has_text=kept["value"])
    menu.locator("summary").click()
    menu.get_by_role("button", name=re.compile("DCSO TIE: Search DCSO TIE")).click()
    expect(page).not_to_have_url(first_job)
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    assert console.indicator(kept["id"])["tlp"] == "RED"  # never lowered
    expect(page.locator("#results-table")).to_contain_text("TLP")  # RED is over the limit

    # without script: the menu's link is a page of its own, with forms
    page.goto(first_job)
    page.get_by_text(re.compile(r"\d+ (exact match|related).*; \d+ attributes?")).first.click()
    link = page.locator("details.pivot").filter(has_text=target).locator(".pivot-menu a")
    page.goto(link.get_attribute("href") or "")  # the link the closed menu holds
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Run an operation on a found indicator"
    )
    assert_no_violations(page, "the pivot page")

    # "Add to platform" never stores an "FQDN" holding "/", and says so
    page.goto(first_job)
    page.get_by_role("button", name="Add everything found to platform").click()
    expect(page.locator("#imported")).to_contain_text("1 found value not stored")
    assert console.find("www.microsoft.com/software-download.trillium.cam") == []


def test_a_pivot_that_cannot_start_says_why_in_place(console, watched):
    job_id = console.run("FQDN", "microsoft.com")
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    page.goto(f"/console/jobs/{job_id}")
    page.get_by_text(re.compile(r"\d+ (exact match|related).*; \d+ attributes?")).first.click()
    target = "login.microsoft.com.verify-account.top"
    menu = page.locator("details.pivot").filter(has_text=target)
    menu.locator("summary").click()
    button = menu.get_by_role("button", name=re.compile("DCSO TIE: Search DCSO TIE"))
    expect(button).to_be_visible()
    stored = console.find(target)  # earlier tests may have added it already
    settings = f"{console.host.url}/api/v1/operations/dcso_tie/settings"
    assert console.api().put(settings, json={"enabled": False}).status_code == 200
    try:
        button.click()
        expect(menu.locator(".pivot-status")).to_have_text(
            "Not started: DCSO TIE: Search DCSO TIE cannot run on this FQDN: it is disabled, "
            "not configured, or does not take FQDN"
        )
    finally:
        assert console.api().put(settings, json={"enabled": True}).status_code == 200
    expect(page).to_have_url(re.compile(f"/console/jobs/{job_id}$"))
    assert console.find(target) == stored  # nothing stored for a job that did not start
    assert_no_violations(page, "a job's page with a pivot refused")


def test_the_list_sorts_pages_keeps_ticks_and_colours_tlp(console, watched, shots):
    levels = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
    batch = [
        {"type": "FQDN", "value": f"list{n:02d}.example", "tlp": levels[n % 5]} for n in range(30)
    ]
    console.add(batch)
    console.add([{"type": "SHA-512", "value": SHA512}])
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    table = page.locator("#indicators-table")
    first = table.locator("tbody tr").first
    expect(first).to_contain_text(SHA512)  # newest first
    expect(table.locator("th[aria-sort]")).to_have_text(re.compile("Added"))

    # a hash is never broken mid-value, at either width
    value = table.get_by_role("link", name=SHA512)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        assert value.evaluate("e => e.getClientRects().length") == 1
    page.set_viewport_size({"width": 1280, "height": 900})

    # TLP in FIRST's colours, each on black, and contrast checked by axe
    colours = {
        "RED": "rgb(255, 43, 43)",
        "AMBER": "rgb(255, 192, 0)",
        "GREEN": "rgb(51, 255, 0)",
        "CLEAR": "rgb(255, 255, 255)",
    }
    page.get_by_label("Value contains").fill("list")
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Filter").click()
    expect(table.locator("caption")).to_have_text("30 indicators match the filter")
    for level, colour in colours.items():
        badge = table.locator(f".tlp-{level.lower()}").first
        expect(badge).to_have_css("color", colour)
        expect(badge).to_have_css("background-color", "rgb(0, 0, 0)")
    assert_no_violations(page, "the indicator list")
    shots.both_widths(page, "indicators-list", full=False)

    # sorted by value, A to Z, then the other way; by TLP, strictest first
    table.get_by_role("link", name=re.compile("^Value")).click()
    expect(first).to_contain_text("list00.example")
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("Value")
    table.get_by_role("link", name=re.compile("^Value")).click()
    expect(first).to_contain_text("list29.example")
    table.get_by_role("link", name=re.compile("^TLP")).click()
    expect(first.locator(".tlp")).to_have_text(re.compile("RED"))
    table.get_by_role("link", name=re.compile("^Value")).click()
    expect(table.locator("tbody tr")).to_have_count(25)  # the page size is kept

    # ticks survive paging: two here, one on the next page, all three run
    page.get_by_label("Select FQDN list00.example").check()
    page.get_by_label("Select FQDN list01.example").check()
    page.get_by_role("link", name="Next 25").click()
    expect(first).to_contain_text("list25.example")
    page.get_by_label("Select FQDN list27.example").check()
    expect(page.locator("[data-picked-status]")).to_have_text(
        "3 indicators ticked (2 on other pages)."
    )
    assert_no_violations(page, "the indicator list, ticks on two pages")
    page.get_by_role("link", name="Previous 25").click()
    expect(page.get_by_label("Select FQDN list01.example")).to_be_checked()
    page.get_by_role("button", name="Run an operation on them…").click()
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text("On 3 indicators")

    # counts read as English
    page.goto("/console/indicators?q=list07")
    expect(table.locator("caption")).to_have_text("1 indicator matches the filter")
    expect(page.get_by_label("All 1 that matches the filter")).to_be_visible()


def test_which_jobs_found_a_value(console, watched, shots):
    job_id = console.run("FQDN", QAKBOT)
    page = watched.page
    log_in(page, "viewer", console.password("viewer"))
    page.goto("/console/indicators")
    # a viewer reads, and is offered nothing that changes anything
    expect(page.get_by_role("button", name="Run an operation on them…")).to_have_count(0)
    page.get_by_label("Which jobs found…").fill("QAKBOT-C2")  # any case
    page.get_by_role("button", name="Search results").click()
    table = page.locator("#found-table")
    caption = re.compile(r"^[1-9]\d* results? contains? “QAKBOT-C2”$")
    expect(table.locator("caption")).to_have_text(caption)
    newest = table.locator("tbody tr").first
    expect(newest.get_by_role("link", name=f"Job {job_id}")).to_be_visible()
    expect(newest).to_contain_text(QAKBOT)
    expect(newest).to_contain_text("DCSO TIE: Search DCSO TIE")
    # the family is found where the vendor put it, in attributes of other records too
    page.get_by_label("Text the results contain").fill("qakbot")
    page.get_by_role("button", name="Search results").click()
    expect(
        table.locator("tbody tr").first.get_by_role("link", name=f"Job {job_id}")
    ).to_be_visible()
    assert_no_violations(page, "the search of results")
    shots.both_widths(page, "indicators-found", full=False)

    page.get_by_label("Text the results contain").fill("nothing-has-this-value")
    page.get_by_role("button", name="Search results").click()
    expect(table).to_contain_text("No stored result contains it.")
    expect(table.locator("caption")).to_have_text("0 results contain “nothing-has-this-value”")

    page.goto("/console/indicators/found?q=qa")
    expect(page.locator("#found-error")).to_have_text("search for 3 to 200 characters")
    assert_no_violations(page, "the search of results, too short")


def test_hostile_values_render_as_text(console, watched):
    added = console.add(
        [
            {"type": "Filename", "value": HOSTILE_NAME},
            {"type": "Email Subject", "value": UNICODE_SUBJECT},
        ]
    )
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    table = page.locator("#indicators-table")
    expect(table).to_contain_text(HOSTILE_NAME)
    expect(table).to_contain_text(UNICODE_SUBJECT)
    assert page.locator("#indicators-table img, #indicators-table b").count() == 0
    assert_no_violations(page, "the list with hostile values")
    for item, value in zip(added, (HOSTILE_NAME, UNICODE_SUBJECT)):
        page.goto(f"/console/indicators/{item['id']}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(value)
        assert_no_violations(page, f"an indicator's page for {value!r}")


def test_delete_asks_is_audited_and_needs_an_analyst_and_the_token(console, watched):
    (doomed,) = console.add([{"type": "FQDN", "value": "doomed.example"}])
    page = watched.page
    log_in(page, "viewer", console.password("viewer"))
    page.goto(f"/console/indicators/{doomed['id']}")
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    expect(page.get_by_role("link", name="Run with options…")).to_have_count(0)
    assert_no_violations(page, "an indicator's page for a viewer")
    csrf = csrf_of(page)
    assert post_from(page, f"/console/indicators/{doomed['id']}/delete", {"csrf": csrf}) == 403
    assert console.find("doomed.example")

    page.context.clear_cookies()
    log_in(page, "analyst", console.password("analyst"))
    page.goto(f"/console/indicators/{doomed['id']}")
    no_token = post_from(page, f"/console/indicators/{doomed['id']}/delete", {"csrf": "stale"})
    assert no_token == 403
    assert console.find("doomed.example")
    asked: list[str] = []
    page.once("dialog", lambda dialog: asked.append(dialog.message))
    page.get_by_role("button", name=re.compile("^Delete")).click()  # Watched accepts it
    expect(page.locator("#deleted")).to_contain_text("Deleted FQDN doomed.example")
    assert asked and "Delete this indicator" in asked[0]
    assert console.find("doomed.example") == []
    assert_no_violations(page, "the list after a delete")
    entries = console.api().get(f"{console.host.url}/api/v1/audit").json()["audit"]
    assert any(
        e["action"] == "delete" and e["target"] == f"indicator {doomed['id']}" for e in entries
    )
