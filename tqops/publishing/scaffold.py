"""``tqops new NAME``: the skeleton of a new operation, as its own installable distribution.

The files come from ``template/`` (package data): each ``*.tmpl`` is rendered with
:class:`string.Template` (``${name}``, ``${package}``, ...; ``$$`` is a dollar sign) and written
without its suffix, ``{name}`` in a path being the operation's name. Freshly written, the
skeleton passes ``tqops validate``, its own tests (the shared conformance suite and a run
against a loopback fake vendor) and ``tqops bundle``, with no edit.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Optional

from tqops import __version__
from tqops.errors import ConfigError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["NAME", "check_name", "scaffold", "target_dir"]

#: an operation's name: what the manifest schema and an integration file's name take
NAME = re.compile(r"[a-z][a-z0-9_]{1,40}")
SUFFIX = ".tmpl"


def check_name(name: str, installed: Collection[str] = ()) -> str:
    """``name`` if a new operation may take it; a one-line :class:`ConfigError` otherwise."""
    shown = repr(name[:60])
    if not NAME.fullmatch(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"operation name {shown} is not a lower-case Python identifier of 2 to 41 "
            "characters (letters, digits, _; starting with a letter), e.g. urlhaus"
        )
    if name in installed:
        raise ConfigError(f"an operation named {shown} is installed already; choose another name")
    return name


def target_dir(name: str, where: Optional[Path] = None) -> Path:
    """Where the skeleton goes: ``where`` (``./name`` without it), which must be missing or
    an empty folder."""
    target = where if where is not None else Path(name)
    if target.exists() and not (target.is_dir() and _empty(target)):
        raise ConfigError(f"{target} exists and is not an empty folder; choose another --dir")
    return target


def _empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def _templates(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found = []
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        relative = f"{prefix}{item.name}"
        if item.is_dir():
            found += _templates(item, f"{relative}/")
        elif item.name.endswith(SUFFIX):
            found.append((relative[: -len(SUFFIX)], item))
    return found


def _label(name: str) -> str:
    return " ".join(word.capitalize() for word in name.split("_") if word)


def scaffold(name: str, target: Path) -> list[Path]:
    """Write the skeleton of operation ``name`` into ``target``; the files written."""
    label = _label(name)
    values = {
        "name": name,
        "label": label,
        "package": f"{name}_operation",
        "client": f"{label.replace(' ', '')}Client",
        "dist": f"tq-op-{name.replace('_', '-')}",
        "host_name": name.replace("_", "-"),
        "tqops_version": __version__,
    }
    written = []
    for relative, template in _templates(resources.files("tqops.publishing") / "template"):
        path = target / relative.replace("{name}", name)
        text = Template(template.read_text(encoding="utf-8")).substitute(values)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
