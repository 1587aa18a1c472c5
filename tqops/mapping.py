"""Mapper: a vendor response -> indicators, by the manifest's mapping table.

The indicator path's ``[]`` prefix names the *record* (``.iocs[]``): every other path under it
is evaluated per record, and a path that shares a deeper ``[]`` with its row (the published date
of ``.iocs[].observations[].severity`` is ``.iocs[].observations[].first_seen``) is read from
the same element, never by zipping flattened lists. A missing key or null yields nothing (and is
counted in the coverage report); a list yields one attribute per item; identical name/value
attributes of one indicator are merged, keeping the earliest published date; when a published
path reaches several dates, the earliest wins; a list of published paths is tried in order.

Speed: the rows' paths are merged into one trie, so a record is visited once whatever the number
of rows; that trie is then compiled once per manifest into a Python function (the way
fastjsonschema compiles a schema) whose nested loops and inlined common case (a string or number
under a fixed name) replace the recursive walk. The interpreter (:func:`_visit`) stays as the
specification: ``Mapper.compile(..., generate=False)`` uses it, and a property test checks that
both give identical results on arbitrary JSON. Path keys reach the generated code as constants
in its namespace, never as source text.
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


_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()
_MAX_GENERATED_DEPTH = 40  # Python nests at most 100 indents and 20 loops; deeper: interpret


def _generate(
    rows: Sequence[_Row],
    trie: _Node,
    indicator_published: tuple[_Relative, ...],
    names: Mapping[str, str],
) -> Optional[Callable[..., tuple[bool, ...]]]:
    """Compile the trie into one function with the semantics of :func:`_visit` + ``_emit``.

    Returns None (the interpreter is used) for tries too deep for Python's nesting limits.
    """
    if _depth(trie) > _MAX_GENERATED_DEPTH:
        return None
    namespace: dict[str, Any] = {
        "_UNSET": _UNSET,
        "_apply": _apply,
        "_scalar_text": _scalar_text,
        "_name_text": _name_text,
    }
    lines = [
        "def _mapped(record, document, published0, target, state, earliest, slow):",
        "    A = target.attributes",
        "    PRE = state.prefixes",
    ]
    for index in range(len(rows)):
        lines.append(f"    h{index} = False")

    def memo_level(index: int) -> int:
        """The [] depth a row's own published date is memoised on (-1: it takes the
        indicator's date, published0)."""
        row = rows[index]
        if row.published and row.published != indicator_published:
            return row.published_level
        return -1

    def memo_resets(node: _Node, level: int) -> list[str]:
        keys = {rows[i].published_key for i in _subtree(node) if memo_level(i) == level}
        return [f"p{key} = _UNSET" for key in sorted(keys)]

    lines.extend("    " + text for text in memo_resets(trie, 0))
    counter = iter(range(1 << 30))

    def constant(prefix: str, value: Any) -> str:
        name = f"{prefix}{next(counter)}"
        namespace[name] = value
        return name

    def emit_row(index: int, var: str, scopes: str, pad: str) -> None:
        row = rows[index]
        if memo_level(index) >= 0:
            key = row.published_key
            published_paths = constant("PUB", row.published)
            compute = [
                f"if p{key} is _UNSET:",
                f"    p{key} = earliest({published_paths}, document, record, {scopes})",
                f"P = p{key}",
            ]
        else:
            compute = ["P = published0"]
        row_name = constant("R", row)
        out = [*compute]
        condition = "t"
        if row.name_from is None:
            name = constant("N", names[row.name])  # type: ignore[index]
        else:
            source = row.name_from
            name = "(PRE.get(nt) or state.key(nt, ''))"
            condition = "t and nt"
            if (
                source.in_record
                and source.level
                and len(source.steps) == 1
                and isinstance(source.steps[0], str)
            ):  # the common case: a sibling key of the value's element
                element = f"s{source.level}"
                key_name = constant("K", source.steps[0])
                out += [
                    f"nm = {element}.get({key_name}) if isinstance({element}, dict) else None",
                    "nt = nm.strip() if type(nm) is str else _scalar_text(nm)",
                ]
            else:
                out.append(f"nt = _name_text({constant('S', source)}, document, record, {scopes})")

        def item(value: str) -> list[str]:
            if row.transforms:
                label = constant("L", f"{row.label}: ")
                code = [
                    "try:",
                    f"    y = _apply({constant('T', row.transforms)}, {value})",
                    "except ValueError as exc:",
                    f"    state.warn({label} + str(exc))",
                    "    y = None",
                    "t = _scalar_text(y)",
                ]
            else:
                code = [
                    f"if type({value}) is str:",
                    f"    t = {value}.strip()",
                    f"elif type({value}) is int:",
                    f"    t = str({value})",
                    "else:",
                    f"    t = _scalar_text({value})",
                ]
            return [
                *code,
                f"if {condition}:",
                f"    k = {name} + t",
                "    o = A.get(k, _UNSET)",
                "    if o is _UNSET or o is None or (P is not None and P < o):",
                "        A[k] = P",
                f"    h{index} = True",
            ]

        out += [
            f"if type({var}) is list:",
            f"    for y0 in {var}:",
            "        if y0 is None or isinstance(y0, dict):",
            "            continue",
            "        if isinstance(y0, list):",
            f"            if slow({row_name}, y0, {scopes}, document, record, P, target, state):",
            f"                h{index} = True",
            "            continue",
            *("        " + text for text in item("y0")),
            "else:",
            *("    " + text for text in item(var)),
        ]
        lines.extend(pad + text for text in out)

    def node_code(node: _Node, var: str, depth: int, pad: str) -> None:
        scopes = "(" + "".join(f"s{level}, " for level in range(1, depth + 1)) + ")"
        for index in node.rows:
            emit_row(index, var, scopes, pad)
        text_keys = [(k, c) for k, c in node.keys.items() if isinstance(k, str)]
        number_keys = [(k, c) for k, c in node.keys.items() if isinstance(k, int)]
        if text_keys:
            lines.append(f"{pad}if isinstance({var}, dict):")
            for key, child in text_keys:
                found = f"v{next(counter)}"
                lines.append(f"{pad}    {found} = {var}.get({constant('K', key)})")
                lines.append(f"{pad}    if {found} is not None:")
                node_code(child, found, depth, pad + "        ")
        if number_keys:
            size = f"n{next(counter)}"
            lines.append(f"{pad}if isinstance({var}, list):")
            lines.append(f"{pad}    {size} = len({var})")
            for key, child in number_keys:
                found = f"v{next(counter)}"
                lines.append(f"{pad}    if {-key - 1 if key < 0 else key} < {size}:")
                lines.append(f"{pad}        {found} = {var}[{constant('K', key)}]")
                lines.append(f"{pad}        if {found} is not None:")
                node_code(child, found, depth, pad + "            ")
        if node.each is not None:
            element = f"s{depth + 1}"
            lines.append(f"{pad}if isinstance({var}, list):")
            lines.append(f"{pad}    for {element} in {var}:")
            lines.append(f"{pad}        if {element} is None:")
            lines.append(f"{pad}            continue")
            lines.extend(f"{pad}        {text}" for text in memo_resets(node.each, depth + 1))
            node_code(node.each, element, depth + 1, pad + "        ")

    node_code(trie, "record", 0, "    ")
    lines.append("    return (" + "".join(f"h{i}, " for i in range(len(rows))) + ")")
    source = "\n".join(lines) + "\n"
    try:
        code = compile(source, "<tqops generated mapping>", "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    exec(code, namespace)  # noqa: S102 - our own source; every path key is a namespace constant
    function = namespace["_mapped"]
    function.source = source
    return function  # type: ignore[no-any-return]


def _name_text(source: _Relative, document: Any, record: Any, scopes: tuple[Any, ...]) -> str:
    return _scalar_text(_first(_evaluate(source, document, record, scopes)))


def _subtree(node: _Node) -> list[int]:
    found = list(node.rows)
    for child in node.keys.values():
        found += _subtree(child)
    if node.each is not None:
        found += _subtree(node.each)
    return found


def _depth(node: _Node) -> int:
    children = [*node.keys.values(), *([node.each] if node.each is not None else [])]
    return 1 + max((_depth(child) for child in children), default=0)


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
    #: the table's fixed attribute names -> their key prefixes
    _names: Mapping[str, str]
    #: the trie compiled into a function (None: the interpreter walks the trie)
    _generated: Optional[Callable[..., tuple[bool, ...]]] = None

    @classmethod
    def compile(
        cls,
        spec: MappingSpec,
        transforms: Optional[Mapping[str, Transform]] = None,
        generate: bool = True,
    ) -> Mapper:
        """Compile ``spec``; raise :class:`ManifestError` naming every unknown transform.

        ``generate=False`` keeps the interpreter (the reference the generated code is tested
        against)."""
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
        trie = _trie(rows)
        names = _name_table(row.name for row in rows if row.name_from is None)
        published = tuple(_relative(value_steps, p, prefix) for p in rule.published_at)
        return cls(
            spec=spec,
            prefix=prefix,
            values=values,
            type=_relative(value_steps, rule.type_path, prefix) if rule.type_path else None,
            type_table=type_table,
            value_transforms=tuple(known[t] for t in rule.transforms),
            published=published,
            rows=tuple(rows),
            source=source,
            trie=trie,
            global_rows=tuple(i for i, row in enumerate(rows) if not row.value.in_record),
            names=names,
            generated=_generate(rows, trie, published, names) if generate else None,
        )

    @property
    def generated_source(self) -> Optional[str]:
        """The Python source the trie was compiled into (None: interpreted)."""
        return getattr(self._generated, "source", None)

    # -- mapping ----------------------------------------------------------------------------

    def map(self, document: Any, selected: Optional[Indicator] = None) -> MappingResult:
        """Map one response."""
        return self.map_all((document,), selected)

    def map_all(
        self, documents: Iterable[Any], selected: Optional[Indicator] = None
    ) -> MappingResult:
        """Map several responses (pages) into one merged result."""
        state = _State(dict(self._names))
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
        rows = self._rows
        memo: dict[tuple[int, int], Optional[datetime]] = {}  # (published_key, element id)
        if self._generated is not None:
            hits = list(
                self._generated(
                    record, document, published, target, state, self._earliest, self._emit_items
                )
            )
        else:
            hits = [False] * len(rows)

            def emit(index: int, raw: Any, scopes: tuple[Any, ...]) -> None:
                if self._emit(
                    rows[index], raw, scopes, document, record, published, target, state, memo
                ):
                    hits[index] = True

            _visit(self._trie, record, (), emit)  # one pass over the record feeds every row
        for index in self._global_rows:
            for raw, scopes in walk(document, rows[index].value.steps):
                if self._emit(
                    rows[index], raw, scopes, document, record, published, target, state, memo
                ):
                    hits[index] = True
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
        return self._emit_items(row, raw, scopes, document, record, published, entry, state)

    def _emit_items(
        self,
        row: _Row,
        raw: Any,
        scopes: tuple[Any, ...],
        document: Any,
        record: Any,
        published: Optional[datetime],
        entry: _Entry,
        state: _State,
    ) -> bool:
        """Add the attributes one value of a row makes at its published date."""
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
            entry.add(state.key(name, text), published)  # type: ignore[arg-type]
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
            steps = path.steps
            if len(steps) == 1 and type(steps[0]) is str and path.in_record:
                # the common case, a key of the record or of an element: no walk
                base = scopes[path.level - 1] if path.level else record
                raw = base.get(steps[0]) if isinstance(base, dict) else None
                if raw is not None:
                    try:
                        return parse_datetime(raw)
                    except ValueError:
                        pass
                continue
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
    #: attribute key (its name's prefix + its value) -> published date; insertion ordered
    attributes: dict[str, Optional[datetime]] = attrs.field(factory=dict)

    def add(self, key: str, published: Optional[datetime]) -> None:
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


def _name_prefix(number: int) -> str:
    """The two-character prefix of the ``number``-th attribute name (up to 1.2e12 names)."""
    return chr(number // 0x110000) + chr(number % 0x110000)


def _name_table(names: Iterable[Optional[str]]) -> dict[Any, str]:
    table: dict[Any, str] = {}
    for name in names:
        table.setdefault(name, _name_prefix(len(table)))
    return table


@attrs.define
class _State:
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
    entries: dict[tuple[IndicatorType, str], _Entry] = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)
    missing: Counter = attrs.field(factory=Counter)
    records: int = 0

    @names.default
    def _names(self) -> dict[str, str]:
        return {prefix: name for name, prefix in self.prefixes.items()}

    def key(self, name: str, value: str) -> str:
        prefix = self.prefixes.get(name)
        if prefix is None:
            prefix = self.prefixes[name] = _name_prefix(len(self.prefixes))
            self.names[prefix] = name
        return prefix + value

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
        names = self.names
        indicators = tuple(
            Indicator(
                value=e.value,
                type=e.type,
                published_at=e.published,
                attributes=tuple(
                    Attribute(names[k[:2]], k[2:], p) for k, p in e.attributes.items()
                ),
                sources=sources,
            )
            for e in self.entries.values()
        )
        return MappingResult(indicators, tuple(self.warnings), dict(self.missing), self.records)
