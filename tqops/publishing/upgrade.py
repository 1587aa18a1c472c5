"""What an upgrade changes for an admin: configuration fields, actions and options.

A TIP warns an admin when a new version of an operation changes the user configuration.
``compare`` lists every change, each marked as needing action (a field removed or changed, a
new required field without a default, an action or option removed) or informational.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any, Union

import attrs
import yaml

from tqops.errors import ManifestError
from tqops.manifest.conditions import context_for
from tqops.manifest.document import ConfigField, Manifest, load_manifest
from tqops.manifest.yamldoc import safe_load

__all__ = ["Change", "compare", "content_digest", "manifest_from"]


@attrs.frozen
class Change:
    """One difference between two versions of an operation: ``what`` names fields, actions
    and options by their names (the CLI's report, and scripts), ``text`` by the manifest's
    labels (what the console shows an admin, and the REST answer beside ``what``)."""

    what: str
    needs_action: bool
    text: str = ""

    def __str__(self) -> str:
        return f"{'ACTION' if self.needs_action else 'info  '} {self.what}"


#: what each compared attribute of a field is called in words
_ATTRIBUTE_WORDS = {
    "type": "type",
    "default": "default",
    "required": "required",
    "format": "format",
    "minimum": "minimum",
    "maximum": "maximum",
    "max_length": "maximum length",
    "choices": "choices",
}


def _shown(value: Any) -> str:
    """A field's attribute as the text says it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value) or "none"
    return f"“{value}”" if isinstance(value, str) else str(value)


def _raw_manifest(path: Path) -> tuple[Any, str]:
    """The raw manifest data in a YAML file or inside an integration file (wheel), and where
    it was found."""
    if path.suffix != ".whl":
        try:
            return safe_load(path.read_bytes()), str(path)
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    try:
        with zipfile.ZipFile(path) as wheel:
            for name in sorted(wheel.namelist()):
                if name.endswith(".yaml") and ".dist-info/" not in name:
                    raw: Any = safe_load(wheel.read(name))
                    if isinstance(raw, dict) and {"name", "config", "actions"} <= set(raw):
                        return raw, f"{path.name}:{name}"
    except (OSError, zipfile.BadZipFile, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read integration file {path}: {exc}") from None
    raise ManifestError(f"integration file {path} holds no operation manifest")


def manifest_from(path: Union[str, Path]) -> Manifest:
    """A manifest from a YAML file or from inside an integration file (wheel)."""
    path = Path(path)
    if path.suffix != ".whl":
        return load_manifest(path)
    raw, origin = _raw_manifest(path)
    return Manifest.from_dict(raw, origin=origin)


def content_digest(path: Union[str, Path]) -> str:
    """A SHA-256 of a manifest's content (its data, not its layout: comments, key order and
    quoting do not count), to tell whether two manifests of one version differ."""
    raw, _ = _raw_manifest(Path(path))
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_COMPARED = (
    "type",
    "default",
    "required",
    "format",
    "minimum",
    "maximum",
    "max_length",
    "choices",
)


def _field_changes(
    old: tuple[ConfigField, ...],
    new: tuple[ConfigField, ...],
    where: str,
    removal_needs: bool,
    called: str = "Configuration field {label}",
) -> list[Change]:
    """The changes of a list of fields; ``called`` names one in words (``{label}``)."""
    changes = []
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}

    def name_of(field: ConfigField) -> str:
        return called.format(label=f"“{field.label}”")

    for name in before.keys() - after.keys():
        changes.append(
            Change(f"{where} {name!r} removed", removal_needs, f"{name_of(before[name])} removed")
        )
    defaults = context_for(new, {})  # an existing configuration takes the new defaults
    for name in after.keys() - before.keys():
        field = after[name]
        must_fill = field.required and field.default is None
        if must_fill and not field.when.holds(defaults.values):
            must_fill = False  # required only with values an existing configuration lacks
            note = f"required with {field.when.describe(defaults.labels)} only"
            words = note
        elif must_fill:
            note = words = "required, no default: must be filled in"
        elif field.required:
            note = f"required, default {field.default!r}: set to the default unless changed"
            words = f"required, default {_shown(field.default)}: set to the default unless changed"
        else:
            note = words = "optional"
        changes.append(
            Change(
                f"{where} {name!r} added ({note})", must_fill, f"{name_of(field)} added ({words})"
            )
        )
    for name in before.keys() & after.keys():
        for attribute in _COMPARED:
            was, now = getattr(before[name], attribute), getattr(after[name], attribute)
            if was != now:
                changes.append(
                    Change(
                        f"{where} {name!r} {attribute} changed: {was!r} -> {now!r}",
                        True,
                        f"{name_of(after[name])}: its {_ATTRIBUTE_WORDS[attribute]} changes "
                        f"from {_shown(was)} to {_shown(now)}",
                    )
                )
        if before[name].label != after[name].label:
            changes.append(
                Change(
                    f"{where} {name!r} label changed: "
                    f"{before[name].label!r} -> {after[name].label!r}",
                    False,
                    f"{name_of(before[name])} is renamed “{after[name].label}”",
                )
            )
    return sorted(changes, key=lambda c: c.what)


def compare(
    old: Manifest, new: Manifest, old_digest: str = "", new_digest: str = ""
) -> list[Change]:
    """Every change from ``old`` to ``new`` that an admin would be told about; with the
    manifests' :func:`content_digest` given, also a content changed under the same version
    (a platform that keys integrations by version would not see it as an upgrade)."""
    changes: list[Change] = []
    if old.name != new.name:
        changes.append(
            Change(
                f"operation renamed {old.name!r} -> {new.name!r}",
                True,
                f"The operation “{old.label}” is replaced by another, “{new.label}”",
            )
        )
    if old.version != new.version:
        changes.append(
            Change(
                f"version {old.version} -> {new.version}",
                False,
                f"Version {old.version} to {new.version}",
            )
        )
    elif old_digest and new_digest and old_digest != new_digest:
        said = (
            f"the manifest's content changed but its version is still {new.version}: "
            "the two cannot be told apart once installed; the new one needs a new version"
        )
        changes.append(Change(said, True, said[0].upper() + said[1:]))
    changes += _field_changes(old.config, new.config, "config field", True)
    old_actions = {a.name: a for a in old.actions}
    new_actions = {a.name: a for a in new.actions}
    for name in sorted(old_actions.keys() - new_actions.keys()):
        label = old_actions[name].label
        changes.append(Change(f"action {name!r} removed", True, f"Action “{label}” removed"))
    for name in sorted(new_actions.keys() - old_actions.keys()):
        label = new_actions[name].label
        changes.append(Change(f"action {name!r} added", False, f"Action “{label}” added"))
    for name in sorted(old_actions.keys() & new_actions.keys()):
        was, now = old_actions[name], new_actions[name]
        label = now.label
        called = f"Option {{label}} of “{label}”"
        changes += _field_changes(was.options, now.options, f"action {name!r} option", True, called)
        dropped = set(was.indicator_types) - set(now.indicator_types)
        added = set(now.indicator_types) - set(was.indicator_types)
        if dropped:
            kinds = ", ".join(sorted(t.value for t in dropped))
            changes.append(
                Change(
                    f"action {name!r} no longer takes {kinds}",
                    True,
                    f"Action “{label}” no longer takes {kinds}",
                )
            )
        if added:
            kinds = ", ".join(sorted(t.value for t in added))
            changes.append(
                Change(
                    f"action {name!r} now also takes {kinds}",
                    False,
                    f"Action “{label}” now also takes {kinds}",
                )
            )
    return changes
