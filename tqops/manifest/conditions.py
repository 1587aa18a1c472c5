"""Manifest entries that depend on another field's value.

A configuration field, an action option or an authentication entry may apply only for some
values of a *select* configuration field (``when: {api_version: [v2, v3]}``), and a field's
default, format or parameter may be chosen by such a value (``default_when: {api_version:
{v1: tie.dcso.de, v2: api.dcso.de}}``). The manifest names the fields; this module only
evaluates what it says, against the values a configuration holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional

import attrs

__all__ = ["ALWAYS", "ByValue", "When", "choice_values", "condition_problems", "two_way"]


@attrs.frozen
class When:
    """Applies only where each named select field holds one of the listed values."""

    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Iterable[str]]]) -> When:
        return cls(
            tuple((str(k), tuple(str(v) for v in values)) for k, values in (raw or {}).items())
        )

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)

    def holds(self, values: Optional[Mapping[str, Any]]) -> bool:
        """True where every term holds. A term about a field ``values`` does not hold at all
        (options checked without a configuration) holds."""
        return self.failing(values) is None

    def failing(self, values: Optional[Mapping[str, Any]]) -> Optional[tuple[str, Any]]:
        """The first (field, value) that keeps this from applying; None when it applies."""
        if values is None:
            return None
        for name, allowed in self.terms:
            if name in values and values[name] not in allowed:
                return name, values[name]
        return None

    def describe(self, labels: Mapping[str, str]) -> str:
        """``API Version v2, v3`` (the labels of the fields named)."""
        return " and ".join(f"{labels.get(name, name)} {', '.join(v)}" for name, v in self.terms)


#: the condition of what always applies
ALWAYS = When()


@attrs.frozen
class ByValue:
    """A value chosen by a select field's value (``{api_version: {v1: a, v2: b}}``)."""

    field: str
    cases: tuple[tuple[str, Any], ...]

    @classmethod
    def from_dict(cls, raw: Optional[Mapping[str, Mapping[str, Any]]]) -> Optional[ByValue]:
        if not raw:
            return None
        ((name, cases),) = raw.items()  # the schema allows exactly one field
        return cls(str(name), tuple((str(k), v) for k, v in cases.items()))

    def pick(self, values: Optional[Mapping[str, Any]], fallback: Any) -> Any:
        """The value for the field's current value; ``fallback`` when none is listed."""
        if values is None:
            return fallback
        chosen = values.get(self.field)
        return next((v for k, v in self.cases if k == chosen), fallback)

    def describe(self, fallback: Any = None) -> str:
        """``tie.dcso.de (v1); api.dcso.de (v2, v3)``: each value with the choices giving it."""
        grouped: dict[str, list[str]] = {}
        for choice, value in self.cases:
            grouped.setdefault(_text(value), []).append(choice)
        parts = [f"{value} ({', '.join(choices)})" for value, choices in grouped.items()]
        if fallback is not None and _text(fallback) not in grouped:
            parts.append(f"{_text(fallback)} (otherwise)")
        return "; ".join(parts)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def condition_problems(
    entries: Iterable[tuple[str, Mapping[str, Any]]], selectors: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Problems of the ``when`` and ``*_when`` keys of raw manifest entries.

    ``entries`` are (``$.path``, raw entry); ``selectors`` are the raw configuration fields by
    name. A condition must name a select configuration field that has no condition itself, and
    only values among its choices.
    """
    problems = []
    for at, entry in entries:
        keys = [key for key in entry if key == "when" or key.endswith("_when")]
        for key in keys:
            for name, values in (entry.get(key) or {}).items():
                where = f"{at}.{key}.{name}"
                field = selectors.get(name)
                if field is None:
                    problems.append(f"no config field named {name!r} to depend on @ {where}")
                    continue
                if field.get("type") != "select":
                    problems.append(f"{name!r} must be a select field to depend on @ {where}")
                    continue
                if field.get("when"):
                    problems.append(f"{name!r} depends on another field itself @ {where}")
                if name == entry.get("name") and at.startswith("$.config"):
                    problems.append(f"a field cannot depend on itself @ {where}")
                choices = set(choice_values(field.get("choices", ())))
                listed = values if key == "when" else list(values)
                unknown = [str(v) for v in listed if str(v) not in choices]
                if unknown:
                    problems.append(
                        f"{', '.join(map(repr, unknown))} not among the choices of {name!r} "
                        f"({', '.join(sorted(choices))}) @ {where}"
                    )
    return problems


def choice_values(choices: Iterable[Any]) -> list[str]:
    """The values of a select field's raw choices (a string, or ``{value, label}``)."""
    return [str(c["value"]) if isinstance(c, Mapping) else str(c) for c in choices]


@attrs.frozen
class Context:
    """The values conditions are evaluated against (select fields by name), and the labels
    that name those fields in messages."""

    values: Mapping[str, Any]
    labels: Mapping[str, str] = attrs.field(factory=dict)

    def why_not(self, when: When) -> Optional[str]:
        """``API Version v3`` when ``when`` does not hold here; None when it does."""
        failing = when.failing(self.values)
        if failing is None:
            return None
        name, value = failing
        return f"{self.labels.get(name, name)} {value}"

    def naming(self, when: When) -> str:
        """``API Version v3``: the values here of the fields ``when`` names."""
        return " and ".join(
            f"{self.labels.get(name, name)} {self.values.get(name)}" for name in when.fields
        )


def context_for(fields: Iterable[Any], raw: Mapping[str, Any]) -> Context:
    """The context a configuration's own conditions are evaluated in: each select field that
    others depend on, as entered (when it is one of its choices) or its default."""
    fields = list(fields)
    wanted = {
        name
        for field in fields
        for name in (
            *field.when.fields,
            *(by.field for by in (field.default_when, field.format_when) if by is not None),
        )
    }
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for field in fields:
        if field.name in wanted:
            given = raw.get(field.name)
            given = given.strip() if isinstance(given, str) else given
            values[field.name] = given if given in field.choices else field.default
            labels[field.name] = field.label
    return Context(values, labels)


def two_way(
    have: Iterable[str],
    want: Iterable[str],
    missing: Callable[[str], str],
    extra: Callable[[str], str],
) -> list[str]:
    """What ``have`` lacks of ``want`` (``missing(key)``), then what it has beyond it."""
    have, want = set(have), set(want)
    return [missing(key) for key in sorted(want - have)] + [
        extra(key) for key in sorted(have - want)
    ]
