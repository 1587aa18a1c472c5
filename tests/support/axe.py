"""axe-core in the console's pages: its script (from npm, by `make axe`) evaluated in the page
through the DevTools protocol (the page's Content-Security-Policy refuses injected script
tags, and must stay as it is), then run on the page as it stands."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

VERSION = "4.14.1"  # the Makefile's AXE_VERSION
SCRIPT = Path(__file__).resolve().parent.parent / "vendor" / f"axe-core-{VERSION}" / "axe.min.js"
#: WCAG 2.1 A and AA, and axe's best practices
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@functools.lru_cache(maxsize=1)
def _source() -> str:
    if not SCRIPT.is_file():
        raise RuntimeError(f"axe-core {VERSION} is missing at {SCRIPT}: run `make axe`")
    return SCRIPT.read_text(encoding="utf-8")


def violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each: the rule, its impact,
    and the elements it found (empty: none)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const report = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return report.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
        }""",
        TAGS,
    )
    return [f"{v['id']} ({v['impact']}): {' | '.join(v['nodes'])}" for v in found]
