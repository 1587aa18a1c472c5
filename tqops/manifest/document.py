"""Manifests: load, validate (JSON Schema, then what spans fields) and model them.

A manifest is the single source of truth of an operation: its configuration fields, its actions
and their options, and each action's mapping table. Raw YAML becomes objects only through
:meth:`Manifest.from_dict`, after the closed schema accepted it; every problem is listed with
its ``$.path``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

import attrs
import jsonschema
import yaml

from tqops.errors import ManifestError, PathSyntaxError
from tqops.manifest.attribute_reading import (
    ReadingSpec,
    reading_problems,
    variant_reading_problems,
)
from tqops.manifest.conditions import choice_values, two_way
from tqops.manifest.feedpath import FeedPath
from tqops.manifest.fields import (
    AuthSpec,
    ConfigField,
    OptionField,
    auth_problems,
    dependency_problems,
    field_problems,
)
from tqops.manifest.mapping_table import (
    AttributeRule,
    IndicatorRule,
    MappingSpec,
    SourceSpec,
    TlpRule,
)
from tqops.manifest.verdict_rules import VerdictSpec, verdict_problems
from tqops.manifest.yamldoc import load_yaml
from tqops.model import IndicatorType

__all__ = [
    "ActionSpec",
    "ActionVariant",
    "AttributeRule",
    "ConfigField",
    "IndicatorRule",
    "Manifest",
    "MappingSpec",
    "OptionField",
    "ReadingSpec",
    "SourceSpec",
    "TlpRule",
    "VerdictSpec",
    "find_packaged_file",
    "load_manifest",
    "manifest_schema",
]


def find_packaged_file(package: str, filename: str) -> Path:
    """Locate a file (a manifest, the schema) shipped inside ``package``, and only there.

    Every package carries its own files as package data, installed or not: in the checkout
    ``dcso_tie_operation/dcso_tie.yaml`` is a relative link to ``manifests/dcso_tie.yaml`` (the
    only copy), and a build copies the content in. Nothing looks outside the package.
    """
    try:
        candidate = resources.files(package).joinpath(filename)
        if candidate.is_file():
            return Path(str(candidate))
    except (ModuleNotFoundError, TypeError):
        pass
    raise ManifestError(f"{filename} not found in package {package!r}")


@functools.lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The closed JSON Schema every manifest must satisfy."""
    schema_file = find_packaged_file("tqops.manifest", "manifest.schema.json")
    with open(schema_file, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise ManifestError(
                f"duplicate key {key!r} at line {mark.line + 1}, column {mark.column + 1}"
            )
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _json_path(parts: Sequence[Union[str, int]]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_problems(raw: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(manifest_schema())
    problems = []
    for error in sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf failures bury the useful message; surface the closest sub-error
        best = jsonschema.exceptions.best_match([error]) or error
        if error.validator in ("oneOf", "anyOf"):
            # "valid under each of" buries the point; an enum miss on the value itself says it
            enum = [e for e in error.context if e.validator == "enum" and not e.relative_path]
            best = enum[0] if enum else best
            if not enum and "description" in error.schema and isinstance(error.instance, dict):
                # keys that exclude each other: the schema says which, the manifest gave these
                given = ", ".join(sorted(map(str, error.instance))) or "none"
                wanted = error.schema["description"]
                problems.append(f"{wanted}; got {given} @ {_json_path(list(error.absolute_path))}")
                continue
        message = best.message
        if best.validator == "pattern" and "description" in best.schema:
            message = f"{best.instance!r} is not valid: expected {best.schema['description']}"
        problems.append(f"{message} @ {_json_path(list(best.absolute_path))}")
    return problems + _all_path_problems(raw)


def _all_path_problems(raw: Any, at: str = "$") -> list[str]:
    """Syntax problems of every feed path in a manifest, found even when its shape is wrong."""
    problems: list[str] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            where = f"{at}.{key}"
            if key in ("path", "name_path", "published_at", "value") and "mapping" in at:
                texts = [value] if isinstance(value, str) else value
                if isinstance(texts, list):
                    for i, text in enumerate(texts):
                        spot = where if isinstance(value, str) else f"{where}[{i}]"
                        if isinstance(text, str) and text.startswith("."):
                            problem = _path_problem(text, spot)
                            if problem:
                                problems.append(problem)
            else:
                problems += _all_path_problems(value, where)
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            problems += _all_path_problems(value, f"{at}[{i}]")
    return problems


@attrs.frozen
class ActionVariant:
    """What an action does for one value of the field with role ``variant``: its endpoint,
    the query parameter the searched value goes in, its mapping table, its verdict rules and
    how its attributes read."""

    key: Optional[str]
    mapping: MappingSpec
    endpoint: Optional[str] = None
    value_parameter: Optional[str] = None
    verdict: Optional[VerdictSpec] = None
    reading: Optional[ReadingSpec] = None

    @classmethod
    def from_dict(cls, key: Optional[str], raw: Mapping[str, Any]) -> ActionVariant:
        return cls(
            key,
            MappingSpec.from_dict(raw["mapping"]),
            raw.get("endpoint"),
            raw.get("value_parameter"),
            VerdictSpec.from_dict(raw.get("verdict")),
            ReadingSpec.from_dict(raw.get("reading")),
        )


@attrs.frozen
class ActionSpec:
    """An action the operation offers on selected indicators.

    ``mapping``, ``endpoint`` and ``value_parameter`` are what it does for the default value of
    the configuration field with role ``variant`` (or always, without one); ``variants`` says
    how it differs for that field's other values.
    """

    name: str
    label: str
    description: str
    indicator_types: tuple[IndicatorType, ...]
    options: tuple[OptionField, ...]
    mapping: MappingSpec
    object_type: str = "Indicators"
    endpoint: Optional[str] = None
    value_parameter: Optional[str] = None
    #: the default variant's key (None: the operation has no variant field)
    default_variant: Optional[str] = None
    variants: tuple[ActionVariant, ...] = ()
    #: how a found record is judged (None: every result's verdict is unknown)
    verdict: Optional[VerdictSpec] = None
    #: how its attributes read (None: each under its own name, none scaled or detail)
    reading: Optional[ReadingSpec] = None
    #: ``skip``: an address that is not public (private, loopback, link-local, reserved) is
    #: kept from the vendor; ``look_up``: sent (a vendor inside the network, for instance)
    private_addresses: str = "skip"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], default_variant: Optional[str] = None) -> ActionSpec:
        return cls(
            name=raw["name"],
            label=raw["label"],
            description=raw["description"],
            indicator_types=tuple(IndicatorType.from_name(t) for t in raw["indicator_types"]),
            options=tuple(OptionField.from_dict(o) for o in raw.get("options", ())),
            mapping=MappingSpec.from_dict(raw["mapping"]),
            object_type=raw.get("object_type", "Indicators"),
            endpoint=raw.get("endpoint"),
            value_parameter=raw.get("value_parameter"),
            default_variant=default_variant,
            variants=tuple(
                ActionVariant.from_dict(key, v) for key, v in raw.get("variants", {}).items()
            ),
            verdict=VerdictSpec.from_dict(raw.get("verdict")),
            reading=ReadingSpec.from_dict(raw.get("reading")),
            private_addresses=raw.get("private_addresses", "skip"),
        )

    def option(self, name: str) -> Optional[OptionField]:
        return next((o for o in self.options if o.name == name), None)

    def all_variants(self) -> tuple[ActionVariant, ...]:
        """Every variant, the default one first."""
        own = ActionVariant(
            self.default_variant,
            self.mapping,
            self.endpoint,
            self.value_parameter,
            self.verdict,
            self.reading,
        )
        return (own, *self.variants)

    def variant(self, key: Optional[str]) -> ActionVariant:
        """The variant for ``key`` (the default one for None or a key it does not list)."""
        return (
            next((v for v in self.variants if v.key == key and key is not None), None)
            or (self.all_variants()[0])
        )


@attrs.frozen
class Manifest:
    """An operation's manifest, validated."""

    name: str
    label: str
    version: str
    vendor: str
    description: str
    config: tuple[ConfigField, ...]
    actions: tuple[ActionSpec, ...]
    compatibility: Optional[str] = None
    prerequisites: Optional[str] = None
    assumed: tuple[str, ...] = ()
    #: how the credential is sent (the first entry applies)
    auth: tuple[AuthSpec, ...] = ()
    origin: Optional[str] = attrs.field(default=None, eq=False)

    @classmethod
    def from_dict(cls, raw: Any, origin: Optional[str] = None) -> Manifest:
        """Validate raw manifest data and build it; raise :class:`ManifestError` listing all."""
        where = origin or "manifest"
        problems = _schema_problems(raw)
        if problems:
            raise ManifestError(f"{where} is invalid ({len(problems)} problems)", tuple(problems))
        problems = _cross_field_problems(raw)
        if problems:
            raise ManifestError(f"{where} is invalid ({len(problems)} problems)", tuple(problems))
        return cls(
            name=raw["name"],
            label=raw["label"],
            version=raw["version"],
            vendor=raw["vendor"],
            description=raw["description"],
            config=tuple(ConfigField.from_dict(f) for f in raw["config"]),
            actions=tuple(ActionSpec.from_dict(a, _default_variant(raw)) for a in raw["actions"]),
            compatibility=raw.get("compatibility"),
            prerequisites=raw.get("prerequisites"),
            assumed=tuple(raw.get("assumed", ())),
            auth=tuple(AuthSpec.from_dict(a) for a in raw.get("auth", ())),
            origin=origin,
        )

    def action(self, name: str) -> ActionSpec:
        for action in self.actions:
            if action.name == name:
                return action
        known = ", ".join(a.name for a in self.actions)
        raise ManifestError(f"{self.name} has no action {name!r}; its actions: {known}")

    def config_field(self, name: str) -> Optional[ConfigField]:
        return next((f for f in self.config if f.name == name), None)

    @property
    def variant_field(self) -> Optional[ConfigField]:
        """The select field that chooses among the vendor's API generations, if any."""
        return self.field_for_role("variant")

    def field_for_role(self, role: str) -> Optional[ConfigField]:
        """The configuration field that plays ``role`` (see :data:`tqops.manifest.fields.ROLES`)."""
        return next((f for f in self.config if f.role == role), None)

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.config if f.secret)


def load_manifest(path: Union[str, Path]) -> Manifest:
    """Read a manifest YAML file and validate it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    return _manifest_of(text, path.name)


@functools.lru_cache(maxsize=32)
def _manifest_of(text: str, origin: str) -> Manifest:
    """The manifest ``text`` holds. A valid one is kept (a :class:`Manifest` is immutable): a
    process that reads the same file again, as the host and the CLI's checks do, skips the YAML
    parse and the schema check; an invalid one raises each time."""
    try:
        raw, duplicates = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ManifestError(f"{origin} is not valid YAML{where}: {problem}") from None
    if not duplicates:
        return Manifest.from_dict(raw, origin=origin)
    try:  # every problem at once: the repeated keys, and what the rest has (the last kept)
        Manifest.from_dict(raw, origin=origin)
        problems = tuple(duplicates)
    except ManifestError as exc:
        problems = (*duplicates, *exc.problems)
    raise ManifestError(f"{origin} is invalid ({len(problems)} problems)", problems)


# --- checks that span fields -------------------------------------------------------------------


def _path_problem(text: str, at: str) -> Optional[str]:
    try:
        FeedPath.parse(text)
    except PathSyntaxError as exc:
        return f"{exc} @ {at}"
    return None


def _default_variant(raw: Mapping[str, Any]) -> Optional[str]:
    field = next((f for f in raw["config"] if f.get("role") == "variant"), None)
    if field is None:
        return None
    default = field.get("default")
    return str(default) if default is not None else choice_values(field["choices"])[0]


def _variant_problems(raw: Mapping[str, Any], action: Mapping[str, Any], at: str) -> list[str]:
    """An action's variants cover exactly the variant field's values besides its default."""
    field = next((f for f in raw["config"] if f.get("role") == "variant"), None)
    listed = set(action.get("variants", {}))
    if field is None:
        return (
            [f"variants need a config field with role 'variant' @ {at}.variants"] if listed else []
        )
    others = set(choice_values(field["choices"])) - {_default_variant(raw)}
    return two_way(
        listed,
        others,
        lambda key: (
            f"no variant for {field['name']} {key!r} (the default's is the action's own) @ {at}"
        ),
        lambda key: f"variant {key!r} is not a value of {field['name']!r} @ {at}.variants.{key}",
    )


def _ignore_problems(mapping: Mapping[str, Any], at: str) -> list[str]:
    problems = []
    for index, text in enumerate(mapping.get("ignore", ())):
        problem = _path_problem("." + text, f"{at}.ignore[{index}]")
        if problem:
            problems.append(problem)
    return problems


def _verdict_problems(raw: Mapping[str, Any], part: Mapping[str, Any], at: str) -> list[str]:
    """The verdict section of an action or variant (``part``) against its mapping's record."""
    if "verdict" not in part:
        return []
    try:
        record = FeedPath.parse(part["mapping"]["indicator"]["path"]).each_prefix()
    except PathSyntaxError:
        return []  # told at the indicator path
    return verdict_problems(part["verdict"], record, raw["config"], f"{at}.verdict")


def _cross_field_problems(raw: Mapping[str, Any]) -> list[str]:
    problems = field_problems(raw["config"], "$.config")
    problems += auth_problems(raw.get("auth", ()), raw["config"])
    names = {f["name"] for f in raw["config"]}
    seen_actions: set[str] = set()
    dependent_options = []
    for a_index, action in enumerate(raw["actions"]):
        at = f"$.actions[{a_index}]"
        if action["name"] in seen_actions:
            problems.append(f"duplicate action name {action['name']!r} @ {at}.name")
        seen_actions.add(action["name"])
        options = action.get("options", [])
        problems += field_problems(options, f"{at}.options")
        for o_index, option in enumerate(options):
            dependent_options.append((f"{at}.options[{o_index}]", option))
            if option["name"] in names:
                problems.append(
                    f"option {option['name']!r} shadows a config field @ {at}.options[{o_index}]"
                )
        problems += _variant_problems(raw, action, at)
        problems += _ignore_problems(action["mapping"], f"{at}.mapping")
        problems += _verdict_problems(raw, action, at)
        if "reading" in action:
            problems += reading_problems(action["reading"], action["mapping"], f"{at}.reading")
        for key, variant in action.get("variants", {}).items():
            where = f"{at}.variants.{key}"
            problems += variant_reading_problems(action, variant, key, where)
            if "reading" in variant:
                problems += reading_problems(
                    variant["reading"], variant["mapping"], f"{where}.reading"
                )
            problems += _ignore_problems(variant["mapping"], f"{at}.variants.{key}.mapping")
            problems += _verdict_problems(raw, variant, f"{at}.variants.{key}")
            if "verdict" in action and "verdict" not in variant:
                problems.append(
                    f"the action has a verdict, its variant {key!r} none (its records differ: "
                    f"give it its own, or the action's by a YAML anchor) @ {at}.variants.{key}"
                )
    problems += dependency_problems(raw["config"], dependent_options, raw.get("auth", ()))
    return problems
