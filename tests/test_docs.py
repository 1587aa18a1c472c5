"""The committed guides are what `tqops docs` renders now, and hold what a guide must."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tqops.cli import main
from tqops.publishing.guide import changelog_entries

DOCS = Path(__file__).resolve().parent.parent / "docs"


def render(name: str) -> str:
    out = io.StringIO()
    assert main(["docs", name], out=out) == 0
    return out.getvalue()


@pytest.mark.parametrize("name", ["dcso_tie", "tego"])
def test_committed_guide_matches_what_docs_renders(name):
    committed = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    assert committed == render(name), (
        f"docs/{name}.md is stale: run `tqops docs {name} --out docs/{name}.md`"
    )


def test_dcso_tie_guide_has_the_eight_mapping_rows_configuration_and_options():
    guide = render("dcso_tie")
    for path in (
        ".iocs[].value",
        ".iocs[].hotness",
        ".iocs[].gamma",
        ".iocs[].observations[].severity",
        ".iocs[].observations[].confidence",
        ".iocs[].observations[].first_seen",
        ".iocs[].observations[].last_seen",
        ".iocs[].observations[].categories",
    ):
        assert f"| `{path}` |" in guide
    for section in (
        "## Integration Details",
        "## Introduction",
        "## Prerequisites",
        "## Installation",
        "## Configuration",
        "## Actions",
        "## Change Log",
    ):
        assert section in guide
    assert (
        "| FEED DATA PATH | ENTITY | TYPE OR ATTRIBUTE KEY | PUBLISHED DATE | EXAMPLES | NOTES |"
        in guide
    )
    assert "Access Token (`access_token`)" in guide and "Password field" in guide
    for option in (
        "Confidence",
        "Severity",
        "Wildcard Prefix",
        "Wildcard Suffix",
        "Last Seen Since",
        "Category",
        "Family",
        "Actor",
    ):
        assert f"| {option} (`" in guide
    assert "`3.85e-06`" in guide  # an example read from the fixtures


def test_tego_guide_marks_what_is_assumed():
    guide = render("tego")
    assert "## ASSUMED" in guide
    assert "ASSUMED: Look-ups by value use GET /api/Main/search" in guide
    assert "Tego License (`license_key`)" in guide


def test_changelog_entries_are_picked_by_component():
    text = (
        "# Changelog\n\n## Unreleased\n- tego: new thing\n- dcso_tie: other\n  continued\n"
        "\n## [1.0.0]\n- tego: first\n"
    )
    assert changelog_entries(text, "dcso_tie") == {"Unreleased": ["other continued"]}
    assert changelog_entries(text, "tego") == {"Unreleased": ["new thing"], "1.0.0": ["first"]}
