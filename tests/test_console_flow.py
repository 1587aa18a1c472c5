"""The console in a real browser, against a real `tqops serve` over TLS and the DCSO TIE
simulator: an admin uploads an integration (and reads the upgrade report before confirming),
configures it through fields drawn from its manifest and tests the connection; an analyst adds
indicators, selects them, runs an action, watches its progress, reads and downloads the
results and adds what was found to the platform."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from simulators import TieSimulator
from tests.support.browser import UNLABELLED, Watched, choose_action, log_in
from tests.support.hosting import RunningHost, add_user, free_port, wait_for
from tqops.service import Service

pytestmark = pytest.mark.browser

TOKEN = "console-flow-token-4c1e"
NEXT = "2.0.0"
#: the version the bundled wheel has: the manifest's
CURRENT = Service().operation("dcso_tie").manifest.version
ADDED_FIELD = """  - name: region
    label: Region
    type: text
    description: The DCSO region to query (a field this version adds).
"""


def next_version(wheel: Path, out: Path) -> Path:
    """The bundled wheel as version 2.0.0 with one configuration field more."""
    old = re.search(r"-(\d[^-]*)-py3", wheel.name).group(1)  # type: ignore[union-attr]
    path = out / f"tq_op_dcso_tie-{NEXT}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if ".dist-info/" in name:
                name = name.replace(f"-{old}.dist-info", f"-{NEXT}.dist-info")
                data = data.replace(f"Version: {old}\n".encode(), f"Version: {NEXT}\n".encode())
            if name.endswith("/dcso_tie.yaml"):
                text = re.sub(r"(?m)^version: .*$", f"version: {NEXT}", data.decode())
                data = text.replace("\nconfig:\n", "\nconfig:\n" + ADDED_FIELD, 1).encode()
            target.writestr(name, data)
    return path


class Console:
    """The host, its users, the simulator and the files an admin uploads."""

    def __init__(self, host: RunningHost, tie: TieSimulator, users: dict[str, Any], dist: Path):
        self.host, self.tie, self.users = host, tie, users
        (self.wheel,) = dist.glob("tq_op_dcso_tie-*.whl")
        self.next_wheel = next_version(self.wheel, dist)

    def password(self, role: str) -> str:
        return str(self.users[role]["password"])

    def api(self, role: str = "admin") -> Any:
        return self.host.api(self.users[role]["api_key"])

    def configure(self) -> None:
        """The operation configured by REST (for the steps that are not about configuring)."""
        values = {"hostname": self.tie.hostname, "access_token": TOKEN}
        values["ca_bundle"] = self.tie.ca_pem_path
        url = f"{self.host.url}/api/v1/operations/dcso_tie/config"
        assert self.api().put(url, json={"values": values}).status_code == 200


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console-flow")
    dist = root / "dist"
    Service().bundle("dcso_tie", dist)
    users = {role: add_user(root / "data", role, role) for role in ("admin", "analyst")}
    with TieSimulator(token=TOKEN) as tie, RunningHost(root / "data") as host:
        yield Console(host, tie, users, dist)


@pytest.fixture()
def watched(browser: Browser, console: Console) -> Iterator[Watched]:
    found = Watched(browser, console.host.url)
    yield found
    found.close()
    assert found.problems == []


def drop_file(page: Page, selector: str, path: Path) -> None:
    """Drop a file on an element, as a user dragging it from their desktop."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'application/zip'}));
            return transfer;
        }""",
        [data, path.name],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def row_of(page: Page, text: str) -> Any:
    return page.get_by_role("row").filter(has_text=text)


def test_an_admin_uploads_an_integration_and_confirms_an_upgrade_after_its_report(
    console, watched, shots
):
    page = watched.page
    log_in(page, "admin", console.password("admin"))
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    expect(row_of(page, "DCSO TIE")).to_contain_text("installed with tqops")

    page.get_by_label("Integration file").set_input_files(str(console.wheel))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text(f"DCSO TIE {CURRENT} is installed.")
    expect(row_of(page, "DCSO TIE")).to_contain_text("uploaded")

    drop_file(page, "[data-dropzone]", console.next_wheel)
    expect(page.locator("[data-chosen]")).to_contain_text(console.next_wheel.name)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Upgrade DCSO TIE from {CURRENT} to 2.0.0?"
    )
    expect(page.get_by_role("table")).to_contain_text("Configuration field “Region” added")
    shots.both_widths(page, "upgrade-report")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_contain_text("Nothing was installed.")
    expect(row_of(page, "DCSO TIE")).to_contain_text(CURRENT)

    page.get_by_label("Integration file").set_input_files(str(console.next_wheel))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("button", name="Confirm: install 2.0.0").click()
    expect(page.get_by_role("status")).to_contain_text("DCSO TIE is upgraded to 2.0.0.")

    page.get_by_role("button", name="Disable DCSO TIE").click()
    expect(row_of(page, "DCSO TIE")).to_contain_text("disabled")
    page.get_by_role("button", name="Enable DCSO TIE").click()
    expect(row_of(page, "DCSO TIE")).to_contain_text("enabled")

    page.get_by_label("Integration file").set_input_files(str(console.wheel))  # older
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("older than the installed 2.0.0")
    expect(page.get_by_role("button", name=re.compile("anyway"))).to_be_visible()
    page.get_by_role("button", name="Cancel").click()

    page.get_by_role("button", name="Remove DCSO TIE").click()
    expect(page.get_by_role("status")).to_contain_text("The integration is removed.")
    expect(row_of(page, "DCSO TIE")).to_contain_text("installed with tqops")
    shots.take(page, "integrations")
    assert page.evaluate(UNLABELLED) == []


def test_an_admin_configures_from_the_manifest_and_tests_the_connection(console, watched, shots):
    page = watched.page
    log_in(page, "admin", console.password("admin"))
    page.goto("/console/operations/dcso_tie")
    token, user = page.get_by_label("Access Token"), page.get_by_label("API User")
    expect(token).to_be_visible()
    expect(user).to_be_hidden()  # applies only to API versions v2 and v3
    page.get_by_label("API Version").select_option("v2")
    expect(user).to_be_visible()
    expect(token).to_be_hidden()
    page.get_by_label("API Version").select_option("v1")
    secret_state = page.locator("label[for='f-config-access_token'] .secret-state")
    expect(secret_state).to_have_text("not set")

    page.get_by_label("Hostname").fill("bad host!!")
    token.fill(TOKEN)
    page.get_by_text("Advanced settings").click()
    page.get_by_label("CA Bundle").fill(console.tie.ca_pem_path)
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("#f-config-hostname-error")).to_contain_text("expected a hostname")
    expect(page.get_by_label("Hostname")).to_have_attribute("aria-invalid", "true")
    assert TOKEN not in page.content()  # a secret typed is never sent back
    shots.both_widths(page, "configuration-errors")

    page.get_by_label("Hostname").fill(console.tie.hostname)
    page.get_by_label("Access Token").fill(TOKEN)
    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("status").first).to_contain_text("configuration of DCSO TIE is saved")
    expect(secret_state).to_have_text("set")
    expect(page.get_by_label("Access Token")).to_have_value("")
    assert TOKEN not in page.content()

    page.get_by_role("button", name="Test Connection").click()
    report = page.locator("#connection")
    expect(report).to_contain_text("The connection works.")
    for step in ("configuration", "DNS", "TCP", "TLS", "authentication"):
        expect(report).to_contain_text(re.compile(step, re.IGNORECASE))
    shots.both_widths(page, "configuration")

    page.get_by_label("Access Token").fill("a-wrong-token")
    page.get_by_role("button", name="Save configuration").click()
    page.get_by_role("button", name="Test Connection").click()
    expect(report).to_contain_text("The connection failed.")
    expect(report.locator("li").filter(has_text="authentication")).to_contain_text("failed")

    page.get_by_label("Hostname").fill(f"127.0.0.1:{free_port()}")  # nothing listens there
    page.get_by_label("Access Token").fill(TOKEN)
    page.get_by_role("button", name="Save configuration").click()
    page.get_by_role("button", name="Test Connection").click()
    expect(report.locator("li").filter(has_text="tcp")).to_contain_text("failed")
    expect(report.locator(".hint")).to_contain_text("Hint:")
    shots.take(page, "test-connection-failed")
    page.get_by_label("Hostname").fill(console.tie.hostname)
    page.get_by_role("button", name="Save configuration").click()  # left working
    assert page.evaluate(UNLABELLED) == []


PASTED = """FQDN,www.microsoft.com
hxxp://paypa1-secure[.]com/login.php?id=1
203.0.113.7
billing@paypa1-secure.com
10.0.0.0/8
what is this
"""
CSV = "type,value,tlp\nMD5,5d41402abc4b2a76b9719d911017c592,GREEN\nFilename,invoice_2024.pdf.exe\n"


def test_an_analyst_adds_selects_runs_and_reads_the_results(console, watched, shots, tmp_path):
    console.configure()
    console.tie.latency = 1.5  # long enough to watch the progress
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    expect(page.get_by_role("heading", name="Indicators")).to_be_visible()
    bulk = "\n".join(f"bulk{n}.example" for n in range(30))
    page.get_by_label("Paste indicators, one per line").fill(PASTED + "evil-one[.]example\n" + bulk)
    (tmp_path / "more.csv").write_text(CSV)
    page.get_by_label("Or a CSV file").set_input_files(str(tmp_path / "more.csv"))
    page.get_by_role("button", name="Add indicators").click()
    added = page.locator("#added")
    expect(added).to_contain_text("38 new indicators added")
    expect(added).to_contain_text("searched as 'evil-one.example'")
    expect(added).to_contain_text("the type of 'what is this' is not recognised")

    page.get_by_label("Type", exact=True).select_option("FQDN")
    page.get_by_label("Value contains").fill("bulk")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table")).to_contain_text("30 indicators match the filter")
    page.get_by_label("Value contains").fill("")
    page.get_by_label("Type", exact=True).select_option("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_label("Select all on this page").check()
    shots.both_widths(page, "indicators", full=False)
    page.get_by_role("button", name="Run an operation on them…").click()

    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()
    choose_action(page, "dcso_tie/search")
    expect(page.locator("#action-details")).to_contain_text("does not take CIDR Block (1)")
    shots.both_widths(page, "run", full=False)
    page.get_by_label("Confidence").fill("lots")
    page.get_by_role("button", name="Run Search DCSO TIE").click()
    expect(page.locator("#f-option-confidence-error")).to_contain_text("expected a number")
    page.get_by_label("Confidence").fill("50-")
    page.get_by_role("button", name="Run Search DCSO TIE").click()

    expect(page).to_have_url(re.compile(r"/console/jobs/\d+$"))
    bar = page.locator("#progress progress")
    wait_for(lambda: 0 < int(bar.get_attribute("value") or 0) < 38, timeout=30)
    expect(page.locator("#results-table > caption")).to_contain_text("so far")
    expect(page.locator("#results-table > tbody > tr").nth(1)).to_be_visible()  # results come in
    expect(page.locator("#progress")).to_contain_text("running")
    shots.both_widths(page, "job-running", full=False)
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("38 results")
    console.tie.latency = 0.0

    page.get_by_role("link", name=re.compile(r"^Skipped")).click()
    expect(page.locator("#results")).to_contain_text("does not take CIDR Block")
    page.get_by_role("link", name=re.compile(r"^Found")).click()
    found = row_of(page, "www.microsoft.com").first
    found.get_by_text(re.compile(r"\d+ (exact match(es)?|related)[,;] .*\d+ attributes?")).click()
    expect(found.locator("table.attributes").first).to_contain_text("Severity")
    expect(found.locator("table.attributes").first).to_contain_text("UTC")
    shots.both_widths(page, "job-results", full=False)
    found.locator('input[name="seq"]').check()  # the list is newest first: not the first row
    page.get_by_role("button", name="Add selected to platform").click()
    expect(page.get_by_role("status").first).to_contain_text("added to the platform")
    job_url = page.url.split("?")[0]

    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSON").click()
    document = json.loads(Path(download.value.path()).read_text())
    rest = (
        console.api("analyst")
        .get(job_url.replace("/console/", "/api/v1/") + "/results?limit=100")
        .json()
    )
    assert document["results"] == rest["results"]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["input_value"] for r in rows} >= {"www.microsoft.com", "10.0.0.0/8"}

    page.get_by_role("link", name="Indicators", exact=True).click()
    page.get_by_label("Value contains").fill("microsoft")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table")).to_contain_text("DCSO TIE")  # added, the source
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(row_of(page, "Search DCSO TIE").first).to_contain_text("analyst")
    expect(row_of(page, "Search DCSO TIE").first).to_contain_text("38")
    assert page.evaluate(UNLABELLED) == []


def test_an_analyst_runs_on_all_that_match_a_filter_cancels_and_resumes(console, watched):
    console.configure()
    console.tie.latency = 1.5
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    page.goto("/console/indicators?q=bulk")
    page.get_by_label("All 30 that match the filter").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    expect(page.get_by_role("heading", name="Run an operation")).to_be_visible()
    expect(page.locator(".lead")).to_contain_text("30 indicators")
    choose_action(page, "dcso_tie/search")
    page.get_by_role("button", name="Run Search DCSO TIE").click()
    expect(page.locator("#progress")).to_contain_text("running")
    page.get_by_role("button", name="Cancel the job").click()
    expect(page.locator("#progress .badge")).to_have_text("cancelled", timeout=30_000)
    console.tie.latency = 0.0
    page.get_by_role("button", name=re.compile("^Resume")).click()
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    expect(page.locator("#results-table > caption")).to_have_text("30 results")


def test_the_results_are_final_when_the_job_ends_during_a_refresh(console, watched):
    """The job ends while a refresh of its results is on its way: the page must not stay on that
    refresh's "so far" answer. The end's refresh used to be dropped, by the progress refreshes'
    throttle (htmx keeps one per element) or queued behind the refresh in flight; it now
    replaces it."""
    console.configure()
    console.tie.latency = 0.4
    page = watched.page
    log_in(page, "analyst", console.password("analyst"))
    held: list[tuple[Any, Any]] = []

    def hold_the_first_refresh(route: Any) -> None:
        if held or not route.request.headers.get("hx-request"):
            route.continue_()
            return
        asked = route.request
        headers = {k: v for k, v in asked.all_headers().items() if not k.startswith(":")}
        answer = console.host.api().get(asked.url, headers=headers)  # now: the job still runs
        held.append((route, answer))  # handed to the browser after the job's end

    page.route(re.compile(r"/console/jobs/\d+\?status="), hold_the_first_refresh)
    page.goto("/console/indicators")
    adding = page.locator("summary", has_text=re.compile("^Add indicators$"))
    if adding.locator("..").get_attribute("open") is None:  # closed once there are indicators
        adding.click()
    page.get_by_label("Paste indicators, one per line").fill(
        "\n".join(f"ending{n}.example" for n in range(30))
    )
    page.get_by_role("button", name="Add indicators").click()
    expect(page.locator("#added")).to_contain_text("indicators added")
    page.goto("/console/indicators?q=ending")
    page.get_by_label("All 30 that match the filter").check()
    page.get_by_role("button", name="Run an operation on them…").click()
    choose_action(page, "dcso_tie/search")
    page.get_by_role("button", name="Run Search DCSO TIE").click()
    for _ in range(300):  # the browser's events run while Playwright waits, not in sleep()
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "no refresh of the results while the job ran"
    expect(page.locator("#progress .badge")).to_have_text("done", timeout=60_000)
    route, answer = held[0]
    with contextlib.suppress(PlaywrightError):  # the browser gave it up for the end's refresh
        route.fulfill(status=answer.status_code, body=answer.text, content_type="text/html")
    expect(page.locator("#results-table > caption")).to_have_text("30 results")
    console.tie.latency = 0.0
