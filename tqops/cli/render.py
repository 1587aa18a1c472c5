"""Human-readable renderings: the results table and an operation's description."""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from tqops.dates import isoformat_utc
from tqops.manifest.document import Manifest
from tqops.manifest.views import FieldView, OperationView
from tqops.running.results import Result

if TYPE_CHECKING:  # the service hands the CLI a reader; the CLI never builds one
    from tqops.mapping.reading import Reader

__all__ = [
    "describe_dict",
    "fit_widths",
    "iter_results_table",
    "render_coverage",
    "render_describe",
    "render_results_table",
    "stream_json_document",
    "table",
]


#: the narrowest a column is made to fit a terminal
_MIN_COLUMN = 6


def fit_widths(
    widths: Sequence[int], width: Optional[int], floors: Sequence[int] = ()
) -> tuple[int, ...]:
    """Column widths for a table at most ``width`` characters wide (its rules included):
    ``widths`` as they are when they fit or no width is given (no terminal), else each cut
    in proportion to what it has above its floor (``floors``, at least :data:`_MIN_COLUMN`:
    a header is never cut)."""
    room = (width or 0) - (3 * len(widths) + 1)
    if width is None or sum(widths) <= room:
        return tuple(widths)
    lows = [
        min(w, max(_MIN_COLUMN, f)) for w, f in itertools.zip_longest(widths, floors, fillvalue=0)
    ]
    spare = sum(widths) - sum(lows)
    if not spare:
        return tuple(lows)
    cut = min(spare, sum(widths) - room)
    return tuple(w - -(-(w - lo) * cut // spare) for w, lo in zip(widths, lows))  # ceil


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


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
    width: Optional[int] = None,
) -> str:
    """A plain-text table with wrapped, multi-line cells (``widths`` caps each column), at
    most ``width`` characters wide when given."""
    widths = fit_widths(widths, width, [len(h) for h in headers])
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


def _read_attributes(indicator: Any, reader: Reader, every: bool) -> str:
    """The summary of a found indicator (its groups counted, its detail left out); with
    ``every``, each group newest first with all its attributes, detail marked."""
    reading = reader.read(indicator)
    called = reading.called
    if every:
        lines = []
        for index, group in enumerate(reading.groups, 1):
            when = group.published_at or "no date"
            lines.append(f"{called} {index} of {len(reading.groups)}, {when}:")
            lines += [
                f"- {a.label}: {a.text}" + (" [detail]" if a.detail else "")
                for a in group.attributes
            ]
        return "\n".join(lines)
    lines = [str(line) for line in reading.summary]
    dated = [g.published_at for g in reading.groups if g.published_at]
    if len(reading.groups) > 1:
        newest = f", newest {dated[0]}" if dated else ""
        lines.insert(0, f"{len(reading.groups)} {called}s{newest}")
    if reading.detail:
        lines.append(f"(+{reading.detail} detail; --all-attributes shows every attribute)")
    return "\n".join(lines)


_RESULT_HEADERS = ("SELECTED", "STATUS", "INDICATOR", "ATTRIBUTES")
_RESULT_WIDTHS = (34, 10, 48, 60)


def _verdict_cells(result: Result) -> list[str]:
    """The verdict, the first thing an analyst reads: level and score, then its reasons."""
    verdict = result.verdict
    if verdict is None:
        return ["verdict: unknown", ""]
    score = "" if verdict.score is None else f", score {verdict.score}"
    return [f"verdict: {verdict.level}{score}", "\n".join(verdict.reasons)]


def _result_rows(
    result: Result, reader: Optional[Reader] = None, every: bool = False
) -> list[list[str]]:
    selected = f"{result.input.type}\n{result.input.value}"
    if result.status == "error":
        return [[selected, "error", result.error or "", ""]]
    if result.status == "skipped":  # policy, not a failure: the reason, nothing was sent
        rows = [[selected, "skipped", result.reason or "", ""]]
        return rows + [["", "warning", warning, ""] for warning in result.warnings]
    status = "no results" if result.status == "no_results" else str(result.status)
    rows = [[selected, status, *_verdict_cells(result)]]
    for indicator in result.indicators:
        published = isoformat_utc(indicator.published_at) or "-"
        match = f", {indicator.match}" if indicator.match else ""
        rows.append(
            [
                "",
                "",
                f"{indicator.value}\n{indicator.type.value}{match}, published {published}",
                _attributes(indicator)
                if reader is None
                else _read_attributes(indicator, reader, every),
            ]
        )
    rows += [["", "warning", warning, ""] for warning in result.warnings]
    return rows


def iter_results_table(
    label: str,
    action: str,
    results: Iterable[Result],
    width: Optional[int] = None,
    reader: Optional[Reader] = None,
    every: bool = False,
) -> Iterator[str]:
    """The results table, one chunk per result as it arrives (fixed column widths, fitted to
    ``width`` when given). With ``reader``, each found indicator shows its summary (with
    ``every``: each group with all its attributes), else every attribute by name. The
    summary line comes even when the results stop early (an error, Ctrl-C)."""
    widths = fit_widths(_RESULT_WIDTHS, width, [len(h) for h in _RESULT_HEADERS])
    yield f"{label}: {action}\n"
    header = "| " + " | ".join(h.ljust(w) for h, w in zip(_RESULT_HEADERS, widths)) + " |"
    yield "\n".join([_rule(widths), header, _rule(widths)]) + "\n"
    counts = {"ok": 0, "no_results": 0, "skipped": 0, "error": 0}
    try:
        for result in results:
            counts[result.status] = counts.get(result.status, 0) + 1
            chunk = []
            for row in _result_rows(result, reader, every):
                chunk += _lines(_wrap(row, widths), widths)
                chunk.append(_rule(widths))
            yield "\n".join(chunk) + "\n"
    finally:
        total = sum(counts.values())
        yield (
            f"{total} input(s): {counts['ok']} ok, {counts['no_results']} no results, "
            f"{counts['skipped']} skipped, {counts['error']} error(s)\n"
        )


def render_results_table(label: str, action: str, results: Sequence[Result], **how: Any) -> str:
    """Each input with its status and verdict, and every indicator with its summary (or
    its attributes); ``how`` is :func:`iter_results_table`'s width, reader and every."""
    return "".join(iter_results_table(label, action, results, **how))


def _mapping_cells(mapping: Any) -> list[tuple[str, str, str]]:
    """A mapping table's rows: feed path, entity and what it makes."""
    rule = mapping.indicator
    typed = f"type from {rule.type_path or 'the selection'}"
    if rule.fixed_type is not None:
        typed = f"type {rule.fixed_type.value}"
    rows = [(str(rule.path), "Indicator value", typed)]
    for row in mapping.attributes:
        made = row.name or (
            f"name from {row.name_path}" if row.name_path else f"name{row.name_separator}value"
        )
        rows.append((str(row.path), "Attribute", made))
    return rows


def _mapping_dicts(mapping: Any) -> list[dict[str, str]]:
    cells = _mapping_cells(mapping)
    out = [{"path": cells[0][0], "entity": "Indicator"}]
    return out + [
        {"path": path, "entity": "Attribute", "name": made} for path, _, made in cells[1:]
    ]


def describe_dict(manifest: Manifest) -> dict[str, Any]:
    """An operation's fields, actions, options and mapping rows, as JSON data (from the same
    read model the host's API and console show)."""
    view = OperationView.of(manifest)

    def field(f: FieldView) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "name": f.name,
                "label": f.label,
                "type": f.kind,
                "required": f.required,
                "default": f.declared.default,
                "advanced": f.advanced,
                "format": f.declared.format,
                "description": f.description,
                "applies_with": {name: list(values) for name, values in f.when},
            }.items()
            if v not in (None, "", (), {})
        }

    return {
        "name": view.name,
        "label": view.label,
        "version": view.version,
        "vendor": view.vendor,
        "description": view.description,
        "config": [field(f) for f in view.config],
        "actions": [
            {
                "name": a.name,
                "label": a.label,
                "description": a.description,
                "indicator_types": list(a.indicator_types),
                "options": [field(o) for o in a.options],
                "mapping": _mapping_dicts(a.declared.mapping),
                **(
                    {
                        "variants": {
                            str(v.key): _mapping_dicts(v.mapping) for v in a.declared.variants
                        }
                    }
                    if a.declared.variants
                    else {}
                ),
            }
            for a in view.actions
        ],
        "assumed": list(manifest.assumed),
    }


def _text(text: str, width: Optional[int]) -> str:
    """A paragraph, wrapped to ``width`` when given (a terminal), else as it is."""
    return textwrap.fill(text, width, break_on_hyphens=False) if width and text else text


def render_describe(manifest: Manifest, width: Optional[int] = None) -> str:
    """An operation's fields, actions, options and mapping (never a secret: none is loaded),
    fitted to ``width`` columns when given."""
    out = [
        _text(
            f"{manifest.label} {manifest.version} ({manifest.name}), by {manifest.vendor}", width
        ),
        _text(manifest.description, width),
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
            width,
        )
    )
    for action in manifest.actions:
        types = ", ".join(t.value for t in action.indicator_types)
        out += [
            _text(f"Action {action.name}: {action.label}", width),
            _text(action.description, width),
            _text(f"Types: {types}", width),
            "",
        ]
        if action.options:
            rows = [
                [o.name, o.label, o.type + (f" ({o.format})" if o.format else ""), o.description]
                for o in action.options
            ]
            columns = [16, 16, 16, 60]
            out.append(table(["OPTION", "LABEL", "TYPE", "DESCRIPTION"], rows, columns, width))
        field = manifest.variant_field
        for variant in action.all_variants():
            if field is not None:
                out.append(_text(f"Mapping with {field.label} {variant.key}:", width))
            rows = [[path, entity, key] for path, entity, key in _mapping_cells(variant.mapping)]
            columns = [46, 16, 40]
            out.append(
                table(["FEED DATA PATH", "ENTITY", "TYPE OR ATTRIBUTE KEY"], rows, columns, width)
            )
    if manifest.assumed:
        out.append("ASSUMED (no public documentation states these):")
        out += [_text(f"- {text}", width) for text in manifest.assumed]
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


def render_coverage(coverage: Any) -> str:
    """``tqops map --coverage``: per mapping row, the records it read a value from; then the
    record keys no row reads (deliberately ignored, or not mapped at all)."""
    total = coverage.records
    rows = [[r.path, r.makes, f"{r.records} of {total}"] for r in coverage.rows]
    out = [f"Coverage of {total} record(s):"]
    out.append(table(["MAPPING ROW", "MAKES", "RECORDS"], rows, [46, 30, 16]))
    if coverage.unread:
        unread = [
            [
                k.key,
                "ignored (the mapping's ignore list)" if k.ignored else "NOT MAPPED",
                str(k.records),
            ]
            for k in coverage.unread
        ]
        out.append("Record keys no row reads:")
        out.append(table(["KEY", "WHY", "RECORDS"], unread, [46, 36, 10]))
    else:
        out.append("Every record key is read by a row.")
    return "\n".join(out) + "\n"
