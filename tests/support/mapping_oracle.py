"""The mapping's specification: an interpreter the compiled mapper is checked against.

It walks the rows' trie recursively and adds each value through :func:`_emit`: the engine
``tqops.mapping`` ran beside its generated code before it kept only the compiled one. How a
table is resolved and how a record's indicator is made are the package's own (they are not what
the generated code replaces); what the generated code inlines is interpreted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Callable, Optional

from tqops import Indicator, MappingSpec
from tqops.manifest.feedpath import walk
from tqops.manifest.transforms import Transform
from tqops.mapping.mapper import map_documents
from tqops.mapping.rows import Node, Row, earliest, evaluate, split_pair
from tqops.mapping.state import Entry, MappingResult, State
from tqops.mapping.table import Table, compile_table
from tqops.mapping.values import apply_transforms, first, flatten, scalar_text

__all__ = ["Interpreter", "interpret"]

Memo = dict[tuple[int, int], Optional[datetime]]


class Interpreter:
    """A :class:`tqops.Mapper` look-alike that interprets its table instead of compiling it."""

    def __init__(self, table: Table) -> None:
        self.table = table

    @classmethod
    def compile(
        cls, spec: MappingSpec, transforms: Optional[Mapping[str, Transform]] = None
    ) -> Interpreter:
        """Resolve ``spec`` (unknown transforms raise as for the compiled mapper)."""
        return cls(compile_table(spec, transforms))

    @property
    def spec(self) -> MappingSpec:
        """The mapping table interpreted."""
        return self.table.spec

    def map(self, document: Any, selected: Optional[Indicator] = None) -> MappingResult:
        """Map one response."""
        return self.map_all((document,), selected)

    def map_all(
        self, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> MappingResult:
        """Map several responses (pages) into one merged result."""
        return map_documents(self.table, documents, selected, self._rows_of_record)

    def _rows_of_record(
        self,
        record: Any,
        document: Any,
        published: Optional[datetime],
        target: Entry,
        state: State,
    ) -> list[bool]:
        rows = self.table.rows
        hits = [False] * len(rows)
        memo: Memo = {}  # (published_key, element id) -> date, shared by every row

        def emit(index: int, raw: Any, scopes: tuple[Any, ...]) -> None:
            row = rows[index]
            if _emit(row, raw, scopes, document, record, published, target, state, memo):
                hits[index] = True

        # one pass over the record feeds every row (and checks each object for drift)
        _visit(self.table.trie, record, (), emit, state)
        for index in self.table.global_rows:
            for raw, scopes in walk(document, rows[index].value.steps):
                emit(index, raw, scopes)
        return hits


def interpret(
    spec: MappingSpec,
    transforms: Optional[Mapping[str, Transform]],
    document: Any,
    selected: Optional[Indicator] = None,
) -> MappingResult:
    """What the mapping table ``spec`` makes of ``document``, interpreted."""
    return Interpreter.compile(spec, transforms).map(document, selected)


def _visit(
    node: Node,
    value: Any,
    scopes: tuple[Any, ...],
    emit: Callable[[int, Any, tuple[Any, ...]], None],
    state: State,
) -> None:
    for index in node.rows:
        emit(index, value, scopes)
    if node.known is not None and isinstance(value, dict):
        # the drift check: every key of an object here is read or ignored by the table
        unknown = [key for key in value if key not in node.known]
        state.unmapped.update(node.label + key for key in unknown)
    if node.keys:
        if isinstance(value, dict):
            for key, child in node.keys.items():
                if isinstance(key, str):
                    found = value.get(key)
                    if found is not None:
                        _visit(child, found, scopes, emit, state)
        elif isinstance(value, list):
            for key, child in node.keys.items():
                if isinstance(key, int) and -len(value) <= key < len(value):
                    found = value[key]
                    if found is not None:
                        _visit(child, found, scopes, emit, state)
    if node.each is not None and isinstance(value, list):
        child = node.each
        for element in value:
            if element is not None:
                _visit(child, element, (*scopes, element), emit, state)


def _emit(
    row: Row,
    raw: Any,
    scopes: tuple[Any, ...],
    document: Any,
    record: Any,
    indicator_published: Optional[datetime],
    entry: Entry,
    state: State,
    memo: Memo,
) -> bool:
    """Add the attributes one value of a row makes; True when it made any."""
    published = indicator_published
    if row.published:
        # rows under the same element share its date: evaluate it once per element
        level = row.published_level
        anchor = scopes[level - 1] if level else record
        key = (row.published_key, id(anchor))
        if key not in memo:
            memo[key] = earliest(row.published, document, record, scopes)
        published = memo[key]
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
        if row.separator is not None:  # "name:value": the name is the text before it
            name, text = split_pair(row.separator, f"{row.label}: ", text, state)
            if not name or not text:
                continue
        elif row.name_from is not None:
            source = row.name_from
            if source.in_record and source.level and len(source.steps) == 1:
                element = scopes[source.level - 1]  # the common case: a sibling key
                found = element.get(source.steps[0]) if isinstance(element, dict) else None
            else:
                found = first(evaluate(source, document, record, scopes))
            name = scalar_text(found)
            if not name:
                continue
        entry.add(state.key(name, text), published)  # type: ignore[arg-type]
        made = True
    return made
