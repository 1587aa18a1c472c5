"""The fields a manifest declares: configuration fields, action options and authentication.

A field may carry a *role* that tells the runtime what it is for (the vendor's host, TLS
verification, the proxy switch, ...), so that no vendor field name is ever written in Python:
the runtime asks the manifest which field has a role, and which fields make the credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import attrs

from tqops.manifest.conditions import ALWAYS, ByValue, When, choice_values, condition_problems

__all__ = ["ROLES", "AuthSpec", "ConfigField", "OptionField", "field_problems"]

#: role -> (the field type it needs, the text format it needs or None), and what it is for
ROLES: Mapping[str, tuple[str, Optional[str], str]] = {
    "host": ("text", "hostname", "the vendor's host[:port]; the scheme is always https"),
    "verify_tls": ("checkbox", None, "verify the vendor's TLS certificate"),
    "ca_file": ("text", "file", "a PEM file of CAs to trust"),
    "proxy": ("checkbox", None, "use the platform proxy"),
    "timeout": ("number", None, "seconds to connect and to answer"),
    "rate_limit": ("number", None, "at most this many calls per second"),
    "variant": ("select", None, "which of the vendor's API generations is spoken"),
}

#: the text formats that take a minimum and a maximum
RANGE_FORMATS = ("range", "at_least")

#: authentication schemes and the keys each needs besides ``secret``
AUTH_SCHEMES: Mapping[str, tuple[str, ...]] = {
    "bearer": (),
    "header": ("header",),
    "basic": ("user",),
}


@attrs.frozen
class ConfigField:
    """One admin-UI configuration field."""

    name: str
    label: str
    type: str
    required: bool = False
    default: Any = None
    description: str = ""
    advanced: bool = False
    format: Optional[str] = None
    choices: tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    max_length: Optional[int] = None
    #: what the runtime uses the field for (see :data:`ROLES`), if anything
    role: Optional[str] = None
    #: the field applies only where other fields hold these values
    when: When = ALWAYS
    #: the default and the text format, chosen by another field's value
    default_when: Optional[ByValue] = None
    format_when: Optional[ByValue] = None
    #: what a form shows for each of ``choices`` (empty: the choice itself)
    choice_labels: tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return self.type == "password"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConfigField:
        return cls(role=raw.get("role"), **_field_kwargs(raw))

    def effective(self, values: Optional[Mapping[str, Any]]) -> Any:
        """This field as it stands where the configuration holds ``values``: its default and
        format chosen by the fields they depend on (itself when nothing depends)."""
        changes: dict[str, Any] = {}
        if self.default_when is not None:
            changes["default"] = self.default_when.pick(values, self.default)
        if self.format_when is not None:
            changes["format"] = self.format_when.pick(values, self.format)
        return attrs.evolve(self, **changes) if changes else self

    def choice_label(self, choice: str) -> str:
        """What a form shows for ``choice``."""
        labels = dict(zip(self.choices, self.choice_labels))
        return labels.get(choice) or choice


@attrs.frozen
class OptionField(ConfigField):
    """One option the user fills in when running an action."""

    #: the vendor query parameter this option becomes, when it is one-to-one
    parameter: Optional[str] = None
    #: checkbox options that put text before or after the searched value (a wildcard)
    value_prefix: Optional[str] = None
    value_suffix: Optional[str] = None
    #: the parameter, chosen by a configuration field's value
    parameter_when: Optional[ByValue] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OptionField:
        return cls(
            parameter=raw.get("parameter"),
            value_prefix=raw.get("value_prefix"),
            value_suffix=raw.get("value_suffix"),
            parameter_when=ByValue.from_dict(raw.get("parameter_when")),
            **_field_kwargs(raw),
        )

    def effective(self, values: Optional[Mapping[str, Any]]) -> Any:
        field = super().effective(values)
        if self.parameter_when is None:
            return field
        return attrs.evolve(field, parameter=self.parameter_when.pick(values, self.parameter))


@attrs.frozen
class AuthSpec:
    """How the credential is sent: ``bearer`` (Authorization: Bearer), ``header`` (a custom
    header) or ``basic`` (HTTP Basic with a user field); ``secret`` names the password field."""

    scheme: str
    secret: str
    header: Optional[str] = None
    user: Optional[str] = None
    #: the entry applies only where configuration fields hold these values
    when: When = ALWAYS

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AuthSpec:
        return cls(
            raw["scheme"],
            raw["secret"],
            raw.get("header"),
            raw.get("user"),
            When.from_dict(raw.get("when")),
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """The configuration fields that make the credential."""
        return tuple(name for name in (self.user, self.secret) if name)


def _field_kwargs(raw: Mapping[str, Any]) -> dict[str, Any]:
    choices = raw.get("choices", ())
    return {
        "name": raw["name"],
        "label": raw["label"],
        "type": raw["type"],
        "required": bool(raw.get("required", False)),
        "default": raw.get("default"),
        "description": raw.get("description", ""),
        "advanced": bool(raw.get("advanced", False)),
        "format": raw.get("format"),
        "choices": tuple(choice_values(choices)),
        "choice_labels": tuple(
            str(c.get("label", "")) if isinstance(c, Mapping) else "" for c in choices
        ),
        "minimum": raw.get("minimum"),
        "maximum": raw.get("maximum"),
        "max_length": raw.get("max_length"),
        "when": When.from_dict(raw.get("when")),
        "default_when": ByValue.from_dict(raw.get("default_when")),
        "format_when": ByValue.from_dict(raw.get("format_when")),
    }


def _role_problems(field: Mapping[str, Any], at: str, roles: dict[str, str]) -> list[str]:
    role = field.get("role")
    if role is None:
        return []
    problems = []
    if role in roles:
        problems.append(f"role {role!r} is already taken by field {roles[role]!r} @ {at}.role")
    roles[role] = field["name"]
    kind, fmt, _ = ROLES[role]
    if field["type"] != kind or (fmt and field.get("format") != fmt):
        wanted = kind + (f" field with format {fmt}" if fmt else " field")
        problems.append(f"a field with role {role!r} must be a {wanted} @ {at}.role")
    return problems


def _default_problems(field: Mapping[str, Any], at: str) -> list[str]:
    """Each default (``default`` and those of ``default_when``) fits the field."""
    kind = field["type"]
    defaults = [("default", field.get("default"))]
    for name, cases in (field.get("default_when") or {}).items():
        defaults += [(f"default_when.{name}.{k}", v) for k, v in cases.items()]
    problems = []
    for key, default in defaults:
        if default is None:
            continue
        if kind == "password":
            problems.append(f"a password field must not have a default @ {at}.{key}")
            continue
        expected = {"checkbox": bool, "number": (int, float)}.get(kind, str)
        if (isinstance(default, bool) and kind != "checkbox") or not isinstance(default, expected):
            problems.append(f"default {default!r} does not fit a {kind} field @ {at}.{key}")
        elif kind == "select" and default not in choice_values(field.get("choices", ())):
            problems.append(f"default {default!r} is not one of the choices @ {at}.{key}")
    return problems


def _format_problems(field: Mapping[str, Any], at: str) -> list[str]:
    """Each format (``format`` and those of ``format_when``) fits the field."""
    formats = [("format", field.get("format"))]
    for name, cases in (field.get("format_when") or {}).items():
        formats += [(f"format_when.{name}.{k}", v) for k, v in cases.items()]
    kind, low, high = field["type"], field.get("minimum"), field.get("maximum")
    problems = []
    for key, fmt in formats:
        if fmt and kind != "text":
            problems.append(f"format {fmt!r} applies to text fields, not {kind!r} @ {at}.{key}")
        if fmt in RANGE_FORMATS and (low is None or high is None):
            problems.append(f"a {fmt} field needs minimum and maximum @ {at}")
    return problems


def field_problems(fields: Sequence[Mapping[str, Any]], where: str) -> list[str]:
    """What spans a field's keys (the schema checks each key alone)."""
    problems = []
    seen: set[str] = set()
    roles: dict[str, str] = {}
    for index, field in enumerate(fields):
        at = f"{where}[{index}]"
        name = field["name"]
        if name in seen:
            problems.append(f"duplicate field name {name!r} @ {at}.name")
        seen.add(name)
        kind = field["type"]
        if kind == "select" and not field.get("choices"):
            problems.append(f"a select field needs choices @ {at}.choices")
        if field.get("choices") and kind != "select":
            problems.append(f"choices apply to select fields, not {kind!r} @ {at}.choices")
        for key in ("value_prefix", "value_suffix"):
            if key in field and kind != "checkbox":
                problems.append(f"{key} applies to checkbox options, not {kind!r} @ {at}.{key}")
        problems += _default_problems(field, at) + _format_problems(field, at)
        low, high = field.get("minimum"), field.get("maximum")
        if low is not None and high is not None and low > high:
            problems.append(f"minimum {low} is above maximum {high} @ {at}")
        problems += _role_problems(field, at, roles)
    return problems


def dependency_problems(
    config: Sequence[Mapping[str, Any]],
    options: Sequence[tuple[str, Mapping[str, Any]]] = (),
    auth: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Problems of every ``when`` and ``*_when``: config fields, options (by their ``$.path``)
    and auth entries may depend only on select config fields, by values among their choices."""
    selectors = {f["name"]: f for f in config}
    entries = [(f"$.config[{i}]", f) for i, f in enumerate(config)]
    entries += list(options)
    entries += [(f"$.auth[{i}]", a) for i, a in enumerate(auth)]
    return condition_problems(entries, selectors)


def auth_problems(
    auth: Sequence[Mapping[str, Any]], fields: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Each authentication entry names existing fields of the right types."""
    by_name = {f["name"]: f for f in fields}
    problems = []
    for index, entry in enumerate(auth):
        at = f"$.auth[{index}]"
        for key in AUTH_SCHEMES[entry["scheme"]]:
            if not entry.get(key):
                problems.append(f"scheme {entry['scheme']!r} needs {key!r} @ {at}")
        secret = by_name.get(entry["secret"])
        if secret is None:
            problems.append(f"no config field named {entry['secret']!r} @ {at}.secret")
        elif secret["type"] != "password":
            problems.append(f"the secret field {entry['secret']!r} must be a password @ {at}")
        if entry.get("user") and entry["user"] not in by_name:
            problems.append(f"no config field named {entry['user']!r} @ {at}.user")
    return problems
