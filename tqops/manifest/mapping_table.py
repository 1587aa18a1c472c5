"""The mapping table as a manifest declares it: the indicator rule, the attribute rows, the
source, the keys deliberately not read. :mod:`tqops.mapping` compiles it into a mapper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import attrs

from tqops.manifest.feedpath import FeedPath
from tqops.manifest.typetable import TypeTable
from tqops.model import IndicatorType

__all__ = ["AttributeRule", "IndicatorRule", "MappingSpec", "SourceSpec", "TlpRule"]


def _paths(raw: Union[str, Sequence[str], None]) -> tuple[FeedPath, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    return tuple(FeedPath.parse(text) for text in raw)


@attrs.frozen
class SourceSpec:
    name: str
    tlp: Optional[str] = None


@attrs.frozen
class TlpRule:
    """The indicator's TLP, read from the record and named by a table."""

    path: FeedPath
    table: tuple[tuple[str, str], ...]

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Any]]) -> Optional[TlpRule]:
        if not raw:
            return None
        return cls(FeedPath.parse(raw["path"]), tuple((str(k), v) for k, v in raw["table"].items()))


@attrs.frozen
class IndicatorRule:
    """The mapping row that makes the indicator: value path, type, published date."""

    path: FeedPath
    type_path: Optional[FeedPath]
    type_table: TypeTable
    type_from_input: bool = False
    #: the one platform type of every record's indicator (``type: {fixed: URL}``)
    fixed_type: Optional[IndicatorType] = None
    transforms: tuple[str, ...] = ()
    published_at: tuple[FeedPath, ...] = ()
    status: str = "Active"
    notes: str = ""
    assumed: bool = False
    tlp: Optional[TlpRule] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> IndicatorRule:
        type_spec = raw["type"]
        return cls(
            path=FeedPath.parse(raw["path"]),
            type_path=FeedPath.parse(type_spec["path"]) if "path" in type_spec else None,
            type_table=TypeTable.from_dict(type_spec.get("table", {})),
            type_from_input=bool(type_spec.get("from_input", False)),
            fixed_type=IndicatorType.from_name(type_spec["fixed"])
            if "fixed" in type_spec
            else None,
            transforms=tuple(raw.get("transforms", ())),
            published_at=_paths(raw.get("published_at")),
            status=raw.get("status", "Active"),
            notes=raw.get("notes", ""),
            assumed=bool(raw.get("assumed", False)),
            tlp=TlpRule.from_dict(raw.get("tlp")),
        )


@attrs.frozen
class AttributeRule:
    """One mapping row that makes attributes: a value path and a fixed or data-given name."""

    path: FeedPath
    name: Optional[str] = None
    name_path: Optional[FeedPath] = None
    published_at: tuple[FeedPath, ...] = ()
    transforms: tuple[str, ...] = ()
    notes: str = ""
    assumed: bool = False
    #: each value is ``name<separator>value``: the name comes from the value itself
    name_separator: Optional[str] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AttributeRule:
        return cls(
            path=FeedPath.parse(raw["path"]),
            name=raw.get("name"),
            name_path=FeedPath.parse(raw["name_path"]) if "name_path" in raw else None,
            name_separator=raw.get("name_separator"),
            published_at=_paths(raw.get("published_at")),
            transforms=tuple(raw.get("transforms", ())),
            notes=raw.get("notes", ""),
            assumed=bool(raw.get("assumed", False)),
        )


@attrs.frozen
class MappingSpec:
    """An action's mapping table."""

    indicator: IndicatorRule
    attributes: tuple[AttributeRule, ...]
    source: Optional[SourceSpec] = None
    #: record keys deliberately not read, as paths relative to the record
    ignore: tuple[FeedPath, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MappingSpec:
        source = raw.get("source")
        return cls(
            indicator=IndicatorRule.from_dict(raw["indicator"]),
            attributes=tuple(AttributeRule.from_dict(row) for row in raw["attributes"]),
            source=SourceSpec(source["name"], source.get("tlp")) if source else None,
            ignore=tuple(FeedPath.parse("." + text) for text in raw.get("ignore", ())),
        )

    def transform_names(self) -> set[str]:
        """Every transform the table names: on values, rows and in the type table."""
        names = set(self.indicator.transforms) | self.indicator.type_table.transform_names()
        for row in self.attributes:
            names.update(row.transforms)
        return names
