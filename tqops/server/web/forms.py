"""Forms drawn from a manifest alone: each configuration field or action option as an input
(text, password, checkbox, select or number) with its label, description, required mark,
default and checks; what a posted form means for each; and each problem placed next to the
field it names (``... @ $.config.<field>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import attrs

from tqops.config.values import MASK
from tqops.manifest.conditions import ByValue

__all__ = ["FieldView", "Problems", "draw_fields", "field_values", "problems_of"]

#: the form name prefix of action options (so they never meet the form's own fields)
OPTION_PREFIX = "option."
_LOCATED = re.compile(r"^(?P<text>.*?)\s*@ \$\.(?P<where>config|options)(?:\.(?P<name>[\w-]+))?")


@attrs.frozen
class FieldView:
    """One input as a form draws it."""

    name: str
    #: the name of the input in the form (options are prefixed)
    input_name: str
    label: str
    kind: str
    required: bool
    description: str
    default: str
    advanced: bool
    #: the value shown (never a secret's: for a password, whether one is set)
    value: Any
    #: the default as a value (what a select or checkbox shows while the field is unset)
    preset: Any
    secret_set: Optional[bool]
    choices: tuple[tuple[str, str], ...]
    minimum: Optional[float]
    maximum: Optional[float]
    #: what the value must look like, for a text field with a format
    hint: str
    #: ``api_version=v2 v3`` terms: the field applies only where these hold
    when: str
    errors: tuple[str, ...] = ()
    #: whether the field applies to the values shown (one that does not starts hidden)
    applies: bool = True

    @property
    def input_id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.input_name)

    @property
    def current(self) -> Any:
        """What the input shows: the value, else (for a select or checkbox) the default."""
        if self.value is not None or self.kind not in ("select", "checkbox"):
            return self.value
        return self.preset

    @property
    def checked(self) -> bool:
        return self.current is True or str(self.current).lower() in ("true", "on", "1", "yes")

    @property
    def browser_required(self) -> bool:
        """Whether the browser itself may insist on a value: a required field without a
        default, unless it is a secret already set (blank keeps it)."""
        return self.required and not self.default and not self.secret_set


_HINTS = {
    "range": "N, N-, N-M or -M",
    "at_least": "N or N-",
    "date": "YYYY-MM-DD",
    "list": "one value or a comma-separated list",
    "hostname": "host or host:port",
    "file": "a path on the host",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _default(raw: Mapping[str, Any], choices: Mapping[str, str]) -> str:
    default = raw.get("default")
    by_value = raw.get("default_when")
    if by_value:
        cases = tuple((str(k), v) for k, v in by_value.get("cases", ()))
        return ByValue(str(by_value.get("field", "")), cases).describe(default)
    if default is None:
        return ""
    return choices.get(str(default), _text(default))


def _range_hint(raw: Mapping[str, Any]) -> str:
    low, high = raw.get("minimum"), raw.get("maximum")
    if low is None and high is None:
        return ""
    if high is None:
        return f"at least {_text(low)}"
    if low is None:
        return f"at most {_text(high)}"
    return f"{_text(low)} to {_text(high)}"


def _hint(raw: Mapping[str, Any]) -> str:
    parts = [_HINTS.get(str(raw.get("format") or ""), "")]
    if raw.get("type") in ("text", "number"):
        parts.append(_range_hint(raw))
    return "; ".join(p for p in parts if p)


def _terms(raw: Mapping[str, Any]) -> Sequence[tuple[str, Sequence[str]]]:
    return (raw.get("when") or {}).get("terms") or ()


def _when(raw: Mapping[str, Any]) -> str:
    return ";".join(f"{name}={' '.join(values)}" for name, values in _terms(raw))


def _applies(raw: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether the field's condition holds for the fields of the same form (a condition on a
    field the form does not have is the caller's to check)."""
    return all(current[name] in allowed for name, allowed in _terms(raw) if name in current)


def draw_fields(
    raws: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    secrets_set: Mapping[str, bool],
    errors: Mapping[str, Sequence[str]],
    prefix: str = "",
) -> list[FieldView]:
    """The fields of a manifest (as :meth:`Host.operation_view` gives them) as inputs."""
    current = {
        str(r["name"]): r.get("default") if values.get(r["name"]) is None else values[r["name"]]
        for r in raws
    }
    drawn = []
    for raw in raws:
        name = str(raw["name"])
        labels = raw.get("choice_labels") or ()
        choices = tuple(
            (str(c), str(labels[i]) if i < len(labels) and labels[i] else str(c))
            for i, c in enumerate(raw.get("choices") or ())
        )
        secret = bool(raw.get("secret"))
        value = values.get(name)
        drawn.append(
            FieldView(
                name=name,
                input_name=prefix + name,
                label=str(raw.get("label") or name),
                kind=str(raw.get("type") or "text"),
                required=bool(raw.get("required")),
                description=str(raw.get("description") or ""),
                default=_default(raw, dict(choices)),
                advanced=bool(raw.get("advanced")),
                value=None if secret else value,
                preset=raw.get("default"),
                secret_set=bool(secrets_set.get(name)) if secret else None,
                choices=choices,
                minimum=raw.get("minimum"),
                maximum=raw.get("maximum"),
                hint=_hint(raw),
                when=_when(raw),
                errors=tuple(errors.get(name, ())),
                applies=_applies(raw, current),
            )
        )
    return drawn


def field_values(
    raws: Iterable[Mapping[str, Any]], form: Any, prefix: str = "", only_shown: bool = True
) -> dict[str, Any]:
    """What a posted form says for each field it showed (``shown`` lists them; an input a
    condition hid is not sent, and leaves its field as it was). A blank password keeps the
    secret; a blank text or number unsets its field; a checkbox is on or off."""
    shown = set(form.getlist("shown")) if only_shown else None
    values: dict[str, Any] = {}
    for raw in raws:
        name = str(raw["name"])
        if shown is not None and prefix + name not in shown:
            continue
        given = form.get(prefix + name)
        text = given.strip() if isinstance(given, str) else ""
        kind = raw.get("type")
        if kind == "checkbox":
            values[name] = given is not None
        elif raw.get("secret"):
            values[name] = given if isinstance(given, str) and given else MASK
        else:
            values[name] = text or None
    return values


@attrs.frozen
class Problems:
    """An error's problems: those about one field, by its name, and the others."""

    by_field: Mapping[str, tuple[str, ...]]
    general: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def problems_of(exc: Exception, known: Iterable[str]) -> Problems:
    """Each problem of ``exc`` (its ``problems``, else the ``; ``-separated parts of its
    message) placed at the field it names, when it names one of ``known``."""
    listed = getattr(exc, "problems", None)
    if not listed or listed == (str(exc),):
        _, _, rest = str(exc).partition(": ")
        listed = tuple(rest.split("; ")) if rest and " @ $." in rest else (str(exc),)
    names = set(known)
    by_field: dict[str, list[str]] = {}
    general = []
    for problem in listed:
        found = _LOCATED.match(problem)
        if found and found.group("name") in names:
            by_field.setdefault(found.group("name"), []).append(found.group("text"))
        else:
            general.append(problem)
    return Problems({k: tuple(v) for k, v in by_field.items()}, tuple(general))
