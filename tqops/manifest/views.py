"""The read model of an operation: its fields, actions and options as they stand for one
configuration, for everything that shows them (the host's REST API and console, ``tqops
describe``).

A view is built from a manifest and the values of a configuration; each field's condition
(``when``) and each value chosen by another field (``default_when``, ``format_when``) is
evaluated once, here, by :mod:`tqops.manifest.conditions`, the same code that checks a
configuration and an action's options. Nothing that shows a field decides
for itself whether it applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import attrs

from tqops.manifest.conditions import Context, context_for
from tqops.manifest.document import ActionSpec, Manifest
from tqops.manifest.fields import ConfigField

__all__ = ["ActionView", "FieldView", "OperationView", "OptionView", "passthrough"]


def _shown(value: Any) -> bool:
    return value not in (None, [], (), "", {})


def passthrough(source: str, attribute: str, doc: str = "") -> Any:
    """A read-only property giving ``self.<source>.<attribute>``: a view shows what the
    manifest declares and adds only what one configuration decides."""
    return property(
        lambda view: getattr(getattr(view, source), attribute),
        doc=doc or f"The {source}'s {attribute}.",
    )


def as_declared(attribute: str, doc: str = "") -> Any:
    """:func:`passthrough` to what the manifest declares."""
    return passthrough("declared", attribute, doc)


@attrs.frozen
class FieldView:
    """A configuration field as it stands for one configuration."""

    #: the field as the manifest declares it
    declared: ConfigField = attrs.field(repr=False)
    #: the field with the default and format other fields choose for it picked
    field: ConfigField = attrs.field(repr=False)
    #: why it does not apply (``API Version v3``); None when it applies
    excluded_by: Optional[str] = None

    @property
    def applies(self) -> bool:
        return self.excluded_by is None

    name = as_declared("name")
    label = as_declared("label")
    kind = as_declared("type", "The field's type (text, password, checkbox, select, number).")
    secret = as_declared("secret")
    required = as_declared("required")
    advanced = as_declared("advanced")
    description = as_declared("description")

    @property
    def default(self) -> Any:
        """The default for this configuration (``default_when`` picked)."""
        return self.field.default

    @property
    def format(self) -> Optional[str]:
        """The text format for this configuration (``format_when`` picked)."""
        return self.field.format

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """(value, what a form shows) for each choice of a select field."""
        return tuple((c, self.declared.choice_label(c)) for c in self.declared.choices)

    minimum = as_declared("minimum")
    maximum = as_declared("maximum")

    @property
    def when(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The condition's terms: (select field, the values it applies for)."""
        return self.declared.when.terms

    def default_text(self) -> str:
        """The default as a form says it: each value with the choices giving it, when
        another field chooses it (``tie.dcso.de (v1); api.dcso.de (v2, v3)``)."""
        declared = self.declared
        if declared.default_when is not None:
            return declared.default_when.describe(declared.default)
        if declared.default is None:
            return ""
        if declared.choices:
            return declared.choice_label(str(declared.default))
        return _text(declared.default)

    def to_dict(self) -> dict[str, Any]:
        """The field as the host's REST API gives it: what the manifest declares (but what
        is empty), and whether it is a secret."""
        shown = attrs.asdict(self.declared, recurse=True)
        shown["secret"] = self.declared.secret
        return {k: v for k, v in shown.items() if _shown(v)}


#: an action option as it stands for one configuration (a view does not send: the query
#: parameter an option goes in is the run's to pick)
OptionView = FieldView


@attrs.frozen
class ActionView:
    """An action and its options as they stand for one configuration."""

    declared: ActionSpec = attrs.field(repr=False)
    options: tuple[OptionView, ...]

    name = as_declared("name")
    label = as_declared("label")
    description = as_declared("description")

    @property
    def indicator_types(self) -> tuple[str, ...]:
        return tuple(t.value for t in self.declared.indicator_types)

    @property
    def applicable_options(self) -> tuple[OptionView, ...]:
        """The options this configuration takes (the others are refused if given)."""
        return tuple(option for option in self.options if option.applies)

    def to_dict(self) -> dict[str, Any]:
        """The action as the host's REST API gives it."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "indicator_types": list(self.indicator_types),
            "options": [option.to_dict() for option in self.options],
        }


@attrs.frozen
class OperationView:
    """An operation's fields, actions and options as they stand for one configuration."""

    manifest: Manifest = attrs.field(repr=False, eq=False)
    config: tuple[FieldView, ...]
    actions: tuple[ActionView, ...]
    #: the select values conditions were evaluated against, by field name
    values: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def of(cls, manifest: Manifest, entered: Optional[Mapping[str, Any]] = None) -> OperationView:
        """The view for a configuration that holds ``entered`` (as an admin entered it, or
        as a form shows it; a select field left unset is at its default)."""
        entered = dict(entered or {})
        options = [option for action in manifest.actions for option in action.options]
        # the select fields any field or option depends on, each as entered or its default:
        # what validate_config and validate_options evaluate the same conditions against
        context = context_for((*manifest.config, *options), entered)
        context = Context(
            {k: v for k, v in context.values.items() if manifest.config_field(k) is not None},
            {f.name: f.label for f in manifest.config},
        )
        config = tuple(_field_view(f, context) for f in manifest.config)
        actions = tuple(
            ActionView(action, tuple(_field_view(o, context) for o in action.options))
            for action in manifest.actions
        )
        return cls(manifest, config, actions, dict(context.values))

    name = passthrough("manifest", "name")
    label = passthrough("manifest", "label")
    version = passthrough("manifest", "version")
    vendor = passthrough("manifest", "vendor")
    description = passthrough("manifest", "description")

    def action(self, name: str) -> ActionView:
        """The action named ``name``; a :class:`ManifestError` listing the actions if none."""
        spec = self.manifest.action(name)
        return next(action for action in self.actions if action.name == spec.name)

    def field(self, name: str) -> Optional[FieldView]:
        return next((f for f in self.config if f.name == name), None)


def _field_view(field: ConfigField, context: Context) -> FieldView:
    return FieldView(field, field.effective(context.values), context.why_not(field.when))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
