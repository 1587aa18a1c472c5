"""What a MISP enrichment query answers, in MISP's two result formats: the found indicators,
their enrichment, and the verdict on the queried attribute.

The verdict is the machine tag ``tqops:verdict="<level>"`` (MISP's ``namespace:predicate="value"``
form) and an annotation whose text gives the level, the score and one line per reason (and, for
a skipped input, why nothing was sent). Where each goes follows misp-modules' own modules:

- misp_standard (``{"Attribute": [...], "Object": [...]}``): the queried attribute itself, by
  its ``uuid``, with the tag in its ``Tag`` list (as a module built on pymisp returns it after
  ``add_attribute(**attribute)`` and ``add_tag``), so MISP tags the enriched attribute; and an
  annotation object that annotates it.
- legacy (``[{"types", "values", ...}]``): that form cannot address the enriched attribute, so
  the verdict is a ``text`` result carrying the tag in ``tags`` (as threatfox's module answers),
  first, before the indicators found.

Each found value is offered only under MISP types whose format it passes as MISP checks it
(:mod:`tqops.exports.misp_types`), as MISP would store it; one that fits none is left out and
named in the verdict's text. The queried attribute's own value keeps the queried type: in
misp_standard its enrichment annotates the queried attribute instead of a copy of it. Objects
follow their misp-objects template (name, uuid, version, relations) and each reference carries
its ``uuid`` and ``object_uuid``, as pymisp writes them.

The found indicators carry no verdict tag: the verdict is the queried attribute's, and a related
match (a look-alike) is not judged by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import attrs

from tqops.exports.misp_types import MISP_CATEGORIES, MISP_TYPES, attribute_types, misp_value
from tqops.model import LEVELS

__all__ = [
    "ANNOTATION",
    "ANNOTATION_UUID",
    "Placement",
    "annotation_object",
    "found_attribute",
    "left_out_line",
    "legacy_results",
    "placement",
    "standard_results",
    "verdict_tag",
    "verdict_text",
]

#: misp-objects' ``annotation`` template (objects/annotation/definition.json), which carries a
#: found indicator's enrichment and the verdict's words
ANNOTATION = {"name": "annotation", "meta-category": "misc", "template_version": "3"}
ANNOTATION_UUID = "5d8dc046-15a1-4ca3-a09f-ed4ede7c4487"
#: the template's relations used: their MISP type and whether they correlate
ANNOTATION_RELATIONS: Mapping[str, tuple[str, bool]] = {
    "text": ("text", False),
    "type": ("text", True),
    "format": ("text", True),
}
#: the machine tag's namespace and predicate
TAG_NAMESPACE = "tqops"
TAG_PREDICATE = "verdict"
#: the queried attribute's fields echoed back beside its tag (what MISP's attribute holds)
_ECHOED = ("uuid", "type", "category", "value", "to_ids", "distribution", "comment")


def verdict_tag(level: str) -> str:
    """The machine tag that says a verdict's level: ``tqops:verdict="malicious"``."""
    if level not in LEVELS:
        raise ValueError(f"a verdict level is one of {', '.join(LEVELS)}, got {level!r}")
    return f'{TAG_NAMESPACE}:{TAG_PREDICATE}="{level}"'


def _verdict(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The result's verdict (a result stored before verdicts were given has none: unknown)."""
    verdict = result.get("verdict")
    if isinstance(verdict, Mapping) and verdict.get("level") in LEVELS:
        return verdict
    return {"level": "unknown", "score": None, "reasons": []}


def verdict_text(result: Mapping[str, Any], label: str, left_out: Sequence[str] = ()) -> str:
    """The verdict in words: level and score on the first line, then a skip's reason, one
    line per reason of the verdict, and ``left_out`` (:func:`left_out_line`)."""
    verdict = _verdict(result)
    score = verdict.get("score")
    head = f"{label} verdict: {verdict['level']}"
    lines = [head + (f" (score {score}/100)" if score is not None else "")]
    if result.get("status") == "skipped":
        lines.append(f"Skipped, nothing was sent: {result.get('reason') or 'policy'}")
    lines += [f"- {reason}" for reason in verdict.get("reasons") or []]
    return "\n".join([*lines, *left_out])


@attrs.frozen
class Placement:
    """Where a found indicator goes in MISP: the types it is offered under (the first is the
    one used where only one is), its value as MISP stores it under them, and whether it is the
    queried attribute's own value."""

    types: tuple[str, ...]
    value: str
    queried: bool = False


def placement(
    indicator: Mapping[str, Any], queried: Optional[Mapping[str, Any]] = None
) -> Optional[Placement]:
    """Where ``indicator`` (a result's found indicator: ``type``, ``value``) goes in MISP, or
    None when its value fits no MISP type of its type. ``queried`` (the queried attribute's
    ``type`` and ``value``) keeps its type for its own value, and comes first among the types of
    other values when it is one of them."""
    value = str(indicator.get("value", ""))
    asked_type = str(queried.get("type", "")) if queried else ""
    if queried and asked_type:
        asked = misp_value(asked_type, str(queried.get("value", "")))
        # a host name's outer dot is no other name (MISP's hostname type takes none)
        host = asked_type in ("domain", "hostname")
        same = misp_value(asked_type, value.strip().rstrip(".") if host else value)
        if same is not None and same == asked:
            return Placement((asked_type,), same, queried=True)
    types = attribute_types(str(indicator.get("type", "")), value, prefer=asked_type or None)
    if not types:
        return None
    stored = misp_value(types[0], value) or value
    # a type that would store the value otherwise (an AS number, a domain's punycode) is not
    # offered beside it: one result, one value
    same_value = tuple(t for t in types if misp_value(t, value) == stored)
    return Placement(same_value, stored)


def left_out_line(indicator: Mapping[str, Any]) -> str:
    """The line that names a found value no MISP type takes (:func:`placement` gave None)."""
    kind = str(indicator.get("type", ""))
    candidates = ", ".join(MISP_TYPES.get(kind, ("text",)))
    value = str(indicator.get("value", ""))
    shown = value if len(value) <= 200 else value[:200] + "..."
    return f"Not offered to MISP: {shown!r} ({kind}) is no valid MISP {candidates}"


def _summary(indicator: Mapping[str, Any], label: str, limit: int = 1000) -> str:
    pairs = "; ".join(f"{a['name']}={a['value']}" for a in indicator.get("attributes", []))
    return f"{label}: {pairs}"[:limit] if pairs else f"{label}: found"


def legacy_results(
    result: Mapping[str, Any], label: str, queried: Optional[Mapping[str, Any]] = None
) -> list[dict[str, Any]]:
    """The legacy form: the verdict as a tagged text result, then each indicator found under
    the types it passes (``queried``: the queried ``type`` and ``value``, whose value keeps its
    type)."""
    found: list[dict[str, Any]] = []
    left_out: list[str] = []
    for indicator in result.get("indicators", []):
        placed = placement(indicator, queried)
        if placed is None:
            left_out.append(left_out_line(indicator))
            continue
        found.append(
            {
                "types": list(placed.types),
                "values": [placed.value],
                "comment": _summary(indicator, label),
            }
        )
    verdict = {
        "types": ["text"],
        "values": [verdict_text(result, label, left_out)],
        "comment": f"{label} verdict",
        "tags": [verdict_tag(_verdict(result)["level"])],
    }
    return [verdict, *found]


def annotation_object(
    text: str, description: str, references: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """An ``annotation`` object holding ``text``, with one reference per (relationship type,
    referenced uuid) in ``references``, as pymisp writes one (uuids, ``object_uuid``)."""
    object_uuid = str(uuid.uuid4())
    parts = (("text", text), ("type", "Annotation"), ("format", "text"))
    attributes = []
    for relation, value in parts:
        misp_type, uncorrelated = ANNOTATION_RELATIONS[relation]
        attributes.append(
            {
                "uuid": str(uuid.uuid4()),
                "object_relation": relation,
                "type": misp_type,
                "category": MISP_CATEGORIES[misp_type],
                "value": value,
                "to_ids": False,
                "disable_correlation": uncorrelated,
            }
        )
    return {
        **ANNOTATION,
        "template_uuid": ANNOTATION_UUID,
        "uuid": object_uuid,
        "description": description,
        "Attribute": attributes,
        "ObjectReference": [
            {
                "uuid": str(uuid.uuid4()),
                "object_uuid": object_uuid,
                "referenced_uuid": referenced,
                "relationship_type": relationship,
            }
            for relationship, referenced in references
        ],
    }


def found_attribute(indicator: Mapping[str, Any], label: str, placed: Placement) -> dict[str, Any]:
    """A found indicator as a MISP attribute, under the first of its placement's types."""
    misp_type = placed.types[0]
    attribute: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "type": misp_type,
        "category": MISP_CATEGORIES.get(misp_type, "Other"),
        "value": placed.value,
        "to_ids": False,
        "comment": _summary(indicator, label, 250),
    }
    if indicator.get("published_at"):
        attribute["first_seen"] = indicator["published_at"]
    return attribute


def _tagged(queried: Mapping[str, Any], tag: str) -> dict[str, Any]:
    """The queried attribute as it came, its tags kept, with the verdict's tag added."""
    echoed = {key: queried[key] for key in _ECHOED if key in queried}
    given = queried.get("Tag") if isinstance(queried.get("Tag"), list) else []
    names = [t["name"] for t in given if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return {**echoed, "Tag": [{"name": name} for name in dict.fromkeys([*names, tag])]}


def standard_results(
    result: Mapping[str, Any], label: str, queried: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """The misp_standard form: the queried attribute tagged with the verdict and annotated with
    its reasons; each indicator found as an attribute, its enrichment as an annotation object
    that annotates it (and relates to the queried attribute). The queried attribute's own
    value found is the queried attribute: its enrichment annotates it."""
    given_uuid = queried.get("uuid")
    input_uuid: Optional[str] = given_uuid if isinstance(given_uuid, str) and given_uuid else None
    verdict = _verdict(result)
    attributes: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    if input_uuid:  # without its uuid, MISP could not tell the queried attribute from a new one
        attributes.append(_tagged(queried, verdict_tag(verdict["level"])))
    left_out: list[str] = []
    offered: dict[tuple[str, str], str] = {}  # (type, value) -> the attribute's uuid
    for indicator in result.get("indicators", []):
        placed = placement(indicator, queried)
        if placed is None:
            left_out.append(left_out_line(indicator))
            continue
        key = (placed.types[0], placed.value)
        if placed.queried and input_uuid:
            references = [("annotates", input_uuid)]
        elif key in offered:  # two indicators MISP stores as one value: one attribute
            references = [("annotates", offered[key])]
        else:
            attribute = found_attribute(indicator, label, placed)
            attributes.append(attribute)
            offered[key] = attribute["uuid"]
            references = [("annotates", attribute["uuid"])]
            if input_uuid:
                references.append(("related-to", input_uuid))
        if not indicator.get("attributes"):
            continue
        text = "\n".join(f"{a['name']}: {a['value']}" for a in indicator["attributes"])
        objects.append(annotation_object(text, f"{label} about {indicator['value']}", references))
    about = str(queried.get("value", ""))
    verdict_note = annotation_object(
        verdict_text(result, label, left_out),
        f"{label} verdict on {about}",
        [("annotates", input_uuid)] if input_uuid else [],
    )
    return {"Attribute": attributes, "Object": [verdict_note, *objects]}
