"""Forms drawn from an operation's read model alone: each configuration field or action
option as an input (text, password, checkbox, select or number) with its label, description,
required mark, default and checks; what a posted form means for each; and each problem placed
next to the field it names (``... @ $.config.<field>``).

Whether a field applies is the read model's answer (the runtime's conditions, evaluated once);
a form only shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

import attrs

from tqops.config.values import MASK
from tqops.server.errors import readable
from tqops.service import FieldView

__all__ = ["FormInput", "Problems", "draw_fields", "field_values", "problems_of", "readable"]

#: the form name prefix of action options (so they never meet the form's own fields)
OPTION_PREFIX = "option."
_LOCATED = re.compile(r"^(?P<text>.*?)\s*@ \$\.(?P<where>config|options)(?:\.(?P<name>[\w-]+))?")


@attrs.frozen
class FormInput:
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
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _range_hint(low: Optional[float], high: Optional[float]) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"at least {_text(low)}"
    if low is None:
        return f"at most {_text(high)}"
    return f"{_text(low)} to {_text(high)}"


def _hint(field: FieldView) -> str:
    parts = [_HINTS.get(field.format or "", "")]
    if field.kind in ("text", "number"):
        parts.append(_range_hint(field.minimum, field.maximum))
    return "; ".join(p for p in parts if p)


def _when(field: FieldView) -> str:
    """``api_version=v2 v3``: what the console's script needs to show and hide the input as
    the form's select fields change (the view says whether it applies now)."""
    return ";".join(f"{name}={' '.join(values)}" for name, values in field.when)


def draw_fields(
    fields: Sequence[FieldView],
    values: Mapping[str, Any],
    secrets_set: Mapping[str, bool],
    errors: Mapping[str, Sequence[str]],
    prefix: str = "",
) -> list[FormInput]:
    """The fields of an operation's read model (built for the values shown) as inputs."""
    drawn = []
    for field in fields:
        name = field.name
        value = values.get(name)
        drawn.append(
            FormInput(
                name=name,
                input_name=prefix + name,
                label=field.label or name,
                kind=field.kind,
                required=field.required,
                description=field.description,
                default=field.default_text(),
                advanced=field.advanced,
                value=None if field.secret else value,
                preset=field.default,
                secret_set=bool(secrets_set.get(name)) if field.secret else None,
                choices=field.choices,
                minimum=field.minimum,
                maximum=field.maximum,
                hint=_hint(field),
                when=_when(field),
                errors=tuple(errors.get(name, ())),
                applies=field.applies,
            )
        )
    return drawn


def field_values(
    fields: Iterable[FieldView], form: Any, prefix: str = "", only_shown: bool = True
) -> dict[str, Any]:
    """What a posted form says for each field it showed (``shown`` lists them; an input a
    condition hid is not sent, and leaves its field as it was). A blank password keeps the
    secret; a blank text or number unsets its field; a checkbox is on or off."""
    shown = set(form.getlist("shown")) if only_shown else None
    values: dict[str, Any] = {}
    for field in fields:
        name = field.name
        if shown is not None and prefix + name not in shown:
            continue
        given = form.get(prefix + name)
        text = given.strip() if isinstance(given, str) else ""
        if field.kind == "checkbox":
            values[name] = given is not None
        elif field.secret:
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
