"""The operation guide's action section: its options (and the API versions that take them),
then one mapping table per API version, with its type and TLP tables and the fields it
deliberately does not map, and the verdict its rules give. Examples are read from sample
responses of that version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tqops.manifest.document import ActionSpec, ActionVariant, Manifest
from tqops.manifest.feedpath import FeedPath
from tqops.manifest.fields import ConfigField
from tqops.manifest.verdict_rules import Condition
from tqops.publishing.guide_reading import (
    READING_HEADERS,
    READING_INTRO,
    reading_lead,
    reading_rows,
)

__all__ = ["action_section", "applies_with", "md_table"]

_EXAMPLE_WIDTH = 60


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _example(path: FeedPath, samples: Sequence[Any]) -> str:
    for document in samples:
        values = [v for v in path.values(document) if v not in ("", [], {})]
        if values:
            shown = json.dumps(values[0], ensure_ascii=False)
            if len(shown) > _EXAMPLE_WIDTH:
                shown = shown[: _EXAMPLE_WIDTH - 3] + "..."
            return f"`{shown}`"
    return ""


def _published(paths: Sequence[FeedPath], fallback: str = "") -> str:
    if not paths:
        return fallback
    return ", else ".join(f"`{p}`" for p in paths)


def _labels(manifest: Manifest) -> dict[str, str]:
    return {f.name: f.label for f in manifest.config}


def applies_with(field: ConfigField, manifest: Manifest) -> str:
    """`` (API Version v2, v3 only.)`` for a field that applies only with some values."""
    return f" (With {field.when.describe(_labels(manifest))} only.)" if field.when else ""


def _option_rows(action: ActionSpec, manifest: Manifest) -> list[list[str]]:
    rows = []
    for option in action.options:
        kind = option.type + (f" ({option.format})" if option.format else "")
        if option.format == "range":
            kind += f", {option.minimum:g}-{option.maximum:g}"
        # what a version changes of an option (format_when, parameter_when) its description
        # says in words; the condition it applies with is added here
        description = option.description + applies_with(option, manifest)
        rows.append([f"{option.label} (`{option.name}`)", description, kind])
    return rows


def _mapping_rows(variant: ActionVariant, samples: Sequence[Any]) -> list[list[str]]:
    rule = variant.mapping.indicator
    type_key = f"Indicator (type from `{rule.type_path}`)" if rule.type_path else "Indicator"
    if rule.type_from_input:
        type_key = "Indicator (the selected indicator's type)"
    if rule.fixed_type is not None:
        type_key = f"Indicator (always {rule.fixed_type.value})"
    indicator_published = _published(rule.published_at)
    value = _example(rule.path, samples)
    rows = [[f"`{rule.path}`", "Value", type_key, indicator_published, value, rule.notes]]
    for row in variant.mapping.attributes:
        key = row.name or (
            f"from `{row.name_path}`"
            if row.name_path
            else f"the text before `{row.name_separator}` in the value"
        )
        notes = row.notes + (" ASSUMED field." if row.assumed else "")
        rows.append(
            [
                f"`{row.path}`",
                "Attribute",
                key,
                _published(row.published_at, indicator_published + " (the indicator's)"),
                _example(row.path, samples),
                notes.strip(),
            ]
        )
    return rows


_MAPPING_HEADERS = (
    "FEED DATA PATH",
    "ENTITY",
    "TYPE OR ATTRIBUTE KEY",
    "PUBLISHED DATE",
    "EXAMPLES",
    "NOTES",
)


def _variant_section(variant: ActionVariant, samples: Sequence[Any]) -> list[str]:
    out = ["```", variant.endpoint, "```", ""] if variant.endpoint else []
    rule = variant.mapping.indicator
    out += ["The action maps the response as follows:", ""]
    out += [md_table(_MAPPING_HEADERS, _mapping_rows(variant, samples)), ""]
    if rule.type_table:
        out += [f"Types, from `{rule.type_path}`:", ""]
        type_rows = []
        for entry in rule.type_table:
            platform = (
                entry.platform_type.value
                if entry.platform_type
                else f"by the value (`{entry.derive}`)"
            )
            where = f"`{entry.value_path or rule.path}`"
            type_rows.append([f"`{entry.vendor_type}`", platform, where])
        out += [md_table(["VENDOR TYPE", "PLATFORM TYPE", "VALUE FROM"], type_rows), ""]
        out += ["Any other type is reported as a warning on the result; its record is skipped.", ""]
    if rule.tlp is not None:
        out += [f"The indicator's TLP (on its source), from `{rule.tlp.path}`:", ""]
        out += [md_table(["VENDOR VALUE", "TLP"], [[f"`{k}`", v] for k, v in rule.tlp.table]), ""]
    ignored = ", ".join(f"`{str(path)[1:]}`" for path in variant.mapping.ignore)
    if ignored:
        out += [f"Record fields deliberately not mapped: {ignored}.", ""]
    out += [
        "Any other record field the table does not read is named once per run in a warning "
        '("returned fields this operation does not map").',
        "",
    ]
    return out


def action_section(
    action: ActionSpec,
    manifest: Manifest,
    samples: Sequence[Any],
    variant_samples: Mapping[str, Sequence[Any]],
) -> list[str]:
    """The action's section; with API versions, one mapping table per version."""
    out = [f"### {action.label}", "", action.description, "", _VERDICT_INTRO, ""]
    out += [READING_INTRO, ""]
    if action.options:
        out += ["The action has the following options, available upon execution:", ""]
        out += [md_table(["OPTION", "DESCRIPTION", "TYPE"], _option_rows(action, manifest)), ""]
    field = manifest.variant_field
    if field is None:
        only = action.all_variants()[0]
        out += _variant_section(only, samples)
        return out + verdict_section(only, manifest, {}, "####") + reading_section(only, "####")
    for variant in action.all_variants():
        key = str(variant.key)
        out += [f"#### With {field.label} {field.choice_label(key)}", ""]
        shown = samples if key == action.default_variant else variant_samples.get(key, ())
        out += _variant_section(variant, shown)
        out += verdict_section(variant, manifest, {field.name: key}, "#####")
        out += reading_section(variant, "#####")
    return out


_VERDICT_INTRO = (
    "Each result carries a verdict: its `level` (malicious, suspicious, benign or unknown), "
    "a `score` (0-100, or none) and its `reasons`, one line each, naming the evidence. Only a "
    "found indicator whose value is the searched one (`match: exact`) is judged; other found "
    "indicators are `match: related` (look-alikes, substring and wildcard hits). Nothing found, "
    "or only related matches, is `unknown`."
    "\n\nThrough the host, each platform gets the verdict in its own words:\n\n"
    "- Cortex: the report's Verdict taxonomy (malicious, suspicious, safe or info).\n"
    '- MISP: the tag `tqops:verdict="<level>"` on the queried attribute (in the legacy format, '
    "on a text result), and the level, score and reasons (or a skip's reason) in an "
    "annotation.\n"
    "- ThreatQ: the input's verdict beside what was found, and on each exact match a `status` "
    "(malicious: Active; suspicious, benign: Review) and a `score` (0-10); a related match is "
    "Review with no score.\n"
    "- REST and the console: the verdict of each result, the console's as a badge with its "
    "score and reasons."
)


def _threshold(condition: Condition, manifest: Manifest, variant: Mapping[str, str]) -> str:
    if condition.one_of:
        return f"{condition.measure} is " + " or ".join(condition.one_of)
    threshold = condition.at_least
    if isinstance(threshold, str):
        field = manifest.config_field(threshold)
        if field is not None:
            default = field.default
            if field.default_when is not None:
                default = field.default_when.pick(variant, default)
            threshold = f"{field.label} (default {default})"
    return f"{condition.measure} >= {threshold}"


def verdict_section(
    variant: ActionVariant, manifest: Manifest, values: Mapping[str, str], heading: str
) -> list[str]:
    """How the rules judge an input: where the evidence is, and each level's conditions."""
    out = [f"{heading} Verdict", ""]
    spec = variant.verdict
    if spec is None:
        return [*out, "The operation declares no verdict rules: every verdict is unknown.", ""]
    record = variant.mapping.indicator.path.each_prefix()
    rows = []
    for index, evidence in enumerate(spec.evidence):
        own = evidence.elements.steps == record
        where = "the record" if own else f"each {evidence.called}"
        if index:
            where = f"else {where}"
        for measure in evidence.measures:
            scale = f"0-{measure.scale:g}" if measure.scale else "as given"
            rows.append([where, measure.label, f"`{measure.path}`", scale])
            where = ""
    out += ["The evidence of an exact match:", ""]
    out += [md_table(["EVIDENCE", "MEASURE", "FEED DATA PATH", "SCALE"], rows), ""]
    levels = [
        [rule.level, " and ".join(_threshold(c, manifest, values) for c in rule.when)]
        for rule in spec.levels
    ]
    levels.append([spec.otherwise, "any other exact match"])
    out += ["Its level: the first rule whose conditions all hold on one element:", ""]
    out += [md_table(["LEVEL", "WHEN"], levels), ""]
    if spec.score is not None:
        out += [f"Score: the deciding element's {spec.score}. {spec.notes or ''}".strip(), ""]
    elif spec.notes:
        out += [spec.notes, ""]
    return out


def reading_section(variant: ActionVariant, heading: str) -> list[str]:
    """How the variant's attributes read (label, scale, detail); nothing without a reading."""
    rows = reading_rows(variant)
    if not rows:
        return []
    out = [f"{heading} Reading the attributes", "", reading_lead(variant), ""]
    return [*out, md_table(READING_HEADERS, rows), ""]
