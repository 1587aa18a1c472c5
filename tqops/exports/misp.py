"""A run's results as one MISP event (the JSON that MISP's "Import from MISP JSON" and pymisp's
``MISPEvent.load`` take), written object by object.

What each result becomes (results that ended in ``error`` or were ``skipped`` are left out):

- the input is an attribute of the MISP type its value passes as MISP itself checks it
  (:mod:`.misp_types`, the MISP listener's rules too; a value that passes none is ``text``),
  written as MISP stores it, tagged with its TLP (``tlp:amber``) and the verdict's machine tag
  (``tqops:verdict="malicious"``), ``to_ids`` for a malicious verdict;
- each value found is an attribute (category ``External analysis`` where MISP allows it),
  tagged with its input's TLP; a host name holding a path is a ``url``; a value already in
  the event (the input's own, one found twice) is written once;
- the verdict (level, score, reasons) is an ``annotation`` object that annotates the input's
  attribute; what was found about a value (its attributes) an ``annotation`` that annotates
  that value's attribute and, for a related match, is ``related-to`` the input's;
- the event is tagged with the strictest TLP of its inputs; its threat level is the worst
  verdict's; its distribution is "your organisation only", for the analyst to widen.

MISP takes an event's members in any order, so the objects are written as the results come
and the attributes, spooled to a temporary file (memory stays bounded), follow them.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

from tqops.exports.misp_types import attribute_types, misp_value
from tqops.exports.values import MAX_VALUE, Exported, ExportHead, clean, indicators_of, verdict_of
from tqops.tlp import Tlp

__all__ = ["ANNOTATION", "misp_event", "misp_type", "verdict_tag"]

#: the misp-objects template the verdict and the enrichment are carried in (current version)
ANNOTATION = {
    "name": "annotation",
    "meta-category": "misc",
    "template_uuid": "5d8dc046-15a1-4ca3-a09f-ed4ede7c4487",
    "template_version": "3",
}
#: each MISP type's category: for an input, and for a value an operation found
_CATEGORIES = {
    "domain": ("Network activity", "External analysis"),
    "hostname": ("Network activity", "External analysis"),
    "ip-dst": ("Network activity", "External analysis"),
    "url": ("Network activity", "External analysis"),
    "AS": ("Network activity", "External analysis"),
    "user-agent": ("Network activity", "External analysis"),
    "email": ("Network activity", "Network activity"),
    "md5": ("Payload delivery", "External analysis"),
    "sha1": ("Payload delivery", "External analysis"),
    "sha256": ("Payload delivery", "External analysis"),
    "sha512": ("Payload delivery", "Payload delivery"),
    "ssdeep": ("Payload delivery", "Payload delivery"),
    "filename": ("Payload delivery", "External analysis"),
    "regkey": ("Persistence mechanism", "External analysis"),
    "email-subject": ("Payload delivery", "Payload delivery"),
    "mutex": ("Artifacts dropped", "Artifacts dropped"),
    "text": ("Other", "External analysis"),
}
#: the event's threat level (MISP: 1 high, 2 medium, 3 low, 4 undefined) by worst verdict
_THREAT_LEVELS = {"malicious": "1", "suspicious": "2", "benign": "3", "unknown": "4"}
#: a text attribute's value at most, and an annotation's
_TEXT_LIMIT = 4096
_NOTE_LIMIT = 65536
_NOTE_LINES = 500


def verdict_tag(level: str) -> str:
    """The machine tag that says a verdict's level: ``tqops:verdict="malicious"`` (the tag
    the host's MISP module answers with)."""
    return f'tqops:verdict="{level}"'


def _tlp_tag(tlp: Tlp) -> str:
    return f"tlp:{tlp.value.lower()}"


def misp_type(kind_name: str, value: str) -> tuple[str, str]:
    """The MISP type a value given as the platform type ``kind_name`` is written as, and the
    value as written: the first of the type's MISP types whose check the value passes as MISP
    itself checks it (:mod:`.misp_types`: a host name with a path is a ``url``), written as
    MISP stores it (``AS13335`` is ``AS`` 13335); a value that passes none, or that is too long
    or holds what no reader wants (control characters), is ``text``, cut to a bounded
    length."""
    fit = attribute_types(kind_name, value) if len(value) <= MAX_VALUE else []
    if fit and fit[0] != "text":
        written = misp_value(fit[0], value)
        if written is not None and written == clean(written, MAX_VALUE):
            return fit[0], written
    return "text", clean(value, _TEXT_LIMIT)


def misp_event(head: ExportHead, items: Iterable[Exported]) -> Iterator[str]:
    """The event as JSON text (``{"Event": {...}}``), chunk by chunk; it is closed even when
    ``items`` stop early, so what was written is always a whole document."""
    builder = _Builder(head)
    event = {
        "uuid": str(uuid.uuid4()),
        "info": clean(f"{head.label}: results of {head.action}", 200),
        "date": head.timestamp[:10],
        "timestamp": str(int(head.created.timestamp())),
        "analysis": "2",
        "distribution": "0",
        "published": False,
    }
    yield '{"Event": ' + json.dumps(event)[:-1] + ', "Object": ['
    with tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8") as spool:
        try:
            count = 0
            for item in items:
                for kind, member in builder.members(item):
                    text = json.dumps(member)
                    if kind == "Attribute":
                        spool.write(("," if spool.tell() else "") + "\n  " + text)
                    else:
                        yield ("," if count else "") + "\n  " + text
                        count += 1
        finally:
            yield '], "Attribute": ['
            spool.seek(0)
            while chunk := spool.read(65536):
                yield chunk
            level = _THREAT_LEVELS[builder.worst]
            tags = [{"name": _tlp_tag(builder.strictest)}] if builder.strictest else []
            yield f'], "threat_level_id": "{level}", "Tag": {json.dumps(tags)}}}}}\n'


class _Builder:
    """The attributes and objects of each result; remembers the attributes written (by type
    and value: MISP refuses the same twice in an event), the worst verdict and the strictest
    TLP."""

    def __init__(self, head: ExportHead) -> None:
        self.head = head
        self.written: dict[tuple[str, str], str] = {}
        self.worst = "unknown"
        self.strictest: Optional[Tlp] = None

    def _attribute(
        self, kind_name: str, value: str, tags: list[str], found: bool, **extra: Any
    ) -> tuple[str, Optional[dict[str, Any]]]:
        """The uuid of the attribute for this value, and the attribute when it is new."""
        misp, written_value = misp_type(kind_name, value)
        key = (misp, written_value)
        if key in self.written:
            return self.written[key], None
        self.written[key] = attribute_uuid = str(uuid.uuid4())
        attribute = {
            "uuid": attribute_uuid,
            "type": misp,
            "category": _CATEGORIES[misp][1 if found else 0],
            "value": written_value,
            "to_ids": False,
            "distribution": "5",
            "timestamp": str(int(self.head.created.timestamp())),
            "Tag": [{"name": tag} for tag in tags],
            **extra,
        }
        return attribute_uuid, attribute

    def members(self, item: Exported) -> Iterator[tuple[str, dict[str, Any]]]:
        """``("Attribute", ...)`` and ``("Object", ...)`` pairs for ``item`` (none for an
        error or a skipped input)."""
        result = item.result
        if result.get("status") not in ("ok", "no_results"):
            return
        if self.strictest is None or item.tlp > self.strictest:
            self.strictest = item.tlp
        label, tlp = self.head.label, _tlp_tag(item.tlp)
        verdict = verdict_of(result)
        if _THREAT_LEVELS[verdict["level"]] < _THREAT_LEVELS[self.worst]:
            self.worst = verdict["level"]
        given = result.get("input") if isinstance(result.get("input"), Mapping) else {}
        kind_name, value = str(given.get("type", "")), str(given.get("value", ""))
        line = _verdict_line(label, verdict)
        input_uuid, attribute = self._attribute(
            kind_name,
            value,
            [tlp, verdict_tag(verdict["level"])],
            found=False,
            to_ids=verdict["level"] == "malicious",
            comment=clean(line, 250),
        )
        if attribute is not None:
            yield "Attribute", attribute
        text = "\n".join([line, *(f"- {reason}" for reason in verdict["reasons"])])
        yield (
            "Object",
            _annotation(f"{label} verdict on {value}", text, [("annotates", input_uuid)], tlp),
        )
        for found in indicators_of(result):
            found_kind, found_value = str(found.get("type", "")), found["value"]
            extra: dict[str, Any] = {"comment": clean(f"{label}: found searching {value}", 250)}
            found_uuid, attribute = self._attribute(found_kind, found_value, [tlp], True, **extra)
            if attribute is not None:
                yield "Attribute", attribute
            references = [("annotates", found_uuid)]
            if found.get("match") == "related" and found_uuid != input_uuid:
                references.append(("related-to", input_uuid))
            lines = _attribute_lines(found.get("attributes"))
            if lines or len(references) > 1:
                about = f"{label} about {found_value}"
                yield "Object", _annotation(about, "\n".join(lines) or about, references, tlp)


def _verdict_line(label: str, verdict: Mapping[str, Any]) -> str:
    score = verdict["score"]
    return f"{label} verdict: {verdict['level']}" + (
        f" (score {score}/100)" if score is not None else ""
    )


def _attribute_lines(attributes: Any) -> list[str]:
    if not isinstance(attributes, list):
        return []
    lines = [
        f"{clean(a.get('name'), 200)}: {clean(a.get('value'), 1000)}"
        for a in attributes[:_NOTE_LINES]
        if isinstance(a, Mapping)
    ]
    if len(attributes) > _NOTE_LINES:
        lines.append(f"... and {len(attributes) - _NOTE_LINES} more")
    return lines


def _annotation(
    description: str, text: str, references: list[tuple[str, str]], tlp: str
) -> dict[str, Any]:
    """An annotation object (its text, type and format) with references from it."""
    object_uuid = str(uuid.uuid4())
    parts = (("text", clean(text, _NOTE_LIMIT)), ("type", "Annotation"), ("format", "text"))
    return {
        **ANNOTATION,
        "uuid": object_uuid,
        "description": clean(description, 300),
        "distribution": "5",
        "Attribute": [
            {
                "uuid": str(uuid.uuid4()),
                "object_relation": relation,
                "type": "text",
                "category": "Other",
                "value": value,
                "to_ids": False,
                "Tag": [{"name": tlp}] if relation == "text" else [],
            }
            for relation, value in parts
        ],
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
