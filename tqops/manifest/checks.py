"""The checks of a manifest that need no code, beyond its schema and its cross-field rules.

``tqops validate FILE`` and loading an installed operation both run them, so a manifest file
that validates also loads (but for what only code can tell: an action without a function, a
client that speaks other variants). Each problem is one line that ends with its ``$.path``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping

from tqops.manifest.document import ActionVariant, Manifest
from tqops.manifest.feedpath import FeedPath
from tqops.manifest.fields import ROLES
from tqops.manifest.mapping_table import MappingSpec

__all__ = ["REQUIRED_ROLES", "manifest_problems"]

#: the roles every operation needs a config field for, and why
REQUIRED_ROLES: Mapping[str, str] = {"host": "the operation cannot know where to connect"}


def manifest_problems(manifest: Manifest, transforms: Collection[str]) -> list[str]:
    """What an operation needs of its manifest that its schema cannot say: a field for each
    required role, an ``auth`` entry, and only the ``transforms`` known (the built-in ones and
    the operation's own)."""
    problems = [
        f"no config field has the role {role!r} ({ROLES[role][2]}); {why} @ $.config"
        for role, why in REQUIRED_ROLES.items()
        if manifest.field_for_role(role) is None
    ]
    if not manifest.auth:
        problems.append("no 'auth' entry says how the credential is sent @ $.auth")
    known = ", ".join(sorted(transforms))
    for at, name in _transforms_used(manifest):
        if name not in transforms:
            problems.append(f"unknown transform {name!r} (known: {known}) @ {at}")
    for at, variant in _mappings(manifest):
        problems += _type_value_problems(variant.mapping, at)
    return problems


def _mappings(manifest: Manifest) -> Iterator[tuple[str, ActionVariant]]:
    """Each action's variants with the ``$.path`` of their mapping table."""
    for index, action in enumerate(manifest.actions):
        for variant in action.all_variants():
            at = f"$.actions[{index}]"
            if variant.key != action.default_variant:
                at += f".variants.{variant.key}"
            yield f"{at}.mapping", variant


def _transforms_used(manifest: Manifest) -> Iterator[tuple[str, str]]:
    """Every transform a mapping names, with its ``$.path``."""
    for at, variant in _mappings(manifest):
        rule = variant.mapping.indicator
        for index, name in enumerate(rule.transforms):
            yield f"{at}.indicator.transforms[{index}]", name
        for entry in rule.type_table:
            if entry.derive is not None:
                yield f"{at}.indicator.type.table.{entry.vendor_type}.from_value", entry.derive
        for r_index, row in enumerate(variant.mapping.attributes):
            for index, name in enumerate(row.transforms):
                yield f"{at}.attributes[{r_index}].transforms[{index}]", name


def _type_value_problems(mapping: MappingSpec, at: str) -> list[str]:
    """A type's own value path lies in the record the indicator path names."""
    prefix = mapping.indicator.path.each_prefix()
    return [
        f"value path {entry.value_path} of type {entry.vendor_type!r} is not under the record "
        f"{FeedPath(prefix)} @ {at}.indicator.type.table.{entry.vendor_type}.value"
        for entry in mapping.indicator.type_table
        if entry.value_path is not None and entry.value_path.each_prefix() != prefix
    ]
