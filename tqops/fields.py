"""The fields a manifest declares: configuration fields, action options and authentication.

A field may carry a *role* that tells the runtime what it is for (the vendor's host, TLS
verification, the proxy switch, ...), so that no vendor field name is ever written in Python:
the runtime asks the manifest which field has a role, and which fields make the credential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import attrs

__all__ = ["ROLES", "AuthSpec", "ConfigField", "OptionField", "field_problems"]

#: role -> (the field type it needs, the text format it needs or None), and what it is for
ROLES: Mapping[str, tuple[str, Optional[str], str]] = {
    "host": ("text", "hostname", "the vendor's host[:port]; the scheme is always https"),
    "verify_tls": ("checkbox", None, "verify the vendor's TLS certificate"),
    "ca_file": ("text", "file", "a PEM file of CAs to trust"),
    "proxy": ("checkbox", None, "use the platform proxy"),
    "timeout": ("number", None, "seconds to connect and to answer"),
    "rate_limit": ("number", None, "at most this many calls per second"),
}

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

    @property
    def secret(self) -> bool:
        return self.type == "password"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ConfigField:
        return cls(role=raw.get("role"), **_field_kwargs(raw))


@attrs.frozen
class OptionField(ConfigField):
    """One option the user fills in when running an action."""

    #: the vendor query parameter this option becomes, when it is one-to-one
    parameter: Optional[str] = None
    #: checkbox options that put text before or after the searched value (a wildcard)
    value_prefix: Optional[str] = None
    value_suffix: Optional[str] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OptionField:
        return cls(
            parameter=raw.get("parameter"),
            value_prefix=raw.get("value_prefix"),
            value_suffix=raw.get("value_suffix"),
            **_field_kwargs(raw),
        )


@attrs.frozen
class AuthSpec:
    """How the credential is sent: ``bearer`` (Authorization: Bearer), ``header`` (a custom
    header) or ``basic`` (HTTP Basic with a user field); ``secret`` names the password field."""

    scheme: str
    secret: str
    header: Optional[str] = None
    user: Optional[str] = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AuthSpec:
        return cls(raw["scheme"], raw["secret"], raw.get("header"), raw.get("user"))

    @property
    def fields(self) -> tuple[str, ...]:
        """The configuration fields that make the credential."""
        return tuple(name for name in (self.user, self.secret) if name)


def _field_kwargs(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": raw["name"],
        "label": raw["label"],
        "type": raw["type"],
        "required": bool(raw.get("required", False)),
        "default": raw.get("default"),
        "description": raw.get("description", ""),
        "advanced": bool(raw.get("advanced", False)),
        "format": raw.get("format"),
        "choices": tuple(raw.get("choices", ())),
        "minimum": raw.get("minimum"),
        "maximum": raw.get("maximum"),
        "max_length": raw.get("max_length"),
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
        kind, fmt, default = field["type"], field.get("format"), field.get("default")
        if fmt and kind != "text":
            problems.append(f"format {fmt!r} applies to text fields, not {kind!r} @ {at}.format")
        if kind == "select" and not field.get("choices"):
            problems.append(f"a select field needs choices @ {at}.choices")
        if field.get("choices") and kind != "select":
            problems.append(f"choices apply to select fields, not {kind!r} @ {at}.choices")
        if kind == "password" and default is not None:
            problems.append(f"a password field must not have a default @ {at}.default")
        for key in ("value_prefix", "value_suffix"):
            if key in field and kind != "checkbox":
                problems.append(f"{key} applies to checkbox options, not {kind!r} @ {at}.{key}")
        if default is not None:
            expected = {"checkbox": bool, "number": (int, float)}.get(kind, str)
            if (isinstance(default, bool) and kind != "checkbox") or not isinstance(
                default, expected
            ):
                problems.append(f"default {default!r} does not fit a {kind} field @ {at}.default")
            elif kind == "select" and default not in field.get("choices", ()):
                problems.append(f"default {default!r} is not one of the choices @ {at}.default")
        low, high = field.get("minimum"), field.get("maximum")
        if low is not None and high is not None and low > high:
            problems.append(f"minimum {low} is above maximum {high} @ {at}")
        if fmt == "range" and (low is None or high is None):
            problems.append(f"a range field needs minimum and maximum @ {at}")
        problems += _role_problems(field, at, roles)
    return problems


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
