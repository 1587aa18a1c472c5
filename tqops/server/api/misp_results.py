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

The found indicators carry no verdict tag: the verdict is the queried attribute's, and a related
match (a look-alike) is not judged by it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from tqops.model import LEVELS
from tqops.server.api.common import MISP_TYPES

__all__ = ["ANNOTATION", "ANNOTATION_UUID", "legacy_results", "standard_results", "verdict_tag"]

#: the misp-objects template the enrichment of a found indicator is carried in
ANNOTATION = {"name": "annotation", "meta-category": "misc", "template_version": "2"}
ANNOTATION_UUID = "5d8dc046-15a1-4ca3-a09f-ed4ede7c4487"
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


def verdict_text(result: Mapping[str, Any], label: str) -> str:
    """The verdict in words: level and score on the first line, then a skip's reason and one
    line per reason of the verdict."""
    verdict = _verdict(result)
    score = verdict.get("score")
    head = f"{label} verdict: {verdict['level']}"
    lines = [head + (f" (score {score}/100)" if score is not None else "")]
    if result.get("status") == "skipped":
        lines.append(f"Skipped, nothing was sent: {result.get('reason') or 'policy'}")
    lines += [f"- {reason}" for reason in verdict.get("reasons") or []]
    return "\n".join(lines)


def _summary(indicator: Mapping[str, Any], label: str, limit: int = 1000) -> str:
    pairs = "; ".join(f"{a['name']}={a['value']}" for a in indicator.get("attributes", []))
    return f"{label}: {pairs}"[:limit] if pairs else f"{label}: found"


def legacy_results(result: Mapping[str, Any], label: str) -> list[dict[str, Any]]:
    """The legacy form: the verdict as a tagged text result, then each indicator found."""
    verdict = {
        "types": ["text"],
        "values": [verdict_text(result, label)],
        "comment": f"{label} verdict",
        "tags": [verdict_tag(_verdict(result)["level"])],
    }
    found = [
        {
            "types": [MISP_TYPES.get(i["type"], ("text",))[0]],
            "values": [i["value"]],
            "comment": _summary(i, label),
        }
        for i in result.get("indicators", [])
    ]
    return [verdict, *found]


def _annotation(
    text: str, description: str, references: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    parts = (("text", text), ("type", "Annotation"), ("format", "text"))
    return {
        **ANNOTATION,
        "template_uuid": ANNOTATION_UUID,
        "uuid": str(uuid.uuid4()),
        "description": description,
        "Attribute": [
            {"object_relation": relation, "type": "text", "value": value}
            for relation, value in parts
        ],
        "ObjectReference": [
            {"referenced_uuid": referenced, "relationship_type": relationship}
            for relationship, referenced in references
        ],
    }


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
    that annotates it (and relates to the queried attribute)."""
    given_uuid = queried.get("uuid")
    input_uuid: Optional[str] = given_uuid if isinstance(given_uuid, str) and given_uuid else None
    verdict = _verdict(result)
    attributes: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    if input_uuid:  # without its uuid, MISP could not tell the queried attribute from a new one
        attributes.append(_tagged(queried, verdict_tag(verdict["level"])))
    about = str(queried.get("value", ""))
    objects.append(
        _annotation(
            verdict_text(result, label),
            f"{label} verdict on {about}",
            [("annotates", input_uuid)] if input_uuid else [],
        )
    )
    for indicator in result.get("indicators", []):
        attribute = {
            "uuid": str(uuid.uuid4()),
            "type": MISP_TYPES.get(indicator["type"], ("text",))[0],
            "value": indicator["value"],
            "to_ids": False,
            "comment": _summary(indicator, label, 250),
        }
        if indicator.get("published_at"):
            attribute["first_seen"] = indicator["published_at"]
        attributes.append(attribute)
        if not indicator.get("attributes"):
            continue
        references = [("annotates", attribute["uuid"])]
        if input_uuid:
            references.append(("related-to", input_uuid))
        text = "\n".join(f"{a['name']}: {a['value']}" for a in indicator["attributes"])
        objects.append(_annotation(text, f"{label} about {indicator['value']}", references))
    return {"Attribute": attributes, "Object": objects}
