"""A manifest's mapping table resolved once: its rows, trie and type table, ready to run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import attrs

from tqops.errors import ManifestError
from tqops.manifest.feedpath import FeedPath, Step
from tqops.manifest.mapping_table import MappingSpec
from tqops.manifest.transforms import BUILTIN_TRANSFORMS, Transform
from tqops.mapping.drift import KeyNode, key_trie, mark_known
from tqops.mapping.rows import Node, Relative, Row, build_trie, relative
from tqops.mapping.state import name_table
from tqops.model import IndicatorType, Source

__all__ = ["ResolvedType", "Table", "compile_table"]


@attrs.frozen
class ResolvedType:
    """A type-table entry, resolved: a fixed platform type or one derived from the raw value."""

    fixed: Optional[IndicatorType]
    derive: Optional[Transform]
    values: tuple[Relative, ...]


@attrs.frozen
class Table:
    """Everything mapping a record needs, computed from the spec once."""

    spec: MappingSpec
    #: the steps up to the record (the indicator path's last [])
    prefix: tuple[Step, ...]
    values: tuple[Relative, ...]
    type: Optional[Relative]
    types: Mapping[str, ResolvedType]
    #: the one type of every indicator, when the rule fixes it (``type`` is then None)
    fixed_type: Optional[IndicatorType]
    value_transforms: tuple[Transform, ...]
    published: tuple[Relative, ...]
    rows: tuple[Row, ...]
    source: Optional[Source]
    trie: Node
    #: the rows whose value path is outside the record: walked over the whole document
    global_rows: tuple[int, ...]
    #: the table's fixed attribute names -> their key prefixes
    names: Mapping[str, str]
    #: the keys the table reads or ignores under the record (the drift check's reference)
    keys: KeyNode = attrs.field(factory=KeyNode)
    #: the indicator's TLP: where the record holds it, and vendor value -> TLP name
    tlp: Optional[Relative] = None
    tlp_names: Mapping[str, str] = attrs.field(factory=dict)


def compile_table(spec: MappingSpec, transforms: Optional[Mapping[str, Transform]]) -> Table:
    """Resolve ``spec``; raise :class:`ManifestError` naming every unknown transform."""
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
    values = (Relative(0, value_steps, True),)
    rows = []
    keys: dict[tuple[Relative, ...], int] = {}
    for row in spec.attributes:
        own = relative((), row.path, prefix)
        row_steps = own.steps if own.in_record else row.path.steps
        published = tuple(relative(row_steps, p, prefix) for p in row.published_at)
        rows.append(
            Row(
                label=str(row.path),
                name=row.name,
                value=own,
                name_from=relative(row_steps, row.name_path, prefix) if row.name_path else None,
                published=published,
                transforms=tuple(known[t] for t in row.transforms),
                published_key=keys.setdefault(published, len(keys)),
                published_level=max((p.level for p in published if p.in_record), default=0),
                separator=row.name_separator,
            )
        )
    trie = build_trie(rows)
    read_keys = key_trie(_read_paths(spec, prefix), (path.steps for path in spec.ignore))
    mark_known(trie, read_keys)
    tlp = rule.tlp
    return Table(
        spec=spec,
        prefix=prefix,
        values=values,
        type=relative(value_steps, rule.type_path, prefix) if rule.type_path else None,
        types=_resolve_types(spec, prefix, values, known),
        fixed_type=rule.fixed_type,
        value_transforms=tuple(known[t] for t in rule.transforms),
        published=tuple(relative(value_steps, p, prefix) for p in rule.published_at),
        rows=tuple(rows),
        source=Source(spec.source.name, spec.source.tlp) if spec.source else None,
        trie=trie,
        global_rows=tuple(i for i, row in enumerate(rows) if not row.value.in_record),
        names=name_table(row.name for row in rows if row.name is not None),
        keys=read_keys,
        tlp=relative(value_steps, tlp.path, prefix) if tlp else None,
        tlp_names=dict(tlp.table) if tlp else {},
    )


def _read_paths(spec: MappingSpec, prefix: tuple[Step, ...]) -> list[tuple[Step, ...]]:
    """Every path of the table that lies in the record, as steps under it."""
    rule = spec.indicator
    paths = [rule.path, *rule.published_at]
    paths += [rule.type_path] if rule.type_path else []
    paths += [rule.tlp.path] if rule.tlp else []
    paths += [e.value_path for e in rule.type_table if e.value_path is not None]
    for row in spec.attributes:
        paths += [row.path, *row.published_at, *([row.name_path] if row.name_path else [])]
    return [p.steps[len(prefix) :] for p in paths if p.steps[: len(prefix)] == prefix]


def _resolve_types(
    spec: MappingSpec,
    prefix: tuple[Step, ...],
    values: tuple[Relative, ...],
    known: Mapping[str, Transform],
) -> dict[str, ResolvedType]:
    """Each vendor type -> its resolved entry; a value path must lie in the same record."""
    types: dict[str, ResolvedType] = {}
    problems = []
    for entry in spec.indicator.type_table:
        own = values
        if entry.value_path is not None:
            if entry.value_path.each_prefix() != prefix:
                problems.append(
                    f"type {entry.vendor_type!r}: value path {entry.value_path} is not under "
                    f"the record {FeedPath(prefix)}"
                )
            own = (Relative(0, entry.value_path.steps[len(prefix) :], True),)
        derive = known[entry.derive] if entry.derive is not None else None
        types[entry.vendor_type] = ResolvedType(entry.platform_type, derive, own)
    if problems:
        raise ManifestError("mapping type table is inconsistent", tuple(problems))
    return types
