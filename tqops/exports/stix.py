"""A run's results as a STIX 2.1 bundle, built with the ``stix2`` library and written object by
object (memory holds the ids of the observables written, not the bundle).

What each result becomes (results that ended in ``error`` or were ``skipped`` taught nothing
and are left out):

- the operation is one ``identity`` (``identity_class: system``), the ``created_by_ref`` of
  every object that has one;
- the input and each value found are observables (``domain-name``, ``ipv4-addr``,
  ``ipv6-addr``, ``url``, ``email-addr``, ``file`` with its hash or name,
  ``autonomous-system``); a value whose form is not that of its type (a domain with a path)
  is no observable, and the verdict's note names it instead;
- a ``malicious`` or ``suspicious`` verdict is an ``indicator`` whose pattern matches the input
  (``confidence`` the verdict's score, else 85 or 50; ``labels`` the level; ``valid_from`` the
  first date the vendor gave for the value, else the export's), ``based-on`` the observable;
- the verdict, its score and reasons are a ``note`` on the input's observable and indicator;
  what was found about each value (its attributes) a ``note`` on that value's observable;
- a related match (a look-alike, a wildcard hit) is ``related-to`` from the input's observable;
- everything said about an input carries its TLP as a TLP 2.0 ``marking-definition`` (the
  OASIS definitions, with their fixed ids). An observable is written once, with the TLP of the
  first input it was found for: the same value found for a stricter input adds objects under
  that input's marking, and the value itself was already handed on.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

from tqops.errors import ConfigError
from tqops.exports.values import (
    Exported,
    ExportHead,
    asn_number,
    clean,
    first_seen,
    indicators_of,
    observable_value,
    value_kind,
    verdict_of,
)
from tqops.tlp import Tlp

__all__ = ["TLP_EXTENSION", "TLP_MARKINGS", "check_stix", "stix_bundle"]

#: OASIS's TLP 2.0 extension definition, and its marking definitions (fixed ids)
TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_MARKINGS: Mapping[Tlp, str] = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP_CREATED = "2022-10-01T00:00:00.000Z"
#: the verdicts an indicator is written for, with the confidence when the verdict has no score
_CONFIDENCE = {"malicious": 85, "suspicious": 50}
_INDICATOR_TYPES = {"malicious": ["malicious-activity"], "suspicious": ["anomalous-activity"]}
#: the file hash algorithms, as STIX names them
_HASHES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
#: the observable type and property each kind is matched on
_PATHS = {
    "domain": ("domain-name", ["value"]),
    "ipv4": ("ipv4-addr", ["value"]),
    "ipv6": ("ipv6-addr", ["value"]),
    "url": ("url", ["value"]),
    "email": ("email-addr", ["value"]),
    "filename": ("file", ["name"]),
    "asn": ("autonomous-system", ["number"]),
    **{kind: ("file", ["hashes", name]) for kind, name in _HASHES.items()},
}
#: a note's text at most, and the lines of attributes it lists
_NOTE_LIMIT = 65536
_NOTE_LINES = 500


def _library() -> tuple[Any, Any]:
    """``stix2.v21`` and ``stix2.patterns``, imported on first use: importing stix2 is slow
    and adds warning filters (requests'), which the import keeps to itself. A
    :class:`ConfigError` says how to install it when it is missing."""
    try:
        with warnings.catch_warnings():
            from stix2 import patterns, v21
    except ImportError:
        raise ConfigError(
            "the STIX export needs the stix2 package: pip install 'tqops[cli]' (or [server])"
        ) from None
    return v21, patterns


def check_stix() -> None:
    """Raise a :class:`ConfigError` when the STIX export cannot be written (no stix2), so a
    run can refuse before it sends anything."""
    _library()


def stix_bundle(head: ExportHead, items: Iterable[Exported]) -> Iterator[str]:
    """The bundle as JSON text, chunk by chunk; it is closed even when ``items`` stop early,
    so what was written is always a whole document."""
    builder = _Builder(head, *_library())
    yield json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}"})[:-1] + ', "objects": ['
    try:
        yield "\n " + builder.identity.serialize()
        for item in items:
            for found in builder.objects(item):
                yield ",\n " + found.serialize()
    finally:
        yield "\n]}\n"


class _Builder:
    """The objects of each result, from the ``stix2`` classes; remembers which observables and
    markings were written."""

    def __init__(self, head: ExportHead, v21: Any, patterns: Any) -> None:
        self.head, self.v21, self.patterns = head, v21, patterns
        self.when = head.timestamp
        # the same operation is the same identity in every export (a TIP merges them); STIX
        # asks for version 4 ids, so the name's hash is written as one
        named = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:tqops:operation:{head.operation}")
        key = uuid.UUID(bytes=named.bytes, version=4)
        self.identity = v21.Identity(
            id=f"identity--{key}",
            name=clean(head.label, 256),
            identity_class="system",
            description=clean(f"tqops operation {head.operation}, action {head.action}", 600),
            created=self.when,
            modified=self.when,
        )
        self.written: set[str] = set()

    def _common(self, marking: str) -> dict[str, Any]:
        """What every object of a result carries: its maker, its time and its input's TLP."""
        return {
            "created_by_ref": self.identity.id,
            "created": self.when,
            "modified": self.when,
            "object_marking_refs": [marking],
        }

    def _marking(self, tlp: Tlp) -> Iterator[Any]:
        """The TLP 2.0 marking definition of ``tlp``, the first time it is used."""
        marking = TLP_MARKINGS[tlp]
        if marking not in self.written:
            self.written.add(marking)
            yield self.v21.MarkingDefinition(
                id=marking,
                created=_TLP_CREATED,
                name=f"TLP:{tlp.value}",
                extensions={
                    TLP_EXTENSION: {
                        "extension_type": "property-extension",
                        "tlp_2_0": tlp.value.lower(),
                    }
                },
            )

    def _observable(self, kind: Optional[str], value: str, marking: str) -> Optional[Any]:
        """The observable ``value`` is as ``kind``; None when it is none."""
        if kind is None:
            return None
        value = observable_value(kind, value)
        v21, refs = self.v21, {"object_marking_refs": [marking]}
        if kind in _HASHES:
            return v21.File(hashes={_HASHES[kind]: value}, **refs)
        if kind == "asn":
            return v21.AutonomousSystem(number=asn_number(value), **refs)
        made = {
            "domain": v21.DomainName,
            "ipv4": v21.IPv4Address,
            "ipv6": v21.IPv6Address,
            "url": v21.URL,
            "email": v21.EmailAddress,
        }
        if kind == "filename":
            return v21.File(name=value, **refs)
        return made[kind](value=value, **refs)

    def _new(self, found: Optional[Any]) -> Iterator[Any]:
        """``found`` unless it was written already (observables have ids made of their value)."""
        if found is not None and found.id not in self.written:
            self.written.add(found.id)
            yield found

    def _pattern(self, kind: str, value: str) -> str:
        p = self.patterns
        kind_name, path = _PATHS[kind]
        value = observable_value(kind, value)
        constant = (
            p.IntegerConstant(asn_number(value)) if kind == "asn" else p.StringConstant(value)
        )
        comparison = p.EqualityComparisonExpression(p.ObjectPath(kind_name, path), constant)
        return str(p.ObservationExpression(comparison))

    def objects(self, item: Exported) -> Iterator[Any]:
        """The objects ``item`` adds to the bundle (none for an error or a skipped input)."""
        result = item.result
        if result.get("status") not in ("ok", "no_results"):
            return
        yield from self._marking(item.tlp)
        marking = TLP_MARKINGS[item.tlp]
        common = self._common(marking)
        given = result.get("input") if isinstance(result.get("input"), Mapping) else {}
        kind_name, value = str(given.get("type", "")), str(given.get("value", ""))
        source = self._observable(value_kind(kind_name, value), value, marking)
        yield from self._new(source)
        label = self.head.label
        verdict = verdict_of(result)
        about: list[str] = [] if source is None else [source.id]
        if verdict["level"] in _CONFIDENCE and source is not None:
            indicator = self._indicator(
                result, verdict, value_kind(kind_name, value), value, common
            )
            yield indicator
            yield self.v21.Relationship(
                relationship_type="based-on",
                source_ref=indicator.id,
                target_ref=source.id,
                **common,
            )
            about.append(indicator.id)
        unstated: list[str] = [] if source is not None else [f"{kind_name} {value}"]
        found_notes: list[Any] = []
        for indicator_found in indicators_of(result):
            found_kind, found_value = str(indicator_found.get("type", "")), indicator_found["value"]
            observable = self._observable(value_kind(found_kind, found_value), found_value, marking)
            if observable is None:
                unstated.append(f"{found_kind} {found_value}")
                continue
            yield from self._new(observable)
            related = indicator_found.get("match") == "related"
            if related and source is not None and observable.id != source.id:
                yield self.v21.Relationship(
                    relationship_type="related-to",
                    source_ref=source.id,
                    target_ref=observable.id,
                    description=clean(f"{label} found it searching {value}", 1200),
                    **common,
                )
            note = self._found_note(indicator_found, observable.id, common)
            if note is not None:
                found_notes.append(note)
        yield self.v21.Note(
            abstract=clean(f"{label} verdict on {kind_name} {value}: {verdict['level']}", 300),
            content=_verdict_text(label, kind_name, value, verdict, unstated),
            object_refs=about or [self.identity.id],
            **common,
        )
        yield from found_notes

    def _indicator(
        self,
        result: Mapping[str, Any],
        verdict: Mapping[str, Any],
        kind: Optional[str],
        value: str,
        common: Mapping[str, Any],
    ) -> Any:
        level = verdict["level"]
        score = verdict["score"]
        return self.v21.Indicator(
            name=clean(f"{level}: {value}", 300),
            description=clean("\n".join(verdict["reasons"]) or f"{self.head.label}: {level}"),
            indicator_types=_INDICATOR_TYPES[level],
            pattern=self._pattern(str(kind), value),
            pattern_type="stix",
            valid_from=first_seen(result) or self.when,
            confidence=_CONFIDENCE[level] if score is None else score,
            labels=[level],
            **common,
        )

    def _found_note(
        self, found: Mapping[str, Any], observable: str, common: Mapping[str, Any]
    ) -> Optional[Any]:
        """A note listing what the vendor said about a found value (None when nothing)."""
        attributes = found.get("attributes")
        if not isinstance(attributes, list) or not attributes:
            return None
        lines = [
            f"{clean(a.get('name'), 200)}: {clean(a.get('value'), 1000)}"
            + (f" ({clean(a.get('published_at'), 40)})" if a.get("published_at") else "")
            for a in attributes[:_NOTE_LINES]
            if isinstance(a, Mapping)
        ]
        if len(attributes) > _NOTE_LINES:
            lines.append(f"... and {len(attributes) - _NOTE_LINES} more")
        match = found.get("match") or "exact"
        return self.v21.Note(
            abstract=clean(f"{self.head.label} about {found['value']} ({match} match)", 300),
            content=clean("\n".join(lines), _NOTE_LIMIT),
            object_refs=[observable],
            **common,
        )


def _verdict_text(
    label: str, kind: str, value: str, verdict: Mapping[str, Any], unstated: list[str]
) -> str:
    score = verdict["score"]
    lines = [f"{label} verdict on {kind} {value}: {verdict['level']}"]
    if score is not None:
        lines[0] += f" (score {score}/100)"
    lines += [f"- {reason}" for reason in verdict["reasons"]]
    if unstated:
        lines.append("Not stated as observables (their form is not that of their type):")
        lines += [f"- {text}" for text in unstated[:_NOTE_LINES]]
    return clean("\n".join(lines), _NOTE_LIMIT)
