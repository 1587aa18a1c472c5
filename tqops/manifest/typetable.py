"""The indicator rule's type table: a vendor type name -> the platform type, parsed once.

In a manifest an entry is a platform type name (``DomainName: FQDN``) or an object: ``{type}``
or ``{from_value: transform}`` (the type is derived from the raw value, as ``hash_type`` tells
MD5 from SHA-1), with an optional ``value`` path for records of that type. The mapper, the
operation guide and the manifest's list of transforms all read this one typed form.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional

import attrs

from tqops.errors import InputError, ManifestError, PathSyntaxError
from tqops.manifest.feedpath import FeedPath
from tqops.model import IndicatorType

__all__ = ["TypeEntry", "TypeTable"]

_KEYS = ("type", "from_value", "value")


@attrs.frozen
class TypeEntry:
    """One vendor type: a fixed platform type, or the transform that derives it from the value."""

    vendor_type: str
    platform_type: Optional[IndicatorType] = None
    #: the name of the transform that returns the platform type name of a raw value
    derive: Optional[str] = None
    #: where records of this type hold their value (None: the indicator rule's path)
    value_path: Optional[FeedPath] = None


@attrs.frozen
class TypeTable:
    """The type table in manifest order; empty when the type comes from the selected indicator."""

    entries: tuple[TypeEntry, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TypeTable:
        """Parse a manifest's ``table``; raise :class:`ManifestError` listing every problem."""
        if not isinstance(raw, Mapping):
            raise ManifestError(f"a type table must map vendor types to types, not {raw!r}")
        entries = []
        problems: list[str] = []
        for vendor_type, target in raw.items():
            entry = _entry(vendor_type, target, problems)
            if entry is not None:
                entries.append(entry)
        if problems:
            raise ManifestError("mapping type table is invalid", tuple(problems))
        return cls(tuple(entries))

    def __iter__(self) -> Iterator[TypeEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def transform_names(self) -> set[str]:
        """The transforms the table derives types with."""
        return {entry.derive for entry in self.entries if entry.derive is not None}


def _entry(vendor_type: Any, target: Any, problems: list[str]) -> Optional[TypeEntry]:
    """One entry, or None after appending what is wrong with it to ``problems``."""
    where = f"type {vendor_type!r}"
    if not isinstance(vendor_type, str):
        # YAML reads an unquoted 1 or true as a number or a boolean: it would never match
        problems.append(f"{where}: a vendor type must be a string (quote it)")
        return None
    if isinstance(target, str):
        target = {"type": target}
    if not isinstance(target, Mapping):
        problems.append(f"{where}: expected a type name or an object, not {target!r}")
        return None
    before = len(problems)
    unknown = sorted(str(key) for key in target if key not in _KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(unknown)}; allowed: {', '.join(_KEYS)}")
    if ("type" in target) == ("from_value" in target):
        problems.append(f"{where}: give exactly one of 'type' and 'from_value'")
    platform_type = None
    if "type" in target:
        try:
            platform_type = IndicatorType.from_name(target["type"])
        except InputError as exc:
            problems.append(f"{where}: {exc}")
    derive = target.get("from_value")
    if derive is not None and not isinstance(derive, str):
        problems.append(f"{where}: from_value must name a transform, not {derive!r}")
    value_path = None
    text = target.get("value")
    if "value" in target and not isinstance(text, str):
        problems.append(f"{where}: the value path must be a string, not {text!r}")
    elif text is not None:
        try:
            value_path = FeedPath.parse(text)
        except PathSyntaxError as exc:
            problems.append(f"{where}: {exc}")
    if len(problems) > before:
        return None
    return TypeEntry(vendor_type, platform_type, derive, value_path)
