"""axe-core (installed from npm by `make axe`, which `make test` runs) checks a console page
in the real browser: every violation it finds fails the test, with each rule, its impact and
the elements it found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent.parent
AXE_JS = ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js"

__all__ = ["AXE_JS", "assert_no_violations", "violations"]


def _source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is not installed ({AXE_JS.relative_to(ROOT)}): run `make axe`")
    return AXE_JS.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong on the page as it stands (every rule it runs by default,
    colour contrast included). Injected through the browser's debugging protocol, which the
    console's Content-Security-Policy does not govern, so the page's own policy stays as
    it is."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    found = page.evaluate(
        """async () => {
            const answer = await window.axe.run(document, {resultTypes: ['violations']});
            return answer.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary),
            }));
        }"""
    )
    return list(found)


def assert_no_violations(page: Page, where: str = "") -> None:
    """Fail with every violation axe-core finds on the page (``where`` names its state)."""
    found = violations(page)
    if found:
        lines = [f"axe-core: {len(found)} violation(s) on {where or page.url}"]
        for v in found:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            lines += [f"    {node}" for node in v["nodes"][:5]]
        pytest.fail("\n".join(lines))
