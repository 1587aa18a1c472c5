"""Mapper: a mapping table compiled once, then run over responses record by record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Callable, Optional

import attrs

from tqops.manifest.feedpath import EACH, Step, walk
from tqops.manifest.mapping_table import MappingSpec
from tqops.manifest.transforms import Transform
from tqops.mapping.codegen import RecordFunction, generate
from tqops.mapping.drift import envelope_problem
from tqops.mapping.rows import Row, earliest, evaluate, name_text, split_pair
from tqops.mapping.state import Entry, MappingResult, State
from tqops.mapping.table import ResolvedType, Table, compile_table
from tqops.mapping.values import apply_transforms, first, flatten, scalar_text
from tqops.model import Indicator, IndicatorType

__all__ = ["Mapper", "RowsOfRecord", "emit_items", "first_at", "map_documents", "records"]

#: ``f(record, document, published, target, state)``: add the attributes every row makes from
#: one record to ``target``; per row, whether it made any
RowsOfRecord = Callable[[Any, Any, Optional[datetime], Entry, State], Sequence[bool]]


@attrs.frozen
class Mapper:
    """A mapping table compiled once; :meth:`map` makes indicators from a response."""

    _table: Table
    #: the rows' trie compiled into one function
    _generated: RecordFunction

    @classmethod
    def compile(
        cls, spec: MappingSpec, transforms: Optional[Mapping[str, Transform]] = None
    ) -> Mapper:
        """Compile ``spec``; raise :class:`ManifestError` naming every unknown transform, or
        the path of a table nested too deep to compile."""
        table = compile_table(spec, transforms)
        return cls(table, generate(table.rows, table.trie, table.published, table.names))

    @property
    def spec(self) -> MappingSpec:
        """The mapping table this mapper was compiled from."""
        return self._table.spec

    @property
    def table(self) -> Table:
        """The resolved table (rows, record prefix, the keys it reads and ignores)."""
        return self._table

    def envelope_problem(self, document: Any) -> Optional[str]:
        """Why ``document`` does not have the shape this table reads ("expected ..., got
        ..."); None when it has."""
        return envelope_problem(document, self._table.prefix)

    @property
    def generated_source(self) -> str:
        """The Python source the trie was compiled into."""
        return self._generated.source  # type: ignore[attr-defined, no-any-return]

    def map(self, document: Any, selected: Optional[Indicator] = None) -> MappingResult:
        """Map one response."""
        return self.map_all((document,), selected)

    def map_all(
        self, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> MappingResult:
        """Map several responses (pages) into one merged result."""
        return map_documents(self._table, documents, selected, self._rows_of_record)

    def _rows_of_record(
        self,
        record: Any,
        document: Any,
        published: Optional[datetime],
        target: Entry,
        state: State,
    ) -> Sequence[bool]:
        """One record's attributes: the compiled trie, then the rows outside the record."""
        hits = self._generated(record, document, published, target, state, earliest, emit_items)
        if not self._table.global_rows:
            return hits
        with_global = list(hits)
        _emit_global_rows(self._table, document, record, published, target, state, with_global)
        return with_global


def records(document: Any, prefix: tuple[Step, ...]) -> Iterator[Any]:
    """The records ``prefix`` reaches in ``document``, as ``walk`` finds them (the common
    ``key[]`` prefix without its generator per record)."""
    if len(prefix) == 2 and prefix[1] is EACH and type(prefix[0]) is str:
        found = document.get(prefix[0]) if isinstance(document, dict) else None
        if isinstance(found, list):
            for record in found:
                if record is not None:
                    yield record
        return
    for record, _ in walk(document, prefix):
        yield record


def first_at(node: Any, paths: Sequence[tuple[Step, ...]]) -> Any:
    """The first value the first of ``paths`` that reaches one gives from ``node`` (None:
    none does); a path of one key is read without a walk."""
    for steps in paths:
        if len(steps) == 1 and type(steps[0]) is str:
            if isinstance(node, dict):
                found = node.get(steps[0])
                if found is not None:
                    return found
            continue
        for value, _ in walk(node, steps):
            return value
    return None


def map_documents(
    table: Table,
    documents: Iterable[Any],
    selected: Optional[Indicator],
    rows_of: RowsOfRecord,
) -> MappingResult:
    """Map every record of ``documents``, their attribute rows by ``rows_of``."""
    state = State(dict(table.names))
    hits: list[Sequence[bool]] = []  # per record whose rows were read, each row's hit
    for document in documents:
        for record in records(document, table.prefix):
            state.records += 1
            _map_record(table, document, record, selected, state, rows_of, hits)
    _count_missing(table, state, hits)
    return state.result(table.source, table.spec.indicator.status)


def _count_missing(table: Table, state: State, hits: list[Sequence[bool]]) -> None:
    """Add to ``state.missing`` how many records each row had no value in, keeping its
    keys in the order of their first miss (a column count, not a count per record)."""
    if not hits:
        return
    ordered: list[tuple[int, int, str, int]] = []  # (first record, row, label, misses)
    for index, column in enumerate(zip(*hits)):
        if False in column:
            label = table.rows[index].label
            ordered.append((column.index(False), index, label, column.count(False)))
    if not ordered:
        return
    # a record without a usable value is counted before any row of the records after it
    before = [(state.missed_before.get(k, 0), -1, k, n) for k, n in state.missing.items()]
    missing = state.missing
    missing.clear()
    for _, _, label, count in sorted(before + ordered, key=lambda item: item[:2]):
        missing[label] += count


def _map_record(
    table: Table,
    document: Any,
    record: Any,
    selected: Optional[Indicator],
    state: State,
    rows_of: RowsOfRecord,
    hits: list[Sequence[bool]],
) -> None:
    """Make the record's indicator (with its type and value), then its attributes (each
    row's hit added to ``hits``)."""
    resolved: Optional[ResolvedType] = None
    if table.type is not None:
        vendor_type = _type_of(table, document, record)
        resolved = table.types.get(str(vendor_type)) if vendor_type is not None else None
        if resolved is None:
            shown = first(value for value, _ in walk(record, table.values[0].steps))
            state.warn(
                f"unknown type {str(vendor_type)[:40]!r} for {str(shown)[:80]!r}: "
                "no platform type is mapped to it; indicator skipped"
            )
            return
    elif table.fixed_type is None and selected is None:
        state.warn("no selected indicator to take the type from; record skipped")
        return
    paths = resolved.values if resolved is not None else table.values
    raw_value = first_at(record, [path.steps for path in paths])
    indicator_path = table.spec.indicator.path
    if raw_value is None or isinstance(raw_value, (dict, list)):
        label = str(indicator_path)
        state.missing[label] += 1
        state.missed_before.setdefault(label, len(hits))
        state.warn(f"a record has no usable value at {indicator_path}; skipped")
        return
    try:
        value = scalar_text(apply_transforms(table.value_transforms, raw_value))
        if table.fixed_type is not None:
            indicator_type = table.fixed_type
        elif resolved is None:
            indicator_type = selected.type  # type: ignore[union-attr]
        elif resolved.fixed is not None:
            indicator_type = resolved.fixed
        else:
            indicator_type = IndicatorType.from_name(resolved.derive(raw_value))  # type: ignore[misc]
    except ValueError as exc:
        state.warn(f"{str(raw_value)[:80]!r} skipped: {exc}")
        return
    if not value:
        return
    published = earliest(table.published, document, record, ())
    target = state.entry(indicator_type, value, published)
    if table.tlp is not None:
        _read_tlp(table, document, record, target, state)
    hits.append(rows_of(record, document, published, target, state))


def _type_of(table: Table, document: Any, record: Any) -> Any:
    """The vendor's type of ``record`` (the table's type path)."""
    path = table.type
    if path is not None and path.in_record and not path.level:
        return first_at(record, (path.steps,))
    return first(evaluate(path, document, record, ()))  # type: ignore[arg-type]


def _read_tlp(table: Table, document: Any, record: Any, target: Entry, state: State) -> None:
    """The indicator's TLP from the record (the strictest when records differ)."""
    raw = first(evaluate(table.tlp, document, record, ()))  # type: ignore[arg-type]
    if raw is None:
        return
    name = table.tlp_names.get(scalar_text(raw))
    if name is None:
        state.warn(f"unknown TLP {scalar_text(raw)[:40]!r}: kept the source's own")
        return
    target.set_tlp(name)


def _emit_global_rows(
    table: Table,
    document: Any,
    record: Any,
    published: Optional[datetime],
    target: Entry,
    state: State,
    hits: list[bool],
) -> None:
    """The rows whose value path is outside the record: walked over the whole document."""
    memo: dict[tuple[int, int], Optional[datetime]] = {}  # (published_key, element id)
    for index in table.global_rows:
        row = table.rows[index]
        for raw, scopes in walk(document, row.value.steps):
            date = published
            if row.published:
                # rows under the same element share its date: evaluate it once per element
                anchor = scopes[row.published_level - 1] if row.published_level else record
                key = (row.published_key, id(anchor))
                if key not in memo:
                    memo[key] = earliest(row.published, document, record, scopes)
                date = memo[key]
            if emit_items(row, raw, scopes, document, record, date, target, state):
                hits[index] = True


def emit_items(
    row: Row,
    raw: Any,
    scopes: tuple[Any, ...],
    document: Any,
    record: Any,
    published: Optional[datetime],
    entry: Entry,
    state: State,
) -> bool:
    """Add the attributes one value of a row makes at its published date; True if any.

    The generated code calls it for what it does not inline: a list nested in a list.
    """
    made = False
    items = flatten(raw) if isinstance(raw, list) else (raw,)
    for item in items:
        if row.transforms:
            try:
                item = apply_transforms(row.transforms, item)
            except ValueError as exc:
                state.warn(f"{row.label}: {exc}")
                continue
        text = scalar_text(item)
        if not text:
            continue
        name = row.name
        if row.separator is not None:
            name, text = split_pair(row.separator, f"{row.label}: ", text, state)
            if not name or not text:
                continue
        elif row.name_from is not None:
            source = row.name_from
            if source.in_record and source.level and len(source.steps) == 1:
                element = scopes[source.level - 1]  # the common case: a sibling key
                found = element.get(source.steps[0]) if isinstance(element, dict) else None
                name = scalar_text(found)
            else:
                name = name_text(source, document, record, scopes)
            if not name:
                continue
        entry.add(state.key(name, text), published)  # type: ignore[arg-type]
        made = True
    return made
