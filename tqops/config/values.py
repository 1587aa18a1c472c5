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

import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import attrs

from tqops.config.formats import (
    CONTROL,
    Range,
    check_at_least,
    check_file,
    check_hostname,
    check_list,
    check_range,
    parse_bool,
)
from tqops.config.options import Options, Values
from tqops.config.references import header_safe, resolve_reference
from tqops.dates import parse_date_option
from tqops.errors import ConfigError, InputError
from tqops.manifest.conditions import Context, context_for
from tqops.manifest.document import Manifest
from tqops.manifest.fields import ConfigField, OptionField

__all__ = [
    "MASK",
    "Config",
    "Options",
    "Range",
    "Secret",
    "StoredConfig",
    "parse_bool",
    "redact",
    "scrub",
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


@attrs.frozen
class Config(Values):
    """A resolved configuration: values by field name, defaults filled in, secrets revealed
    only through :class:`Secret`."""

    manifest: Manifest = attrs.field(eq=False, repr=False)
    _values: Mapping[str, Any] = attrs.field(alias="values", repr=False)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Config({self.manifest.name}: {shown})"

    @property
    def variant(self) -> Optional[str]:
        """Which of the vendor's API generations this configuration speaks: the value of the
        field with role ``variant`` (None when the manifest has none)."""
        value = self.by_role("variant")
        return None if value is None else str(value)

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
        """Whether each secret field that applies has a value (what a form shows instead of
        the secret)."""
        applies = context_for(self.manifest.config, self._entered).values
        return {
            f.name: f.name in self._entered
            for f in self.manifest.config
            if f.secret and f.when.holds(applies)
        }

    def resolve(self) -> Config:
        """Read references and convert every value; :class:`ConfigError` lists all problems."""
        return validate_config(self.manifest, self._entered)

    def __repr__(self) -> str:
        return f"StoredConfig({self.manifest.name}: {self.masked()!r})"


def _is_off(field: ConfigField, given: Any) -> bool:
    """A checkbox left off: harmless even where the option is not taken."""
    try:
        return field.type == "checkbox" and not parse_bool(given)
    except ValueError:
        return False


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
        if not header_safe(raw.strip()):
            # an HTTP header carries Latin-1 only: refused here, not per request later
            raise ValueError(
                "contains characters an HTTP header cannot carry (only Latin-1 text); "
                "was it saved in another encoding?"
            )
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
    if fmt in ("range", "at_least"):
        assert field.minimum is not None and field.maximum is not None  # schema-checked
        check = check_range if fmt == "range" else check_at_least
        return check(raw, field.minimum, field.maximum)
    if fmt == "date":
        return parse_date_option(raw)
    if fmt == "list":
        return check_list(raw)
    return raw


def _validate_fields(
    fields: Sequence[ConfigField],
    raw: Mapping[str, Any],
    where: str,
    resolve: bool = True,
    context: Optional[Context] = None,
) -> tuple[dict[str, Any], list[str]]:
    """Check ``raw`` against ``fields``. With ``resolve`` off (a configuration being stored),
    a secret given by reference is checked for its form only and not read.

    A field whose ``when`` does not hold in ``context`` is skipped (None); with ``context``
    given (options, checked against a configuration), a value entered for it is refused."""
    known = {f.name: f for f in fields}
    problems = []
    for key in raw:
        if key not in known:
            problems.append(
                f"unknown field {str(key)[:40]!r} @ {where}; expected one of: {', '.join(known)}"
            )
    own = context or context_for(fields, raw)
    values: dict[str, Any] = {}
    for field in fields:
        field = field.effective(own.values)
        at = f"{where}.{field.name}"
        given = raw.get(field.name)
        if isinstance(given, str) and not given.strip() and field.type != "password":
            given = None
        excluded = own.why_not(field.when)
        if excluded:
            values[field.name] = None
            if context is not None and given is not None and not _is_off(field, given):
                problems.append(f"{field.label} is not taken by {excluded} @ {at}")
            continue
        if given is None:
            if field.default is not None:
                given = field.default
            elif field.required:
                needed = f" with {own.naming(field.when)}" if field.when else ""
                problems.append(f"{field.label} is required{needed} @ {at}")
                continue
            else:
                values[field.name] = None
                continue
        try:
            if field.secret and resolve:
                given = resolve_reference(given, field.max_length)
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
    options: Sequence[OptionField],
    raw: Mapping[str, Any],
    action_label: str = "action",
    config: Optional[Config] = None,
    value_parameter: Optional[str] = None,
) -> Options:
    """Check an action's option values against ``config`` (which options it takes, and their
    form, may depend on its fields); raise :class:`InputError` listing every problem."""
    context = None
    if config is not None:
        labels = {f.name: f.label for f in config.manifest.config}
        context = Context(config, labels)
    values, problems = _validate_fields(options, raw, "$.options", context=context)
    if problems:
        message = f"{action_label} options are invalid: " + "; ".join(problems)
        raise InputError(message)
    values_in = context.values if context is not None else None
    fields = tuple(option.effective(values_in) for option in options)
    variant = config.variant if config is not None else None
    return Options(fields, values, variant, value_parameter)


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret value in ``text`` (for messages built from vendor bodies)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def scrub(document: Any, secrets: Sequence[str]) -> Any:
    """A parsed JSON document with every secret in its strings (keys too) masked; containers
    are changed in place, walked without recursion (a deep document cannot overflow)."""
    if isinstance(document, str):
        return redact(document, secrets)
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = redact(item, secrets)
                elif isinstance(item, (list, dict)):
                    stack.append(item)
        elif isinstance(node, dict):
            for key in list(node):
                value = node[key]
                if isinstance(value, str):
                    value = redact(value, secrets)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
                clean = redact(key, secrets) if isinstance(key, str) else key
                if clean != key:
                    del node[key]
                node[clean] = value
    return document
