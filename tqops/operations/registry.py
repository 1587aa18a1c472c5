"""Finding installed operations through the ``tqops.operations`` entry points.

A :class:`Registry` loads the plugins once and keeps them; a plugin that fails to load is
kept aside under its name with a one-line reason, and never hides the others.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from tqops.errors import ConfigError, ManifestError, OperationError
from tqops.operations.operation import Operation

__all__ = ["ENTRY_POINT_GROUP", "Registry", "discover_operations", "load_operation"]

ENTRY_POINT_GROUP = "tqops.operations"


def _entry_points() -> list[Any]:
    from importlib import metadata

    if sys.version_info >= (3, 10):
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    return list(metadata.entry_points().get(ENTRY_POINT_GROUP, ()))  # pragma: no cover


def _load(entry: Any) -> Operation:
    """One plugin's operation; a :class:`ManifestError` that names it when it is broken."""
    try:
        operation = entry.load()
    except OperationError as exc:
        raise ManifestError(f"operation plugin {entry.name!r} failed to load: {exc}") from None
    except Exception as exc:
        raise ManifestError(
            f"operation plugin {entry.name!r} ({entry.value}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(operation, Operation):
        raise ManifestError(
            f"operation plugin {entry.name!r} ({entry.value}) is a "
            f"{type(operation).__name__}, not an Operation"
        )
    if operation.name != entry.name:
        raise ManifestError(
            f"operation plugin {entry.name!r} carries a manifest named {operation.name!r}"
        )
    return operation


class Registry:
    """The installed operations, discovered once (:meth:`refresh` looks again)."""

    def __init__(self, entry_points: Optional[Iterable[Any]] = None) -> None:
        self._given = None if entry_points is None else list(entry_points)
        self._lock = threading.Lock()
        self._operations: Optional[dict[str, Operation]] = None
        self._broken: dict[str, str] = {}
        #: operations added at run time (a host's uploaded integrations): they win over
        #: installed ones of the same name
        self._added: dict[str, Operation] = {}

    def _discover(self) -> dict[str, Operation]:
        with self._lock:
            if self._operations is None:
                found: dict[str, Operation] = {}
                broken: dict[str, str] = {}
                entries = self._given if self._given is not None else _entry_points()
                for entry in sorted(entries, key=lambda e: e.name):
                    if entry.name in found or entry.name in broken:
                        continue
                    try:
                        found[entry.name] = _load(entry)
                    except ManifestError as exc:
                        broken[entry.name] = " ".join(str(exc).split())
                self._operations, self._broken = found, broken
            return self._operations

    def refresh(self) -> None:
        with self._lock:
            self._operations = None

    def add(self, operation: Operation) -> None:
        """Make ``operation`` available under its name (over an installed one)."""
        with self._lock:
            self._added[operation.name] = operation

    def remove(self, name: str) -> Optional[Operation]:
        """Forget an added operation (an installed one of that name shows again)."""
        with self._lock:
            return self._added.pop(name, None)

    @property
    def operations(self) -> Mapping[str, Operation]:
        """The operations that loaded, by name."""
        found = {**self._discover(), **self._added}
        return {name: found[name] for name in sorted(found)}

    @property
    def broken(self) -> Mapping[str, str]:
        """The plugins that failed to load: name -> why, in one line."""
        self._discover()
        return {k: v for k, v in self._broken.items() if k not in self._added}

    def get(self, name: str) -> Operation:
        """The operation ``name``; an error that says why it is not there."""
        operations = {**self._discover(), **self._added}
        if name in operations:
            return operations[name]
        if name in self._broken:
            raise ManifestError(self._broken[name])
        known = ", ".join(operations) or "none"
        raise ConfigError(f"no operation named {name[:40]!r} is installed; installed: {known}")


def discover_operations() -> dict[str, Operation]:
    """Every installed operation that loads, by name (a fresh look each call)."""
    return dict(Registry().operations)


def load_operation(name: str) -> Operation:
    """The installed operation ``name``; a :class:`ConfigError` lists the installed ones."""
    return Registry().get(name)
