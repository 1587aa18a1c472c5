"""A real browser for the console's tests: Debian's Chromium driven by Playwright, trusting the
test CA through an NSS database of its own (so the host's TLS is checked, not ignored), and
screenshots saved under the test run's output directory."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from simulators import default_ca

CHROMIUM = "/usr/bin/chromium"
#: as root, in a closed network: no sandbox, no GPU, no calls home
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE, NARROW = 1280, 800


def nss_home(folder: Path) -> Path:
    """A home folder whose NSS database trusts the test CA (Chromium on Linux reads
    ``$HOME/.pki/nssdb``)."""
    database = folder / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    where = f"sql:{database}"
    subprocess.run(["certutil", "-N", "-d", where, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", where, "-n", "tqops test CA", "-t", "C,,",
         "-i", default_ca().ca_pem_path],
        check=True,
    )  # fmt: skip
    return folder


@contextlib.contextmanager
def chromium(folder: Path) -> Iterator[Browser]:
    """Chromium, trusting the test CA."""
    home = nss_home(folder / "home")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        try:
            yield browser
        finally:
            browser.close()


class Screenshots:
    """Where a test run's screenshots go (printed once)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        print(f"\nconsole screenshots: {folder}")

    def take(self, page: Page, name: str, *, full: bool = True) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        return path

    def both_widths(self, page: Page, name: str, *, full: bool = True) -> None:
        """The page at 1280 and at 800 pixels wide."""
        for width in (WIDE, NARROW):
            page.set_viewport_size({"width": width, "height": 900})
            self.take(page, f"{name}-{width}", full=full)
        page.set_viewport_size({"width": WIDE, "height": 900})


class Watched:
    """A browser context whose pages report what must never happen: a dialog (an XSS probe
    calls alert), a page error, or a Content-Security-Policy refusal."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.context: BrowserContext = browser.new_context(
            base_url=base_url,
            viewport={"width": WIDE, "height": 900},
            accept_downloads=True,
        )
        self.problems: list[str] = []
        self.context.on("page", self._watch)
        self.page = self.context.new_page()

    def _watch(self, page: Page) -> None:
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        if dialog.type == "confirm":  # the console asks before removing things
            dialog.accept()
            return
        self.problems.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and re.search(r"Content.Security.Policy|Refused", text):
            self.problems.append(f"CSP: {text}")

    def close(self) -> None:
        self.context.close()


def log_in(page: Page, name: str, password: str) -> None:
    page.goto("/console/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/console/(?!login)"))


def post_from(page: Page, path: str, fields: dict[str, str], multipart: bool = False) -> int:
    """POST a form from the page itself (its cookies, its origin), as a user who crafts a
    request the page does not offer; the status of the answer (0 for a redirect)."""
    return int(
        page.evaluate(
            """async ([path, fields, multipart]) => {
                const body = multipart ? new FormData() : new URLSearchParams();
                for (const [name, value] of fields) body.append(name, value);
                const answer = await fetch(path, {method: 'POST', body, redirect: 'manual'});
                return answer.status;
            }""",
            [path, list(fields.items()), multipart],
        )
    )


def csrf_of(page: Page) -> str:
    return page.locator('input[name="csrf"]').first.get_attribute("value") or ""


#: every visible input, select and textarea without a label (its ``labels`` or aria-label)
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""


def choose_action(page: Page, key: str) -> None:
    """Choose an action (``operation/action``) on the Run page, and wait for its options to be
    drawn. The page has loaded first: a change made before htmx has processed the page (a
    loaded machine) sends nothing, and no person is that quick."""
    page.wait_for_load_state("load")
    with page.expect_response(lambda r: "/console/run?" in r.url):
        page.get_by_label("Operation and action").select_option(key)
