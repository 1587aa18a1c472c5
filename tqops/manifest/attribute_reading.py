"""How an action's attributes read, as its manifest declares it (``reading:``).

Per attribute name: the ``label`` an analyst sees (the name when none is given), a ``scale``
for a number (``6``: out of 6 from 0; or ``{min, max, worse}``, ``worse`` saying whether a
higher or a lower value is the more alarming), ``detail: true`` for raw vendor keys an analyst
rarely needs (kept out of the summary, marked in the groups) and ``headline: true`` for the one
scaled attribute a short report leads with (the Cortex report's highest severity). ``called``
names what a group of attributes sharing one published date is (an observation, a sighting).
:mod:`tqops.mapping.reading` reads a found indicator with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

__all__ = [
    "AttributeReading",
    "ReadingSpec",
    "Scale",
    "reading_problems",
    "variant_reading_problems",
]

#: the transform whose attributes are dates: they take no scale
DATE_TRANSFORM = "datetime"


def _number(value: float) -> str:
    """``6`` rather than ``6.0``; other numbers as Python writes them."""
    return str(int(value)) if float(value).is_integer() else str(value)


@attrs.frozen
class Scale:
    """A number's scale: from ``low`` to ``high``; ``worse`` is ``higher`` or ``lower`` (the
    more alarming end; None: not declared, read as higher)."""

    high: float
    low: float = 0
    worse: Optional[str] = None

    @classmethod
    def from_raw(cls, raw: Any) -> Optional[Scale]:
        if raw is None:
            return None
        if isinstance(raw, Mapping):
            return cls(float(raw["max"]), float(raw.get("min", 0)), raw.get("worse"))
        return cls(float(raw))

    @property
    def lower_is_worse(self) -> bool:
        return self.worse == "lower"

    def of(self, value: str) -> str:
        """``value`` on this scale: ``5/6``, or ``5 on -10..10`` when it does not start at 0."""
        if self.low == 0:
            return f"{value}/{_number(self.high)}"
        return f"{value} on {_number(self.low)}..{_number(self.high)}"

    def describe(self) -> str:
        """The scale in words, as the guide writes it: ``0-6``, ``0-100, higher is worse``."""
        text = f"{_number(self.low)}-{_number(self.high)}"
        return f"{text}, {self.worse} is worse" if self.worse else text


@attrs.frozen
class AttributeReading:
    """How one attribute name reads."""

    name: str
    label: str
    scale: Optional[Scale] = None
    detail: bool = False
    headline: bool = False
    notes: str = ""

    @classmethod
    def from_dict(cls, name: str, raw: Mapping[str, Any]) -> AttributeReading:
        return cls(
            name,
            raw.get("label", name),
            Scale.from_raw(raw.get("scale")),
            bool(raw.get("detail", False)),
            bool(raw.get("headline", False)),
            raw.get("notes", ""),
        )


@attrs.frozen
class ReadingSpec:
    """An action's (or a variant's) reading: its attributes in the manifest's order, which is
    the order the summary leads with."""

    attributes: tuple[AttributeReading, ...] = ()
    called: str = "observation"

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Any]]) -> Optional[ReadingSpec]:
        if raw is None:
            return None
        entries = raw.get("attributes", {})
        return cls(
            tuple(AttributeReading.from_dict(name, entry) for name, entry in entries.items()),
            raw.get("called", "observation"),
        )

    def of(self, name: str) -> Optional[AttributeReading]:
        return next((a for a in self.attributes if a.name == name), None)

    @property
    def headline(self) -> Optional[AttributeReading]:
        return next((a for a in self.attributes if a.headline), None)


def _written_names(mapping: Mapping[str, Any]) -> tuple[set[str], set[str], bool]:
    """(the fixed names the mapping's rows write, those of them that are dates, whether any
    row takes its names from the data)."""
    names: set[str] = set()
    dates: set[str] = set()
    from_data = False
    for row in mapping.get("attributes", ()):
        name = row.get("name")
        if name is None:
            from_data = True
            continue
        names.add(name)
        if DATE_TRANSFORM in row.get("transforms", ()):
            dates.add(name)
    return names, dates, from_data


def reading_problems(raw: Mapping[str, Any], mapping: Mapping[str, Any], at: str) -> list[str]:
    """What the schema cannot say of a reading section at ``at`` (its ``$.path``), against
    the mapping table of the same action or variant: each name is one the mapping writes (any
    name, where a row takes names from the data, except a fixed name in another case), a
    scale is on no date and runs upwards, one headline at most, scaled and not detail."""
    problems: list[str] = []
    names, dates, from_data = _written_names(mapping)
    folded = {name.casefold(): name for name in names}
    headlines = []
    for name, entry in raw.get("attributes", {}).items():
        where = f"{at}.attributes.{name}"
        if name not in names and (not from_data or name.casefold() in folded):
            known = ", ".join(sorted(names))
            hint = (
                f" (did you mean {folded[name.casefold()]!r}?)" if name.casefold() in folded else ""
            )
            problems.append(
                f"attribute {name!r} is not a name the mapping writes{hint}; its names: "
                f"{known} @ {where}"
            )
        scale = entry.get("scale")
        if scale is not None and name in dates:
            problems.append(
                f"attribute {name!r} is a date (its row has the {DATE_TRANSFORM} transform), "
                f"not a number: it takes no scale @ {where}.scale"
            )
        if isinstance(scale, Mapping) and float(scale.get("min", 0)) >= float(scale["max"]):
            problems.append(
                f"scale of {name!r} runs from {scale.get('min', 0)} to {scale['max']}: min "
                f"must be below max @ {where}.scale"
            )
        if entry.get("headline"):
            headlines.append(name)
            if scale is None:
                problems.append(
                    f"headline attribute {name!r} needs a scale (a report says it as x/max) "
                    f"@ {where}.headline"
                )
            if entry.get("detail"):
                problems.append(
                    f"attribute {name!r} cannot be both headline and detail @ {where}.detail"
                )
    if len(headlines) > 1:
        problems.append(
            f"at most one headline attribute, got {len(headlines)}: {', '.join(headlines)} "
            f"@ {at}.attributes"
        )
    return problems


def variant_reading_problems(
    action: Mapping[str, Any], variant: Mapping[str, Any], key: str, at: str
) -> list[str]:
    """A variant's reading next to its action's: one each, or neither."""
    if "reading" in action and "reading" not in variant:
        return [
            f"the action has a reading, its variant {key!r} none (its attributes differ: give "
            f"it its own, or the action's by a YAML anchor) @ {at}"
        ]
    return []
