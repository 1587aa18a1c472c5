"""What a mapping run collects: indicators by type and value, their attributes, warnings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Optional

import attrs

from tqops.model import Attribute, Indicator, IndicatorType, Source
from tqops.tlp import strictness

__all__ = ["Entry", "MappingResult", "State", "earlier", "name_prefix", "name_table"]

_MAX_WARNINGS = 25


@attrs.frozen
class MappingResult:
    """What one or more responses mapped to."""

    indicators: tuple[Indicator, ...]
    warnings: tuple[str, ...] = ()
    #: per mapping row (its path), how many records lacked a value for it
    missing: Mapping[str, int] = attrs.field(factory=dict)
    records: int = 0
    #: record keys (relative paths) neither read nor ignored by the table: the drift check
    unmapped: tuple[str, ...] = ()


def earlier(a: Optional[datetime], b: Optional[datetime]) -> Optional[datetime]:
    """The earlier of two dates, a known date winning over None."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def name_prefix(number: int) -> str:
    """The two-character prefix of the ``number``-th attribute name (up to 1.2e12 names)."""
    return chr(number // 0x110000) + chr(number % 0x110000)


def name_table(names: Iterable[Optional[str]]) -> dict[Any, str]:
    """Each distinct name -> its prefix, numbered in order of first appearance."""
    table: dict[Any, str] = {}
    for name in names:
        table.setdefault(name, name_prefix(len(table)))
    return table


@attrs.define
class Entry:
    """An indicator being collected, with its attributes keyed as :class:`State` explains."""

    type: IndicatorType
    value: str
    published: Optional[datetime]
    #: attribute key (its name's prefix + its value) -> published date; insertion ordered
    attributes: dict[str, Optional[datetime]] = attrs.field(factory=dict)
    #: the TLP the records gave the indicator (None: the source's own)
    tlp: Optional[str] = None

    def set_tlp(self, name: str) -> None:
        """Take ``name`` as the TLP, or keep a stricter one already given."""
        if self.tlp is None or strictness(name) > strictness(self.tlp):
            self.tlp = name

    def add(self, key: str, published: Optional[datetime]) -> None:
        """Add an attribute, or keep the earlier date of one already there."""
        if key in self.attributes:
            self.attributes[key] = earlier(self.attributes[key], published)
        else:
            self.attributes[key] = published


@attrs.define
class State:
    """What a mapping run collects.

    An attribute is keyed by a string, its name's two-character prefix followed by its value,
    rather than by a (name, value) tuple: strings are not tracked by the garbage collector, so
    a page of many attributes does not set off full collections over the whole response (this
    alone took the mapping from 1.2x to 0.7x of ``json.loads``).
    """

    #: attribute name -> its prefix (seeded with the table's fixed names, which the
    #: generated code holds as constants)
    prefixes: dict[str, str]
    names: dict[str, str] = attrs.field()
    entries: dict[tuple[IndicatorType, str], Entry] = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)
    missing: Counter[str] = attrs.field(factory=Counter)
    #: per key of ``missing`` counted as records go, how many records' rows had been read
    #: before its first miss (the rows' misses are counted at the end: their order follows)
    missed_before: dict[str, int] = attrs.field(factory=dict)
    records: int = 0
    unmapped: set[str] = attrs.field(factory=set)

    @names.default
    def _names(self) -> dict[str, str]:
        return {prefix: name for name, prefix in self.prefixes.items()}

    def key(self, name: str, value: str) -> str:
        """The key of the attribute ``name``: ``value``, numbering a name not seen before."""
        prefix = self.prefixes.get(name)
        if prefix is None:
            prefix = self.prefixes[name] = name_prefix(len(self.prefixes))
            self.names[prefix] = name
        return prefix + value

    def warn(self, message: str) -> None:
        """Keep a warning once, up to a few of them."""
        if message not in self.warnings and len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(message)

    def drift(self, label: str, found: Mapping[str, Any], known: frozenset[str]) -> None:
        """Note the keys of ``found`` (an object at ``label``) the table does not know."""
        self.unmapped.update(label + key for key in found if key not in known)

    def entry(
        self, indicator_type: IndicatorType, value: str, published: Optional[datetime]
    ) -> Entry:
        """The indicator of that type and value, made on first sight, merged after."""
        key = (indicator_type, value)
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = Entry(indicator_type, value, published)
        else:
            found.published = earlier(found.published, published)
        return found

    def result(self, source: Optional[Source], status: str = "Active") -> MappingResult:
        """The collected indicators, each with its attributes in the order they were found
        and the ``status`` the table gives them."""
        names = self.names
        indicators = tuple(
            [
                Indicator(
                    value=e.value,
                    type=e.type,
                    status=status,
                    published_at=e.published,
                    attributes=_attributes(names, e.attributes),
                    sources=_sources(source, e.tlp),
                )
                for e in self.entries.values()
            ]
        )
        return MappingResult(
            indicators,
            tuple(self.warnings),
            dict(self.missing),
            self.records,
            tuple(sorted(self.unmapped)),
        )


def _attributes(
    names: Mapping[str, str], keyed: dict[str, Optional[datetime]]
) -> tuple[Attribute, ...]:
    """The attributes of an entry, in the order they were found (``map`` builds them in C:
    this runs once per attribute of a response)."""
    keys = list(keyed)
    return tuple(
        map(Attribute, [names[k[:2]] for k in keys], [k[2:] for k in keys], keyed.values())
    )


def _sources(source: Optional[Source], tlp: Optional[str]) -> tuple[Source, ...]:
    if source is None:
        return ()
    return (source if tlp is None else Source(source.name, tlp),)
