"""The operation guide's part on reading found indicators: the summary each one carries, and
each attribute's label, scale and whether it is detail, as the action's reading declares."""

from __future__ import annotations

from tqops.manifest.document import ActionVariant

__all__ = ["READING_HEADERS", "READING_INTRO", "reading_lead", "reading_rows"]

READING_INTRO = (
    "Each found indicator also carries a `summary`: one `{name, label, text}` per attribute "
    "name, repeated names summed up (`Severity: 1-6, max 6/6 (5 observations)`), detail "
    "attributes left out. Its flat `attributes` stay as the platform stores them. The table "
    "of `tqops run` shows the summary (`--all-attributes`: every attribute, per observation, "
    "newest first)."
)


def _shown(detail: bool, headline: bool) -> str:
    if detail:
        return "detail (not in the summary)"
    return "summary, headline (Cortex report)" if headline else "summary"


#: the columns of :func:`reading_rows`
READING_HEADERS = ("ATTRIBUTE", "LABEL", "SCALE", "SHOWN IN", "NOTES")


def reading_rows(variant: ActionVariant) -> list[list[str]]:
    """One row per attribute name the variant's reading declares (none without a reading)."""
    spec = variant.reading
    if spec is None:
        return []
    return [
        [
            f"`{entry.name}`",
            entry.label,
            entry.scale.describe() if entry.scale is not None else "",
            _shown(entry.detail, entry.headline),
            entry.notes,
        ]
        for entry in spec.attributes
    ]


def reading_lead(variant: ActionVariant) -> str:
    """The sentence before the table."""
    called = variant.reading.called if variant.reading is not None else "observation"
    return (
        f"Attributes that share one published date are one {called}; the summary leads with "
        "these names, in this order, then any other:"
    )
