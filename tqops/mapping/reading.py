"""A found indicator's flat attributes, read as an analyst reads them.

Computed after mapping, from the indicator and its action variant's reading
(:class:`~tqops.manifest.attribute_reading.ReadingSpec`), never by the mapper:

- **groups**: the attributes that share one ``published_at`` (an observation, a sighting),
  newest first with their date; those without a date are one group, last. Each attribute
  carries its label, its value on its scale (``5/6``) and whether it is detail.
- **summary**: one line per attribute name that is not detail, the names the reading declares
  first (in its order), then the others as they first appear. A repeated number gives its
  range and its most alarming value (``1-6, max 6/6 (5 observations)``), a repeated date its
  range, a repeated text its distinct values with counts (``criminal (2), downloader``).

Found indicators come as :class:`~tqops.model.Indicator` (a run) or as their JSON form (stored
results): both are read alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

import attrs

from tqops.dates import isoformat_utc
from tqops.manifest.attribute_reading import (
    DATE_TRANSFORM,
    AttributeReading,
    ReadingSpec,
    Scale,
)
from tqops.manifest.document import ActionVariant
from tqops.model import Indicator

__all__ = ["Group", "Headline", "ReadAttribute", "Reader", "Reading", "SummaryLine"]

#: the distinct values a text summary names before it says how many more there are
MAX_VALUES_SHOWN = 6

Found = Union[Indicator, Mapping[str, Any]]


@attrs.frozen
class ReadAttribute:
    """One attribute as it reads: ``text`` is its value on its scale (``5/6``)."""

    name: str
    label: str
    value: str
    text: str
    detail: bool = False

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)  # every field, in order: all text but ``detail``


@attrs.frozen
class Group:
    """The attributes that share one published date (None: those without one)."""

    published_at: Optional[str]
    attributes: tuple[ReadAttribute, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "published_at": self.published_at,
            "attributes": [a.to_dict() for a in self.attributes],
        }


@attrs.frozen
class SummaryLine:
    """One attribute name, summed up: ``label: text``."""

    name: str
    label: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "text": self.text}

    def __str__(self) -> str:
        return f"{self.label}: {self.text}"


@attrs.frozen
class Headline:
    """The most alarming value of the headline attribute among some found indicators."""

    name: str
    label: str
    value: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "value": self.value, "text": self.text}


@attrs.frozen
class Reading:
    """A found indicator read: its groups, newest first, and its summary; ``detail`` counts
    the detail attributes the summary leaves out; ``called`` names a group."""

    groups: tuple[Group, ...]
    summary: tuple[SummaryLine, ...]
    detail: int = 0
    called: str = "observation"

    def to_dict(self) -> dict[str, Any]:
        return {
            "called": self.called,
            "summary": [line.to_dict() for line in self.summary],
            "groups": [group.to_dict() for group in self.groups],
        }


def _number(text: str) -> Optional[float]:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _attributes(found: Found) -> list[tuple[str, str, Any]]:
    """(name, value, published_at) of each attribute, in order: the date as the indicator
    holds it (a datetime, or ISO 8601 text in the JSON form), written out only for groups."""
    if isinstance(found, Indicator):
        return [(a.name, a.value, a.published_at) for a in found.attributes]
    out = []
    for item in found.get("attributes") or ():
        if isinstance(item, Mapping) and "name" in item:
            published = item.get("published_at")  # text or null; anything else: no date
            published = published if isinstance(published, str) and published else None
            out.append((str(item["name"]), str(item.get("value", "")), published))
    return out


def _iso(published: Any) -> Optional[str]:
    return (
        published if published is None or isinstance(published, str) else isoformat_utc(published)
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@attrs.frozen
class Reader:
    """An action variant's reading, ready to read found indicators (cheap: build one per run
    or per question)."""

    spec: ReadingSpec
    #: attribute names whose mapping rows make dates
    dates: frozenset[str] = frozenset()
    #: the declared attributes by name
    index: Mapping[str, AttributeReading] = attrs.field(init=False, eq=False, repr=False)

    @index.default
    def _index(self) -> Mapping[str, AttributeReading]:
        return {a.name: a for a in self.spec.attributes}

    @classmethod
    def of(cls, variant: ActionVariant) -> Reader:
        dates = frozenset(
            row.name
            for row in variant.mapping.attributes
            if row.name is not None and DATE_TRANSFORM in row.transforms
        )
        return cls(variant.reading or ReadingSpec(), dates)

    def _entry(self, name: str) -> AttributeReading:
        return self.index.get(name) or AttributeReading(name, name)

    def _text(self, entry: AttributeReading, value: str) -> str:
        if entry.scale is not None and _number(value) is not None:
            return entry.scale.of(value)
        return value

    def read(self, found: Found) -> Reading:
        """The found indicator's groups and summary."""
        attributes = _attributes(found)
        by_date: dict[Any, list[ReadAttribute]] = {}
        for name, value, published in attributes:
            entry = self._entry(name)
            item = ReadAttribute(name, entry.label, value, self._text(entry, value), entry.detail)
            by_date.setdefault(published, []).append(item)
        dated = sorted((d for d in by_date if d is not None), reverse=True)
        order = [*dated, *([None] if None in by_date else [])]
        groups = tuple(Group(_iso(d), tuple(by_date[d])) for d in order)
        detail = sum(1 for name, _, _ in attributes if self._entry(name).detail)
        return Reading(groups, self._summary(attributes), detail, self.spec.called)

    def summary(self, found: Found) -> list[dict[str, Any]]:
        """The JSON contract's ``summary`` of a found indicator."""
        return [line.to_dict() for line in self._summary(_attributes(found))]

    def _summary(self, attributes: Sequence[tuple[str, str, Any]]) -> tuple[SummaryLine, ...]:
        values: dict[str, list[tuple[str, Any]]] = {}
        for name, value, published in attributes:
            values.setdefault(name, []).append((value, published))
        declared = [a.name for a in self.spec.attributes if a.name in values]
        names = declared + [n for n in values if n not in self.index]
        lines = []
        for name in names:
            entry = self._entry(name)
            if not entry.detail:
                lines.append(SummaryLine(name, entry.label, self._line(entry, values[name])))
        return tuple(lines)

    def _line(self, entry: AttributeReading, seen: Sequence[tuple[str, Any]]) -> str:
        texts = [value for value, _ in seen]
        if len(texts) == 1:
            return self._with_direction(entry, self._text(entry, texts[0]))
        groups = len({published for _, published in seen})
        counted = (
            _plural(len(texts), self.spec.called)
            if groups == len(texts)
            else f"{len(texts)} values"
        )
        numbers = [_number(text) for text in texts]
        if all(n is not None for n in numbers):
            return self._numbers(entry, texts, [n for n in numbers if n is not None], counted)
        if entry.name in self.dates and len(set(texts)) > 1:
            return f"{min(texts)} to {max(texts)} ({counted})"
        return _distinct(texts)

    def _numbers(
        self, entry: AttributeReading, texts: Sequence[str], numbers: Sequence[float], counted: str
    ) -> str:
        """``1-6, max 6/6 (5 observations)``; the minimum where lower is worse."""
        low = texts[numbers.index(min(numbers))]
        high = texts[numbers.index(max(numbers))]
        if low == high or min(numbers) == max(numbers):
            return self._with_direction(entry, f"{self._text(entry, high)} ({counted})")
        lower_worse = entry.scale is not None and entry.scale.lower_is_worse
        worst = f"min {self._text(entry, low)}" if lower_worse else f"max {self._text(entry, high)}"
        return self._with_direction(entry, f"{low}-{high}, {worst} ({counted})")

    @staticmethod
    def _with_direction(entry: AttributeReading, text: str) -> str:
        scale: Optional[Scale] = entry.scale
        if scale is None or scale.worse is None:
            return text
        return f"{text}, {scale.worse} is worse"

    def headline(self, found: Iterable[Found]) -> Optional[Headline]:
        """The most alarming value of the reading's headline attribute among ``found``
        (those given: the caller chooses, e.g. the exact matches); None without one."""
        entry = self.spec.headline
        if entry is None or entry.scale is None:
            return None
        best: Optional[tuple[float, str]] = None
        for indicator in found:
            for name, value, _ in _attributes(indicator):
                number = _number(value) if name == entry.name else None
                if number is None:
                    continue
                key = -number if entry.scale.lower_is_worse else number
                if best is None or key > best[0]:
                    best = (key, value)
        if best is None:
            return None
        return Headline(entry.name, entry.label, best[1], entry.scale.of(best[1]))


def _distinct(texts: Sequence[str]) -> str:
    """Distinct values, the most frequent first (then as they came), each with its count
    when it repeats; past :data:`MAX_VALUES_SHOWN`, how many more."""
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    ranked = sorted(counts, key=lambda t: -counts[t])  # stable: ties keep their first order
    shown = [f"{t} ({counts[t]})" if counts[t] > 1 else t for t in ranked[:MAX_VALUES_SHOWN]]
    more = len(ranked) - MAX_VALUES_SHOWN
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
