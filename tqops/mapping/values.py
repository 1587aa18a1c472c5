"""How raw JSON values become the text the platform stores."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tqops.manifest.transforms import Transform

__all__ = ["apply_transforms", "first", "flatten", "scalar_text"]


def first(values: Iterable[Any]) -> Any:
    """The first of ``values``; None when there is none."""
    for value in values:
        return value
    return None


def flatten(value: Any) -> Iterator[Any]:
    """The scalars of a list nested to any depth, in order (nulls and objects yield nothing)."""
    if isinstance(value, list):
        for item in value:
            yield from flatten(item)
    elif value is not None and not isinstance(value, dict):
        yield value


def apply_transforms(transforms: tuple[Transform, ...], value: Any) -> Any:
    """``value`` through each transform in turn; a transform returning None drops it."""
    for transform in transforms:
        if value is None:
            return None
        value = transform(value)
    return value


def scalar_text(value: Any) -> str:
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
