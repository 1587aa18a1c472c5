"""Configuration and option values, checked against the manifest's fields.

Every problem is listed at once, each located (``@ $.config.hostname``); nothing is sent to a
vendor until the whole configuration is valid. Password fields become :class:`Secret`, whose
repr never shows the value; they may be given by reference (``env:NAME``, ``file:/path``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import attrs

from .dates import parse_date_option
from .errors import ConfigError, InputError
from .manifest import ConfigField, Manifest, OptionField

__all__ = [
    "Config",
    "Range",
    "Secret",
    "parse_bool",
    "validate_config",
    "validate_options",
]

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@attrs.frozen(repr=False)
class Secret:
    """A credential. Its repr and str are masked; only :meth:`reveal` gives the value."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@attrs.frozen
class Range:
    """A TIE-style range: ``N`` or ``N-`` (N and above), ``N-M`` inclusive, ``-M`` (at most M)."""

    low: Optional[int]
    high: Optional[int]
    text: str

    def to_param(self) -> str:
        """The range as the user wrote it, without spaces (``2-4``, ``60``, ``-3``)."""
        return self.text

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, (int, float)):
            return False
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )


def parse_bool(text: Any) -> bool:
    """true/false/yes/no/on/off/1/0 (any case) as a bool; ``ValueError`` otherwise."""
    if isinstance(text, bool):
        return text
    if isinstance(text, int) and text in (0, 1):
        return bool(text)
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected true/false, yes/no or 1/0, got {str(text)[:40]!r}")


@attrs.frozen
class Config(Mapping[str, Any]):
    """Validated configuration values by field name (defaults filled in)."""

    manifest_name: str
    _values: Mapping[str, Any] = attrs.field(alias="values", repr=False)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Config({self.manifest_name}: {shown})"

    def secrets(self) -> tuple[str, ...]:
        """The revealed secret values, so outputs can be scrubbed of them."""
        return tuple(v.reveal() for v in self._values.values() if isinstance(v, Secret) and v)


# --- value checks by format --------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_hostname(text: str) -> str:
    """``host`` or ``host:port``; no scheme, path, credentials, spaces. Returns it normalised."""
    value = text.strip()
    if not value:
        raise ValueError("expected a hostname such as tie.dcso.de or 127.0.0.1:8443, got ''")
    if "://" in value:
        raise ValueError(f"expected a hostname without a scheme (https is implied), got {value!r}")
    if any(c in value for c in "/?#"):
        raise ValueError(f"expected a hostname without a path or query, got {value!r}")
    if "@" in value:
        raise ValueError("expected a hostname without credentials (user@ or user:pass@)")
    if _CONTROL.search(value) or " " in value or "\t" in value:
        raise ValueError(f"expected a hostname without spaces or control characters, got {value!r}")
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in IPv6 hostname {value!r}")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected [IPv6]:port, got {value!r}")
            port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        if value.count(":") > 1:
            raise ValueError(f"write an IPv6 address in brackets, like [::1]:8443; got {value!r}")
        if ":" in value:
            host, port = value.split(":", 1)
        labels = host.rstrip(".").split(".")
        if not host or len(host) > 253 or not all(_HOST_LABEL.match(lab) for lab in labels):
            raise ValueError(f"{host!r} is not a valid hostname or IP address")
    if port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise ValueError(f"port must be a number from 1 to 65535, got {port!r}")
    return value.lower()


def check_file(text: str) -> str:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {text!r}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file is not readable: {text!r}")
    return str(path)


_RANGE = re.compile(r"^(\d{1,6})?(-)?(\d{1,6})?$")


def check_range(text: str, low_bound: float, high_bound: float) -> Range:
    value = re.sub(r"\s*-\s*", "-", text.strip())
    match = _RANGE.match(value)
    if not match or value in ("", "-"):
        raise ValueError(
            f"expected a number or range such as 2, 2-, 2-4 or -4 within "
            f"{low_bound:g}-{high_bound:g}, got {text[:40]!r}"
        )
    first, dash, second = match.groups()
    if second is not None and not dash:  # unreachable by the regex, kept for clarity
        raise ValueError(f"expected a number or range, got {text[:40]!r}")
    low = int(first) if first is not None else None
    high = int(second) if second is not None else None
    for bound in (low, high):
        if bound is not None and not low_bound <= bound <= high_bound:
            raise ValueError(f"{bound} is outside {low_bound:g}-{high_bound:g}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"range {value!r} is reversed (expected low-high)")
    return Range(low, high, value)


def check_list(text: str) -> tuple[str, ...]:
    items = [item.strip() for item in text.split(",")]
    for position, item in enumerate(items, 1):
        if not item or item == "!":
            raise ValueError(f"item {position} of {text[:60]!r} is empty; remove the extra comma")
        if _CONTROL.search(item):
            raise ValueError(f"item {position} contains a control character")
    return tuple(items)


def _check_value(field: ConfigField, raw: Any) -> Any:
    """Convert and check one raw value; ``ValueError`` with what was expected."""
    if field.type == "checkbox":
        return parse_bool(raw)
    if field.type == "number":
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
        if _CONTROL.search(raw):
            raise ValueError("contains a control character or newline")
        return Secret(raw.strip())
    if field.type == "select":
        if raw not in field.choices:
            raise ValueError(f"expected one of {', '.join(field.choices)}, got {raw[:40]!r}")
        return raw
    if _CONTROL.search(raw):
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


def _resolve_reference(raw: Any, name: str) -> Any:
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
    fields: Sequence[ConfigField], raw: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], list[str]]:
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
            if field.secret:
                given = _resolve_reference(given, field.name)
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
    """Check raw config values (strings from the CLI, or YAML values) against the manifest."""
    values, problems = _validate_fields(manifest.config, raw, "$.config")
    if problems:
        raise ConfigError(f"{manifest.label} configuration is invalid", tuple(problems))
    return Config(manifest.name, values)


def validate_options(
    options: Sequence[OptionField], raw: Mapping[str, Any], action_label: str = "action"
) -> dict[str, Any]:
    """Check an action's option values; raise :class:`InputError` listing every problem."""
    values, problems = _validate_fields(options, raw, "$.options")
    if problems:
        message = f"{action_label} options are invalid: " + "; ".join(problems)
        raise InputError(message)
    return values


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret value in ``text`` (for messages built from vendor bodies)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


Value = Union[str, int, float, bool, None]
