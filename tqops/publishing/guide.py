"""The operation guide, rendered in Markdown from the manifest alone.

Layout (the operation guides' own): Integration Details, Introduction (actions and indicator
types), Prerequisites, Installation, Configuration, Actions, one section per action with its
options, mapping table and type table, what is ASSUMED, and the Change Log. Examples in the
mapping table are read from sample responses (``samples``: parsed JSON documents).

:func:`guide_for` reads an operation's samples and change log from its package alone (package
data: ``samples/*.json``, ``CHANGELOG.md``), never from a checkout, so a guide rendered from an
installed wheel equals the one rendered in the repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from tqops.manifest.document import Manifest
from tqops.publishing.guide_tables import action_section, applies_with, md_table

if TYPE_CHECKING:
    from importlib.abc import Traversable

    from tqops.operations.operation import Operation

__all__ = [
    "changelog_entries",
    "guide_for",
    "package_changelog",
    "render_guide",
    "sample_documents",
]


def render_guide(
    manifest: Manifest,
    samples: Sequence[Any] = (),
    changelog: Optional[Mapping[str, Sequence[str]]] = None,
    variant_samples: Optional[Mapping[str, Sequence[Any]]] = None,
) -> str:
    """The operation guide in Markdown; deterministic for the same inputs. ``samples`` are
    responses of the default API version, ``variant_samples`` those of the others."""
    label = manifest.label
    out = [f"# {label} Operation Guide", ""]
    details = [
        ["Current integration version", manifest.version],
        ["Operation name", f"`{manifest.name}`"],
        ["Vendor", manifest.vendor],
    ]
    if manifest.compatibility:
        details.append(["Compatible with", manifest.compatibility])
    details.append(
        ["Integration file", f"`tq_op_{manifest.name}-{manifest.version}-py3-none-any.whl`"]
    )
    out += ["## Integration Details", "", md_table(["", ""], details), ""]
    out += [
        "## Introduction",
        "",
        manifest.description,
        "",
        "The operation provides the following action(s):",
        "",
    ]
    out += [f"- **{a.label}** - {a.description}" for a in manifest.actions]
    types = sorted({t.value for a in manifest.actions for t in a.indicator_types}, key=str.lower)
    out += ["", "The integration is compatible with the following indicator types:", ""]
    out += [f"- {t}" for t in types] + [""]
    skips = [a.label for a in manifest.actions if a.private_addresses == "skip" and any(
        t.value in ("IP Address", "IPv6 Address", "CIDR Block") for t in a.indicator_types
    )]  # fmt: skip
    if skips:
        out += [
            f"{' and '.join(skips)} never sends an address that belongs inside a network "
            "(private, shared, loopback, link-local, multicast or reserved): such an input is "
            "`skipped` with its reason. Documentation ranges (such as `203.0.113.0/24`) are "
            "sent.",
            "",
        ]
    if manifest.prerequisites:
        out += ["## Prerequisites", "", manifest.prerequisites, ""]
    out += [
        "## Installation",
        "",
        f"1. Build the integration file: `tqops bundle {manifest.name} --out dist/`.",
        "2. Navigate to the integrations management page of your platform.",
        "3. Click **Add New Integration** and upload the integration file.",
        "4. Configure and then enable the operation.",
        "",
        "The same steps upgrade the operation; `tqops upgrade-check OLD.whl NEW.whl` lists the "
        "configuration changes an admin must confirm.",
        "",
    ]
    rows = []
    for field in manifest.config:
        description = field.description + applies_with(field, manifest)
        if any(field.choice_labels):
            shown = "; ".join(field.choice_label(choice) for choice in field.choices)
            description += f" Choices: {shown}."
        if field.secret:
            description += " (Password field: stored and shown as a secret.)"
        if field.advanced:
            description += " (Advanced.)"
        default = (
            ""
            if field.default is None
            else str(field.default).lower()
            if isinstance(field.default, bool)
            else str(field.default)
        )
        if field.default_when is not None:
            default = field.default_when.describe(field.default)
        rows.append(
            [
                f"{field.label} (`{field.name}`)",
                description,
                default,
                "Yes" if field.required else "No",
            ]
        )
    out += [
        "## Configuration",
        "",
        "Enter the following parameters on the Configuration tab:",
        "",
        md_table(["PARAMETER", "DESCRIPTION", "DEFAULT", "REQUIRED"], rows),
        "",
    ]
    out += [
        "## Actions",
        "",
        md_table(
            ["ACTION", "DESCRIPTION", "OBJECT TYPE", "INDICATOR TYPES"],
            [
                [
                    a.label,
                    a.description,
                    a.object_type,
                    ", ".join(t.value for t in a.indicator_types),
                ]
                for a in manifest.actions
            ],
        ),
        "",
    ]
    for action in manifest.actions:
        out += action_section(action, manifest, samples, variant_samples or {})
    if manifest.assumed:
        out += [
            "## ASSUMED",
            "",
            "No public documentation states these; each is one manifest "
            "entry or one constant away from a change:",
            "",
        ]
        out += [f"- ASSUMED: {text}" for text in manifest.assumed] + [""]
    out += ["## Change Log", ""]
    entries = changelog or {}
    if not entries:
        out += [f"- Version {manifest.version}", "  - Initial release", ""]
    for version, lines in entries.items():
        out += [f"- Version {version}"] + [f"  - {line}" for line in lines]
    return "\n".join(out).rstrip() + "\n"


_HEADING = re.compile(r"^## \[?([^\]\s]+)\]?")


def changelog_entries(text: str, component: Optional[str] = None) -> dict[str, list[str]]:
    """A change log's entries by version heading: every entry of an operation's own
    ``CHANGELOG.md``, or with ``component`` only those prefixed ``component:``."""
    prefix = f"- {component}:" if component else "- "
    entries: dict[str, list[str]] = {}
    version: Optional[str] = None
    current: Optional[list[str]] = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            version = heading.group(1)
            current = None
            continue
        if version is None:
            continue
        stripped = line.strip()
        if stripped.startswith(prefix):
            current = entries.setdefault(version, [])
            current.append(stripped[len(prefix) :].strip())
        elif current is not None and stripped and line.startswith("  ") and entries.get(version):
            entries[version][-1] += " " + stripped
        else:
            current = None
    return entries


def _package_files(package: Union[str, Path, None]) -> Union[Traversable, Path, None]:
    """The package's own files (package data), wherever it is installed; a folder is read as
    it is (an operation :meth:`~tqops.operations.Operation.described` by its files)."""
    if isinstance(package, Path):
        return package
    if not package:
        return None
    try:
        return resources.files(package)
    except (ModuleNotFoundError, TypeError):
        return None


def sample_documents(package: Union[str, Path, None], variant: Optional[str] = None) -> list[Any]:
    """Sample responses for the guide's examples: the package's ``samples/*.json``, by name;
    those of an API version other than the default in ``samples/<variant>/*.json``."""
    files = _package_files(package)
    folder = files.joinpath("samples") if files is not None else None
    if folder is not None and variant is not None:
        folder = folder.joinpath(variant)
    if folder is None or not folder.is_dir():
        return []
    found = sorted(
        (f for f in folder.iterdir() if f.name.endswith(".json") and f.is_file()),
        key=lambda f: f.name,
    )
    return [json.loads(f.read_text(encoding="utf-8")) for f in found]


def package_changelog(operation: Operation) -> str:
    """The operation package's own ``CHANGELOG.md`` (package data), or "" when it has none."""
    files = _package_files(operation.directory or operation.package)
    changelog = files.joinpath("CHANGELOG.md") if files is not None else None
    if changelog is None or not changelog.is_file():
        return ""
    return changelog.read_text(encoding="utf-8")


def guide_for(operation: Operation) -> str:
    """The operation's guide, rendered from its manifest and its package's own samples and change
    log: the same from a checkout as from an installed wheel."""
    entries = changelog_entries(package_changelog(operation))
    package = operation.directory or operation.package
    others = {
        str(variant.key): sample_documents(package, str(variant.key))
        for action in operation.manifest.actions
        for variant in action.variants
    }
    return render_guide(operation.manifest, sample_documents(package), entries, others)
