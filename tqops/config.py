"""Configuration and option values, checked against the manifest's fields.

Two forms of a configuration:

- :class:`StoredConfig` is what an admin entered, checked: each secret kept as entered (the
  value itself, or an ``env:NAME`` / ``file:/path`` reference), never resolved. It round-trips
  through JSON (:meth:`StoredConfig.to_json`), has a masked view for display and takes updates
  in which the mask means "unchanged".
- :class:`Config` is a stored configuration resolved at run time: defaults filled in, values
  converted, references read, secrets wrapped in :class:`Secret`. It is never written anywhere.

Every problem is listed at once, each located (``@ $.config.<field>``); nothing is sent to a
vendor until the whole configuration is valid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .checks import (
    CONTROL,
    Range,
    check_file,
    check_hostname,
    check_list,
    check_range,
    parse_bool,
)
from .dates import parse_date_option
from .errors import ConfigError, InputError
from .fields import ConfigField, OptionField
from .manifest import Manifest

__all__ = [
    "MASK",
    "Config",
    "Options",
    "Range",
    "Secret",
    "StoredConfig",
    "parse_bool",
    "redact",
    "validate_config",
    "validate_options",
]

#: what a secret shows as wherever a configuration is displayed; written back: "unchanged"
MASK = "********"
_REFERENCE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$", re.DOTALL)


@attrs.frozen(repr=False)
class Secret:
    """A credential. Its repr and str are masked; only :meth:`reveal` gives the value."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class _Values(Mapping[str, Any]):
    """Read-only access by field name to a ``_values`` mapping."""

    _values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@attrs.frozen
class Config(_Values):
    """A resolved configuration: values by field name, defaults filled in, secrets revealed
    only through :class:`Secret`."""

    manifest: Manifest = attrs.field(eq=False, repr=False)
    _values: Mapping[str, Any] = attrs.field(alias="values", repr=False)

    @property
    def manifest_name(self) -> str:
        return self.manifest.name

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Config({self.manifest.name}: {shown})"

    def by_role(self, role: str, default: Any = None) -> Any:
        """The value of the field that plays ``role`` in the manifest (``default`` if none)."""
        field = self.manifest.field_for_role(role)
        if field is None:
            return default
        value = self._values.get(field.name)
        return default if value is None else value

    def secrets(self) -> tuple[str, ...]:
        """The revealed secret values, so outputs can be scrubbed of them."""
        return tuple(v.reveal() for v in self._values.values() if isinstance(v, Secret) and v)


@attrs.frozen(repr=False)
class StoredConfig:
    """What an admin entered for an operation, checked; secrets as entered, never resolved."""

    manifest: Manifest = attrs.field(eq=False)
    _entered: Mapping[str, Any] = attrs.field(alias="entered")

    @classmethod
    def check(cls, manifest: Manifest, raw: Mapping[str, Any]) -> StoredConfig:
        """Check entered values without resolving references; :class:`ConfigError` lists all."""
        entered = {str(k): v for k, v in raw.items() if not _blank(v)}
        _, problems = _validate_fields(manifest.config, entered, "$.config", resolve=False)
        if problems:
            raise ConfigError(f"{manifest.label} configuration is invalid", tuple(problems))
        return cls(manifest, entered)

    from_json = check

    @classmethod
    def load(cls, manifest: Manifest, stored: Mapping[str, Any]) -> StoredConfig:
        """What was stored before, unchecked (it may be incomplete, or predate an upgrade):
        values of fields the manifest no longer has are dropped; :meth:`resolve` checks."""
        known = {f.name for f in manifest.config}
        return cls(manifest, {k: v for k, v in stored.items() if k in known and not _blank(v)})

    def to_json(self) -> dict[str, Any]:
        """The entered values (secrets as entered: a value or a reference), for storage."""
        return dict(self._entered)

    def masked(self) -> dict[str, Any]:
        """Every field for display: secrets given by value show as :data:`MASK`, references
        as written (a variable name or path is not the secret), unset fields as None."""
        shown: dict[str, Any] = {}
        for field in self.manifest.config:
            value = self._entered.get(field.name)
            if field.secret and value is not None and not _is_reference(value):
                value = MASK
            shown[field.name] = value
        return shown

    def updated(self, raw: Mapping[str, Any]) -> StoredConfig:
        """These values entered on top of the stored ones: a secret given as :data:`MASK`
        stays as it was, a blank value unsets its field, an absent field keeps its value."""
        merged = dict(self._entered)
        for name, value in raw.items():
            field = self.manifest.config_field(str(name))
            if field is not None and field.secret and value == MASK:
                continue
            if _blank(value):
                merged.pop(str(name), None)
            else:
                merged[str(name)] = value
        return StoredConfig.check(self.manifest, merged)

    def secret_fields_set(self) -> dict[str, bool]:
        """Whether each secret field has a value (what a form shows instead of the secret)."""
        return {f.name: f.name in self._entered for f in self.manifest.config if f.secret}

    def resolve(self) -> Config:
        """Read references and convert every value; :class:`ConfigError` lists all problems."""
        return validate_config(self.manifest, self._entered)

    def __repr__(self) -> str:
        return f"StoredConfig({self.manifest.name}: {self.masked()!r})"


@attrs.frozen
class Options(_Values):
    """An action's checked option values, and what they make of the vendor's query."""

    fields: tuple[OptionField, ...] = attrs.field(repr=False)
    _values: Mapping[str, Any] = attrs.field(alias="values")

    def parameters(self) -> dict[str, str]:
        """The query parameters of the options that have one (their manifest ``parameter``)."""
        params = {}
        for field in self.fields:
            value = self._values.get(field.name)
            if field.parameter and value not in (None, (), "", False):
                params[field.parameter] = _param(value)
        return params

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
    to_param = getattr(value, "to_param", None)
    return to_param() if callable(to_param) else str(value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(_REFERENCE.match(value))


def _check_number(field: ConfigField, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {str(raw)[:40]!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number, got {raw!r}")
    if field.minimum is not None and number < field.minimum:
        raise ValueError(f"expected at least {field.minimum:g}, got {number:g}")
    if field.maximum is not None and number > field.maximum:
        raise ValueError(f"expected at most {field.maximum:g}, got {number:g}")
    return number


def _check_value(field: ConfigField, raw: Any) -> Any:
    """Convert and check one raw value; ``ValueError`` with what was expected."""
    if field.type == "checkbox":
        return parse_bool(raw)
    if field.type == "number":
        return _check_number(field, raw)
    if not isinstance(raw, str):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = str(raw)
        else:
            raise ValueError(f"expected text, got {type(raw).__name__}")
    if field.max_length is not None and len(raw) > field.max_length:
        raise ValueError(f"expected at most {field.max_length} characters, got {len(raw)}")
    if field.type == "password":
        if not raw.strip():
            raise ValueError("is empty")
        if CONTROL.search(raw):
            raise ValueError("contains a control character or newline")
        return Secret(raw.strip())
    if field.type == "select":
        if raw not in field.choices:
            raise ValueError(f"expected one of {', '.join(field.choices)}, got {raw[:40]!r}")
        return raw
    if CONTROL.search(raw):
        raise ValueError("contains a control character")
    fmt = field.format
    if fmt == "hostname":
        return check_hostname(raw)
    if fmt == "file":
        return check_file(raw)
    if fmt == "range":
        assert field.minimum is not None and field.maximum is not None  # schema-checked
        return check_range(raw, field.minimum, field.maximum)
    if fmt == "date":
        return parse_date_option(raw)
    if fmt == "list":
        return check_list(raw)
    return raw


def _resolve_reference(raw: Any) -> Any:
    """``env:NAME`` and ``file:/path`` give a secret without writing it in config or history."""
    if not isinstance(raw, str):
        return raw
    if raw.startswith("env:"):
        variable = raw[4:]
        if variable not in os.environ:
            raise ValueError(f"refers to environment variable {variable!r}, which is not set")
        return os.environ[variable]
    if raw.startswith("file:"):
        path = Path(raw[5:]).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "unreadable"
            raise ValueError(
                f"refers to file {str(path)!r}, which cannot be read ({reason})"
            ) from None
    return raw


def _validate_fields(
    fields: Sequence[ConfigField], raw: Mapping[str, Any], where: str, resolve: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Check ``raw`` against ``fields``. With ``resolve`` off (a configuration being stored),
    a secret given by reference is checked for its form only and not read."""
    known = {f.name: f for f in fields}
    problems = []
    for key in raw:
        if key not in known:
            problems.append(
                f"unknown field {str(key)[:40]!r} @ {where}; expected one of: {', '.join(known)}"
            )
    values: dict[str, Any] = {}
    for field in fields:
        at = f"{where}.{field.name}"
        given = raw.get(field.name)
        if isinstance(given, str) and not given.strip() and field.type != "password":
            given = None
        if given is None:
            if field.default is not None:
                given = field.default
            elif field.required:
                problems.append(f"{field.label} is required @ {at}")
                continue
            else:
                values[field.name] = None
                continue
        try:
            if field.secret and resolve:
                given = _resolve_reference(given)
            elif field.secret and _is_reference(given):
                values[field.name] = given
                continue
            values[field.name] = _check_value(field, given)
        except ValueError as exc:
            problems.append(f"{field.label} {_lead(exc)} @ {at}")
    return values, problems


def _lead(exc: ValueError) -> str:
    text = str(exc)
    if text.startswith(("expected", "is ", "contains", "refers")):
        return text
    return f"is invalid: {text}"


def validate_config(manifest: Manifest, raw: Mapping[str, Any]) -> Config:
    """Check raw config values (strings from the CLI, or YAML values) against the manifest,
    resolving secret references."""
    values, problems = _validate_fields(manifest.config, raw, "$.config")
    if problems:
        raise ConfigError(f"{manifest.label} configuration is invalid", tuple(problems))
    return Config(manifest, values)


def validate_options(
    options: Sequence[OptionField], raw: Mapping[str, Any], action_label: str = "action"
) -> Options:
    """Check an action's option values; raise :class:`InputError` listing every problem."""
    values, problems = _validate_fields(options, raw, "$.options")
    if problems:
        message = f"{action_label} options are invalid: " + "; ".join(problems)
        raise InputError(message)
    return Options(tuple(options), values)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret value in ``text`` (for messages built from vendor bodies)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text
