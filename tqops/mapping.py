"""Mapper: a vendor response -> indicators, by the manifest's mapping table.

The indicator path's ``[]`` prefix names the *record* (``.iocs[]``): every other path under it
is evaluated per record, and a path that shares a deeper ``[]`` with its row (the published date
of ``.iocs[].observations[].severity`` is ``.iocs[].observations[].first_seen``) is read from
the same element, never by zipping flattened lists. A missing key or null yields nothing (and is
counted in the coverage report); a list yields one attribute per item; identical name/value
attributes of one indicator are merged, keeping the earliest published date; when a published
path reaches several dates, the earliest wins; a list of published paths is tried in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Callable, Optional

import attrs

from .dates import parse_datetime
from .errors import ManifestError
from .manifest import MappingSpec
from .model import Attribute, Indicator, IndicatorType, Source
from .paths import EACH, FeedPath, Step, walk
from .transforms import BUILTIN_TRANSFORMS, Transform

__all__ = ["Mapper", "MappingResult"]

_MAX_WARNINGS = 25


@attrs.frozen
class MappingResult:
    """What one or more responses mapped to."""

    indicators: tuple[Indicator, ...]
    warnings: tuple[str, ...] = ()
    #: per mapping row (its path), how many records lacked a value for it
    missing: Mapping[str, int] = attrs.field(factory=dict)
    records: int = 0


@attrs.frozen
class _Relative:
    """A path evaluated from an anchor: the record, or the element of a shared ``[]``."""

    level: int  # 0: the base (record or document); n: the element of the row's n-th []
    steps: tuple[Step, ...]
    in_record: bool


def _relative(row: tuple[Step, ...], dep: FeedPath, prefix: tuple[Step, ...]) -> _Relative:
    steps = dep.steps
    if steps[: len(prefix)] != prefix:
        return _Relative(0, steps, in_record=False)
    steps = steps[len(prefix) :]
    level = cut = 0
    for index, (a, b) in enumerate(zip(row, steps)):
        if a != b:
            break
        if a is EACH:
            level += 1
            cut = index + 1
    return _Relative(level, steps[cut:], in_record=True)


@attrs.frozen
class _TypeEntry:
    """A type-table entry: a fixed platform type or one derived from the raw value."""

    fixed: Optional[IndicatorType]
    derive: Optional[Transform]
    values: tuple[_Relative, ...]


@attrs.frozen
class _Row:
    label: str
    name: Optional[str]
    value: _Relative
    name_from: Optional[_Relative]
    published: tuple[_Relative, ...]
    transforms: tuple[Transform, ...]
    #: rows with the same published paths share this key (their dates are computed once)
    published_key: int = 0
    #: the deepest [] element the published date depends on (0: the record)
    published_level: int = 0


@attrs.define
class _Node:
    """A trie of the rows' value paths: one visit of a record feeds every row."""

    keys: dict[Any, _Node] = attrs.field(factory=dict)
    each: Optional[_Node] = None
    rows: list[int] = attrs.field(factory=list)


def _trie(rows: Sequence[_Row]) -> _Node:
    root = _Node()
    for index, row in enumerate(rows):
        if not row.value.in_record:
            continue
        node = root
        for step in row.value.steps:
            if step is EACH:
                if node.each is None:
                    node.each = _Node()
                node = node.each
            else:
                node = node.keys.setdefault(step, _Node())
        node.rows.append(index)
    return root


def _visit(
    node: _Node,
    value: Any,
    scopes: tuple[Any, ...],
    emit: Callable[[int, Any, tuple[Any, ...]], None],
) -> None:
    for index in node.rows:
        emit(index, value, scopes)
    if node.keys:
        if isinstance(value, dict):
            for key, child in node.keys.items():
                if isinstance(key, str):
                    found = value.get(key)
                    if found is not None:
                        _visit(child, found, scopes, emit)
        elif isinstance(value, list):
            for key, child in node.keys.items():
                if isinstance(key, int) and -len(value) <= key < len(value):
                    found = value[key]
                    if found is not None:
                        _visit(child, found, scopes, emit)
    if node.each is not None and isinstance(value, list):
        child = node.each
        for element in value:
            if element is not None:
                _visit(child, element, (*scopes, element), emit)


@attrs.frozen
class Mapper:
    """A mapping table compiled once; :meth:`map` makes indicators from a response."""

    spec: MappingSpec
    _prefix: tuple[Step, ...]
    _values: tuple[_Relative, ...]
    _type: Optional[_Relative]
    _type_table: Mapping[str, _TypeEntry]
    _value_transforms: tuple[Transform, ...]
    _published: tuple[_Relative, ...]
    _rows: tuple[_Row, ...]
    _source: Optional[Source]
    _trie: _Node
    _global_rows: tuple[int, ...]

    @classmethod
    def compile(
        cls, spec: MappingSpec, transforms: Optional[Mapping[str, Transform]] = None
    ) -> Mapper:
        """Compile ``spec``; raise :class:`ManifestError` naming every unknown transform."""
        known = {**BUILTIN_TRANSFORMS, **(transforms or {})}
        unknown = sorted(spec.transform_names() - set(known))
        if unknown:
            raise ManifestError(
                "mapping uses unknown transforms",
                tuple(
                    f"{name!r} is not a transform; known: {', '.join(sorted(known))}"
                    for name in unknown
                ),
            )
        rule = spec.indicator
        prefix = rule.path.each_prefix()
        value_steps = rule.path.steps[len(prefix) :]
        values = (_Relative(0, value_steps, True),)
        type_table: dict[str, _TypeEntry] = {}
        problems = []
        for vendor_type, target in rule.type_table.items():
            if not isinstance(target, Mapping):
                type_table[vendor_type] = _TypeEntry(IndicatorType.from_name(target), None, values)
                continue
            own = values
            if "value" in target:
                path = FeedPath.parse(target["value"])
                if path.each_prefix() != prefix:
                    problems.append(
                        f"type {vendor_type!r}: value path {path} is not under the record "
                        f"{FeedPath(prefix)}"
                    )
                own = (_Relative(0, path.steps[len(prefix) :], True),)
            fixed = IndicatorType.from_name(target["type"]) if "type" in target else None
            derive = known[target["from_value"]] if "from_value" in target else None
            type_table[vendor_type] = _TypeEntry(fixed, derive, own)
        if problems:
            raise ManifestError("mapping type table is inconsistent", tuple(problems))
        rows = []
        keys: dict[tuple[_Relative, ...], int] = {}
        for row in spec.attributes:
            own = _relative((), row.path, prefix)
            row_steps = own.steps if own.in_record else row.path.steps
            published = tuple(_relative(row_steps, p, prefix) for p in row.published_at)
            rows.append(
                _Row(
                    label=str(row.path),
                    name=row.name,
                    value=own,
                    name_from=_relative(row_steps, row.name_path, prefix)
                    if row.name_path
                    else None,
                    published=published,
                    transforms=tuple(known[t] for t in row.transforms),
                    published_key=keys.setdefault(published, len(keys)),
                    published_level=max((p.level for p in published if p.in_record), default=0),
                )
            )
        source = Source(spec.source.name, spec.source.tlp) if spec.source else None
        return cls(
            spec=spec,
            prefix=prefix,
            values=values,
            type=_relative(value_steps, rule.type_path, prefix) if rule.type_path else None,
            type_table=type_table,
            value_transforms=tuple(known[t] for t in rule.transforms),
            published=tuple(_relative(value_steps, p, prefix) for p in rule.published_at),
            rows=tuple(rows),
            source=source,
            trie=_trie(rows),
            global_rows=tuple(i for i, row in enumerate(rows) if not row.value.in_record),
        )

    # -- mapping ----------------------------------------------------------------------------

    def map(self, document: Any, selected: Optional[Indicator] = None) -> MappingResult:
        """Map one response."""
        return self.map_all((document,), selected)

    def map_all(
        self, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> MappingResult:
        """Map several responses (pages) into one merged result."""
        state = _State()
        for document in documents:
            for record, _ in walk(document, self._prefix):
                state.records += 1
                self._map_record(document, record, selected, state)
        return state.result(self._source)

    def _map_record(
        self, document: Any, record: Any, selected: Optional[Indicator], state: _State
    ) -> None:
        entry: Optional[_TypeEntry] = None
        if self._type is not None:
            vendor_type = _first(_evaluate(self._type, document, record, ()))
            entry = self._type_table.get(str(vendor_type)) if vendor_type is not None else None
            if entry is None:
                shown = _first(value for value, _ in walk(record, self._values[0].steps))
                state.warn(
                    f"unknown type {str(vendor_type)[:40]!r} for {str(shown)[:80]!r}: "
                    "no platform type is mapped to it; indicator skipped"
                )
                return
        elif selected is None:
            state.warn("no selected indicator to take the type from; record skipped")
            return
        paths = entry.values if entry is not None else self._values
        raw_value = _first(value for path in paths for value, _ in walk(record, path.steps))
        if raw_value is None or isinstance(raw_value, (dict, list)):
            state.missing[str(self.spec.indicator.path)] += 1
            state.warn(f"a record has no usable value at {self.spec.indicator.path}; skipped")
            return
        try:
            value = _scalar_text(_apply(self._value_transforms, raw_value))
            if entry is None:
                indicator_type = selected.type  # type: ignore[union-attr]
            elif entry.fixed is not None:
                indicator_type = entry.fixed
            else:
                indicator_type = IndicatorType.from_name(entry.derive(raw_value))  # type: ignore[misc]
        except ValueError as exc:
            state.warn(f"{str(raw_value)[:80]!r} skipped: {exc}")
            return
        if not value:
            return
        published = self._earliest(self._published, document, record, ())
        target = state.entry(indicator_type, value, published)
        memo: dict[tuple[int, int], Optional[datetime]] = {}  # (published_key, element id)
        rows = self._rows
        hits = [False] * len(rows)

        def emit(index: int, raw: Any, scopes: tuple[Any, ...]) -> None:
            if self._emit(
                rows[index], raw, scopes, document, record, published, target, state, memo
            ):
                hits[index] = True

        _visit(self._trie, record, (), emit)  # one pass over the record feeds every row
        for index in self._global_rows:
            for raw, scopes in walk(document, rows[index].value.steps):
                emit(index, raw, scopes)
        for index, hit in enumerate(hits):
            if not hit:
                state.missing[rows[index].label] += 1

    def _emit(
        self,
        row: _Row,
        raw: Any,
        scopes: tuple[Any, ...],
        document: Any,
        record: Any,
        indicator_published: Optional[datetime],
        entry: _Entry,
        state: _State,
        memo: dict[tuple[int, int], Optional[datetime]],
    ) -> bool:
        """Add the attributes one value of a row makes; True when it made any."""
        published = indicator_published
        if row.published:
            # rows under the same element share its date: evaluate it once per element
            level = row.published_level
            anchor = scopes[level - 1] if level else record
            key = (row.published_key, id(anchor))
            if key not in memo:
                memo[key] = self._earliest(row.published, document, record, scopes)
            published = memo[key]
        made = False
        items = _flatten(raw) if isinstance(raw, list) else (raw,)
        for item in items:
            if row.transforms:
                try:
                    item = _apply(row.transforms, item)
                except ValueError as exc:
                    state.warn(f"{row.label}: {exc}")
                    continue
            text = _scalar_text(item)
            if not text:
                continue
            name = row.name
            if row.name_from is not None:
                source = row.name_from
                if source.in_record and source.level and len(source.steps) == 1:
                    element = scopes[source.level - 1]  # the common case: a sibling key
                    found = element.get(source.steps[0]) if isinstance(element, dict) else None
                else:
                    found = _first(_evaluate(source, document, record, scopes))
                name = _scalar_text(found)
                if not name:
                    continue
            entry.add(name, text, published)  # type: ignore[arg-type]
            made = True
        return made

    def _earliest(
        self,
        paths: tuple[_Relative, ...],
        document: Any,
        record: Any,
        scopes: tuple[Any, ...],
    ) -> Optional[datetime]:
        for path in paths:
            moments = []
            for raw in _evaluate(path, document, record, scopes):
                try:
                    moments.append(parse_datetime(raw))
                except ValueError:
                    continue
            if moments:
                return min(moments)
        return None


def _evaluate(
    path: _Relative, document: Any, record: Any, scopes: tuple[Any, ...]
) -> Iterable[Any]:
    if not path.in_record:
        base = document
    elif path.level == 0:
        base = record
    else:
        base = scopes[path.level - 1]
    return (value for value, _ in walk(base, path.steps))


def _first(values: Iterable[Any]) -> Any:
    for value in values:
        return value
    return None


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    elif value is not None and not isinstance(value, dict):
        yield value


def _apply(transforms: tuple[Transform, ...], value: Any) -> Any:
    for transform in transforms:
        if value is None:
            return None
        value = transform(value)
    return value


def _scalar_text(value: Any) -> str:
    """A scalar as the platform stores it; '' for what is not a scalar."""
    if type(value) is str:
        return value.strip()
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


@attrs.define
class _Entry:
    type: IndicatorType
    value: str
    published: Optional[datetime]
    attributes: dict[tuple[str, str], Optional[datetime]] = attrs.field(factory=dict)

    def add(self, name: str, value: str, published: Optional[datetime]) -> None:
        key = (name, value)
        if key in self.attributes:
            self.attributes[key] = _earlier(self.attributes[key], published)
        else:
            self.attributes[key] = published


def _earlier(a: Optional[datetime], b: Optional[datetime]) -> Optional[datetime]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@attrs.define
class _State:
    entries: dict[tuple[IndicatorType, str], _Entry] = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)
    missing: Counter = attrs.field(factory=Counter)
    records: int = 0

    def warn(self, message: str) -> None:
        if message not in self.warnings and len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(message)

    def entry(
        self, indicator_type: IndicatorType, value: str, published: Optional[datetime]
    ) -> _Entry:
        key = (indicator_type, value)
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = _Entry(indicator_type, value, published)
        else:
            found.published = _earlier(found.published, published)
        return found

    def result(self, source: Optional[Source]) -> MappingResult:
        sources = (source,) if source else ()
        indicators = tuple(
            Indicator(
                value=e.value,
                type=e.type,
                published_at=e.published,
                attributes=tuple(Attribute(n, v, p) for (n, v), p in e.attributes.items()),
                sources=sources,
            )
            for e in self.entries.values()
        )
        return MappingResult(indicators, tuple(self.warnings), dict(self.missing), self.records)
