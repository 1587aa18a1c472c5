"""An action's checked option values (:class:`Options`), and what they make of the query.

Options are checked against the action's fields (and the configuration they may depend on)
by :func:`tqops.config.values.validate_options`; this module only holds the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional

import attrs

from tqops.errors import InputError
from tqops.manifest.fields import OptionField

__all__ = ["Options", "Values"]


class Values(Mapping[str, Any]):
    """Read-only access by field name to a ``_values`` mapping."""

    _values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@attrs.frozen
class Options(Values):
    """An action's checked option values, and what they make of the vendor's query."""

    #: the option fields as they stand for the configuration (parameter and format chosen)
    fields: tuple[OptionField, ...] = attrs.field(repr=False)
    _values: Mapping[str, Any] = attrs.field(alias="values")
    #: the configuration's variant (its field with role ``variant``), if any
    variant: Optional[str] = None
    #: the query parameter the searched value goes in (the action variant's, in the manifest)
    value_parameter: Optional[str] = None

    def parameters(self) -> dict[str, str]:
        """The query parameters of the options that have one (their manifest ``parameter``)."""
        params = {}
        for field in self.fields:
            value = self._values.get(field.name)
            if field.parameter and value not in (None, (), "", False):
                params[field.parameter] = _param(value)
        return params

    def query(self, value: str) -> dict[str, str]:
        """The searched value (wrapped) in its parameter, then the options' parameters."""
        if not self.value_parameter:
            raise InputError("the action declares no value_parameter to send the value in")
        return {self.value_parameter: self.wrap_value(value), **self.parameters()}

    def wrap_value(self, value: str) -> str:
        """``value`` with the prefixes and suffixes of the checkbox options that are on."""
        for field in self.fields:
            if self._values.get(field.name):
                value = (field.value_prefix or "") + value + (field.value_suffix or "")
        return value


def _param(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    reveal = getattr(value, "reveal", None)
    if callable(reveal):  # a password option: the vendor gets the value, never the mask
        return str(reveal())
    to_param = getattr(value, "to_param", None)
    return to_param() if callable(to_param) else str(value)
