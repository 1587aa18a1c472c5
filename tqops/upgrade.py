"""What an upgrade changes for an admin: configuration fields, actions and options.

A TIP warns an admin when a new version of an operation changes the user configuration.
``compare`` lists every change, each marked as needing action (a field removed or changed, a
new required field without a default, an action or option removed) or informational.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Union

import attrs
import yaml

from .errors import ManifestError
from .manifest import ConfigField, Manifest, load_manifest

__all__ = ["Change", "compare", "manifest_from"]


@attrs.frozen
class Change:
    """One difference between two versions of an operation."""

    what: str
    needs_action: bool

    def __str__(self) -> str:
        return f"{'ACTION' if self.needs_action else 'info  '} {self.what}"


def manifest_from(path: Union[str, Path]) -> Manifest:
    """A manifest from a YAML file or from inside an integration file (wheel)."""
    path = Path(path)
    if path.suffix != ".whl":
        return load_manifest(path)
    try:
        with zipfile.ZipFile(path) as wheel:
            for name in sorted(wheel.namelist()):
                if name.endswith(".yaml") and ".dist-info/" not in name:
                    raw: Any = yaml.safe_load(wheel.read(name))
                    if isinstance(raw, dict) and {"name", "config", "actions"} <= set(raw):
                        return Manifest.from_dict(raw, origin=f"{path.name}:{name}")
    except (OSError, zipfile.BadZipFile) as exc:
        raise ManifestError(f"cannot read integration file {path}: {exc}") from None
    raise ManifestError(f"integration file {path} holds no operation manifest")


_COMPARED = ("type", "default", "required", "format", "minimum", "maximum", "choices")


def _field_changes(
    old: tuple[ConfigField, ...], new: tuple[ConfigField, ...], where: str, removal_needs: bool
) -> list[Change]:
    changes = []
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    for name in before.keys() - after.keys():
        changes.append(Change(f"{where} {name!r} removed", removal_needs))
    for name in after.keys() - before.keys():
        field = after[name]
        required = field.required and field.default is None
        note = "required, no default: must be filled in" if required else "optional"
        changes.append(Change(f"{where} {name!r} added ({note})", required))
    for name in before.keys() & after.keys():
        for attribute in _COMPARED:
            was, now = getattr(before[name], attribute), getattr(after[name], attribute)
            if was != now:
                changes.append(
                    Change(f"{where} {name!r} {attribute} changed: {was!r} -> {now!r}", True)
                )
        if before[name].label != after[name].label:
            changes.append(
                Change(
                    f"{where} {name!r} label changed: "
                    f"{before[name].label!r} -> {after[name].label!r}",
                    False,
                )
            )
    return sorted(changes, key=lambda c: c.what)


def compare(old: Manifest, new: Manifest) -> list[Change]:
    """Every change from ``old`` to ``new`` that an admin would be told about."""
    changes: list[Change] = []
    if old.name != new.name:
        changes.append(Change(f"operation renamed {old.name!r} -> {new.name!r}", True))
    if old.version != new.version:
        changes.append(Change(f"version {old.version} -> {new.version}", False))
    changes += _field_changes(old.config, new.config, "config field", True)
    old_actions = {a.name: a for a in old.actions}
    new_actions = {a.name: a for a in new.actions}
    for name in sorted(old_actions.keys() - new_actions.keys()):
        changes.append(Change(f"action {name!r} removed", True))
    for name in sorted(new_actions.keys() - old_actions.keys()):
        changes.append(Change(f"action {name!r} added", False))
    for name in sorted(old_actions.keys() & new_actions.keys()):
        was, now = old_actions[name], new_actions[name]
        changes += _field_changes(was.options, now.options, f"action {name!r} option", True)
        dropped = set(was.indicator_types) - set(now.indicator_types)
        added = set(now.indicator_types) - set(was.indicator_types)
        if dropped:
            kinds = ", ".join(sorted(t.value for t in dropped))
            changes.append(Change(f"action {name!r} no longer takes {kinds}", True))
        if added:
            kinds = ", ".join(sorted(t.value for t in added))
            changes.append(Change(f"action {name!r} now also takes {kinds}", False))
    return changes
