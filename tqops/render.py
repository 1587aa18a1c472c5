"""Human-readable renderings: the results table and an operation's description."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .dates import isoformat_utc
from .manifest import Manifest
from .results import Result

__all__ = [
    "describe_dict",
    "iter_results_table",
    "render_describe",
    "render_results_table",
    "stream_json_document",
    "table",
]


def _wrap(row: Sequence[str], widths: Sequence[int]) -> list[list[str]]:
    cells = []
    for cell, width in zip(row, widths):
        lines: list[str] = []
        for part in str(cell).split("\n"):
            lines += textwrap.wrap(part, width, break_on_hyphens=False) or [""]
        cells.append(lines)
    return cells


def _rule(widths: Sequence[int]) -> str:
    return "+" + "+".join("-" * (w + 2) for w in widths) + "+"


def _lines(cells: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    out = []
    for index in range(max(len(c) for c in cells)):
        parts = [(c[index] if index < len(c) else "").ljust(w) for c, w in zip(cells, widths)]
        out.append("| " + " | ".join(parts) + " |")
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    """A plain-text table with wrapped, multi-line cells (``widths`` caps each column)."""
    wrapped = [_wrap(row, widths) for row in rows]
    actual = [
        max([len(h)] + [len(line) for r in wrapped for line in r[i]]) for i, h in enumerate(headers)
    ]
    out = [_rule(actual), "| " + " | ".join(h.ljust(w) for h, w in zip(headers, actual)) + " |"]
    out.append(_rule(actual))
    for cells in wrapped:
        out += _lines(cells, actual)
        out.append(_rule(actual))
    return "\n".join(out) + "\n"


def _attributes(result_indicator: Any) -> str:
    grouped: dict[str, list[str]] = {}
    for attribute in result_indicator.attributes:
        grouped.setdefault(attribute.name, []).append(attribute.value)
    return "\n".join(f"{name}: {', '.join(values)}" for name, values in grouped.items())


_RESULT_HEADERS = ("SELECTED", "STATUS", "INDICATOR", "ATTRIBUTES")
_RESULT_WIDTHS = (34, 10, 48, 60)


def _result_rows(result: Result) -> list[list[str]]:
    selected = f"{result.input.type}\n{result.input.value}"
    if result.status == "error":
        return [[selected, "error", result.error or "", ""]]
    rows = [] if result.indicators else [[selected, "no results", "", ""]]
    for index, indicator in enumerate(result.indicators):
        published = isoformat_utc(indicator.published_at) or "-"
        rows.append(
            [
                selected if index == 0 else "",
                result.status if index == 0 else "",
                f"{indicator.value}\n{indicator.type.value}, published {published}",
                _attributes(indicator),
            ]
        )
    rows += [["", "warning", warning, ""] for warning in result.warnings]
    return rows


def iter_results_table(label: str, action: str, results: Iterable[Result]) -> Iterator[str]:
    """The results table, one chunk per result as it arrives (fixed column widths)."""
    widths = _RESULT_WIDTHS
    yield f"{label}: {action}\n"
    header = "| " + " | ".join(h.ljust(w) for h, w in zip(_RESULT_HEADERS, widths)) + " |"
    yield "\n".join([_rule(widths), header, _rule(widths)]) + "\n"
    counts = {"ok": 0, "no_results": 0, "error": 0}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
        chunk = []
        for row in _result_rows(result):
            chunk += _lines(_wrap(row, widths), widths)
            chunk.append(_rule(widths))
        yield "\n".join(chunk) + "\n"
    total = sum(counts.values())
    yield (
        f"{total} input(s): {counts['ok']} ok, {counts['no_results']} no results, "
        f"{counts['error']} error(s)\n"
    )


def render_results_table(label: str, action: str, results: Sequence[Result]) -> str:
    """Each input with its status, and every indicator with its attributes."""
    return "".join(iter_results_table(label, action, results))


def describe_dict(manifest: Manifest) -> dict[str, Any]:
    """An operation's fields, actions, options and mapping rows, as JSON data."""

    def field(f: Any) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "name": f.name,
                "label": f.label,
                "type": f.type,
                "required": f.required,
                "default": f.default,
                "advanced": f.advanced,
                "format": f.format,
                "description": f.description,
            }.items()
            if v not in (None, "", ())
        }

    return {
        "name": manifest.name,
        "label": manifest.label,
        "version": manifest.version,
        "vendor": manifest.vendor,
        "description": manifest.description,
        "config": [field(f) for f in manifest.config],
        "actions": [
            {
                "name": a.name,
                "label": a.label,
                "description": a.description,
                "indicator_types": [t.value for t in a.indicator_types],
                "options": [field(o) for o in a.options],
                "mapping": [{"path": str(a.mapping.indicator.path), "entity": "Indicator"}]
                + [
                    {
                        "path": str(r.path),
                        "entity": "Attribute",
                        "name": r.name or f"(from {r.name_path})",
                    }
                    for r in a.mapping.attributes
                ],
            }
            for a in manifest.actions
        ],
        "assumed": list(manifest.assumed),
    }


def render_describe(manifest: Manifest) -> str:
    """An operation's fields, actions, options and mapping (never a secret: none is loaded)."""
    out = [
        f"{manifest.label} {manifest.version} ({manifest.name}), by {manifest.vendor}",
        manifest.description,
        "",
        "Configuration:",
    ]
    rows = [
        [
            f.name,
            f.label,
            f.type + (" (secret)" if f.secret else ""),
            "yes" if f.required else "",
            "" if f.default is None else str(f.default),
            f.description,
        ]
        for f in manifest.config
    ]
    out.append(
        table(
            ["FIELD", "LABEL", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"],
            rows,
            [14, 16, 18, 8, 12, 50],
        )
    )
    for action in manifest.actions:
        types = ", ".join(t.value for t in action.indicator_types)
        out += [f"Action {action.name}: {action.label}", action.description, f"Types: {types}", ""]
        if action.options:
            rows = [
                [o.name, o.label, o.type + (f" ({o.format})" if o.format else ""), o.description]
                for o in action.options
            ]
            out.append(table(["OPTION", "LABEL", "TYPE", "DESCRIPTION"], rows, [16, 16, 16, 60]))
        rows = [
            [
                str(action.mapping.indicator.path),
                "Indicator value",
                "type from " + str(action.mapping.indicator.type_path or "the selection"),
            ]
        ]
        rows += [
            [str(r.path), "Attribute", r.name or f"name from {r.name_path}"]
            for r in action.mapping.attributes
        ]
        out.append(table(["FEED DATA PATH", "ENTITY", "TYPE OR ATTRIBUTE KEY"], rows, [46, 16, 40]))
    if manifest.assumed:
        out.append("ASSUMED (no public documentation states these):")
        out += [f"- {text}" for text in manifest.assumed]
    return "\n".join(out) + "\n"


def stream_json_document(head: Mapping[str, Any], key: str, items: Iterable[Any]) -> Iterator[str]:
    """One JSON object written as it goes: ``head``'s members, then ``key`` holding the items
    one per line. The closing brackets come even when the items stop early (an error, Ctrl-C),
    so what was written is always a whole JSON document."""
    members = "".join(
        f"{json.dumps(str(k), ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}, "
        for k, v in head.items()
    )
    yield "{" + members + json.dumps(key) + ": [\n"
    try:
        for index, item in enumerate(items):
            yield ("" if index == 0 else ",\n") + json.dumps(item, ensure_ascii=False)
    finally:
        yield "\n]}\n"
