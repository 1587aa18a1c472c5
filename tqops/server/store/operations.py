"""The store's records of operations: the host's settings of each (its configuration,
secrets sealed; enabled; the TLP gate; the cache TTL) and the uploaded integrations, each with
its file, which every host and worker of the store installs from here."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from tqops.errors import ConfigError
from tqops.server.store.database import Database, Row, now

__all__ = ["MAX_WHEEL", "OperationRecords"]

#: the largest integration file the store keeps: what an upload may weigh (the checks'
#: ``Limits.upload``, which a test holds it to)
MAX_WHEEL = 20_000_000

#: the settings an upload's removal gives back (what its first install kept)
_SETTINGS_COLUMNS = (
    "operation",
    "config",
    "enabled",
    "max_tlp",
    "cache_ttl",
    "misp_allowed",
    "updated_at",
)


class OperationRecords(Database):
    """The ``operation_settings`` and ``integrations`` tables."""

    def settings(self, operation: str) -> Row:
        found = self.one("SELECT * FROM operation_settings WHERE operation = ?", (operation,))
        if found is None:
            return {
                "operation": operation,
                "config": "{}",
                "enabled": 1,
                "max_tlp": "AMBER",
                "cache_ttl": 3600,
                "misp_allowed": 0,
                "daily_quota": 0,
                "updated_at": None,
            }
        return found

    def save_settings(self, operation: str, **values: Any) -> None:
        allowed = ("config", "enabled", "max_tlp", "cache_ttl", "misp_allowed", "daily_quota")
        current = {**self.settings(operation), **{k: v for k, v in values.items() if k in allowed}}
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO operation_settings (operation, config, enabled, max_tlp, cache_ttl,"
                " misp_allowed, daily_quota, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON "
                "CONFLICT (operation) DO UPDATE SET config = excluded.config, enabled = "
                "excluded.enabled, max_tlp = excluded.max_tlp, cache_ttl = excluded.cache_ttl, "
                "misp_allowed = excluded.misp_allowed, daily_quota = excluded.daily_quota, "
                "updated_at = excluded.updated_at",
                (
                    operation,
                    current["config"],
                    int(current["enabled"]),
                    current["max_tlp"],
                    int(current["cache_ttl"]),
                    int(current["misp_allowed"]),
                    int(current.get("daily_quota") or 0),
                    now(),
                ),
            )

    def take_quota(self, operation: str, wanted: int, quota: int) -> int:
        """Take up to ``wanted`` look-ups of today's (UTC) ``quota`` for ``operation``, for
        every worker of the store together; how many were granted."""
        day = now()[:10]
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT used FROM quota_usage WHERE operation = ? AND day = ?", (operation, day)
            ).fetchone()
            used = int(row[0]) if row else 0
            granted = max(0, min(wanted, quota - used))
            if granted:
                conn.execute(
                    "INSERT INTO quota_usage (operation, day, used) VALUES (?, ?, ?) ON CONFLICT "
                    "(operation, day) DO UPDATE SET used = excluded.used",
                    (operation, day, used + granted),
                )
        return granted

    def quota_used(self, operation: str) -> int:
        """The look-ups ``operation`` used today (UTC)."""
        found = self.scalar(
            "SELECT used FROM quota_usage WHERE operation = ? AND day = ?", (operation, now()[:10])
        )
        return int(found or 0)

    def integrations(self) -> list[Row]:
        """The uploaded integrations by name, without their files: ``wheel_size`` is the size
        of the one the store keeps (None for a row from before it kept them)."""
        return self.all(
            "SELECT name, version, path, sha256, installed_at, installed_by, replaced_settings, "
            "length(wheel) AS wheel_size FROM integrations ORDER BY name"
        )

    def integration_wheel(self, name: str, sha256: str) -> Optional[bytes]:
        """The file the store keeps of integration ``name`` when its row still names
        ``sha256`` (else None: it was upgraded or removed meanwhile, or is from before)."""
        found = self.scalar(
            "SELECT wheel FROM integrations WHERE name = ? AND sha256 = ?", (name, sha256)
        )
        return None if found is None else bytes(found)

    def save_integration(
        self, name: str, version: str, path: str, sha256: str, user: str, wheel: bytes
    ) -> None:
        """Record an uploaded integration with its file (``wheel``, whose SHA-256 is
        ``sha256``), which replaces the previous version's; its first install keeps the
        settings of the operation it replaces (a built-in one), which
        :meth:`remove_integration` gives back."""
        _check_wheel_bytes(name, sha256, wheel)
        with self.transaction() as conn:
            first = conn.execute("SELECT 1 FROM integrations WHERE name = ?", (name,)).fetchone()
            replaced = None
            if first is None:
                row = conn.execute(
                    "SELECT config, enabled, max_tlp, cache_ttl, misp_allowed, updated_at "
                    "FROM operation_settings WHERE operation = ?",
                    (name,),
                ).fetchone()  # a tuple on either engine, in _SETTINGS_COLUMNS' order
                if row is not None:
                    replaced = json.dumps(dict(zip(_SETTINGS_COLUMNS[1:], row)))
            conn.execute(
                "INSERT INTO integrations (name, version, path, sha256, installed_at, "
                "installed_by, replaced_settings, wheel) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET "
                "version = excluded.version, path = excluded.path, sha256 = excluded.sha256, "
                "installed_at = excluded.installed_at, installed_by = excluded.installed_by, "
                "wheel = excluded.wheel",
                (name, version, path, sha256, now(), user, replaced, wheel),
            )

    def keep_integration_wheel(self, name: str, sha256: str, wheel: bytes) -> bool:
        """Give the store the file of a row from before it kept them (from a node that has
        it); whether the row took it (False: it has one, or names another version now)."""
        _check_wheel_bytes(name, sha256, wheel)
        with self.transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE integrations SET wheel = ? WHERE name = ? AND sha256 = ? "
                    "AND wheel IS NULL",
                    (wheel, name, sha256),
                ).rowcount
            )

    def remove_integration(self, name: str) -> None:
        """Forget an uploaded integration and its settings; the settings of the operation it
        replaced, kept at its first install, are put back."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT replaced_settings FROM integrations WHERE name = ?", (name,)
            ).fetchone()
            conn.execute("DELETE FROM integrations WHERE name = ?", (name,))
            conn.execute("DELETE FROM operation_settings WHERE operation = ?", (name,))
            if row is not None and row[0]:
                kept = json.loads(row[0])
                conn.execute(
                    "INSERT INTO operation_settings (operation, config, enabled, max_tlp, "
                    "cache_ttl, misp_allowed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, *(kept[column] for column in _SETTINGS_COLUMNS[1:])),
                )


def _check_wheel_bytes(name: str, sha256: str, wheel: bytes) -> None:
    """The store keeps an integration's file only within the upload limit, and only the file
    its row names."""
    if len(wheel) > MAX_WHEEL:
        raise ConfigError(
            f"{name}'s integration file is {len(wheel) / 1e6:.1f} MB; the store keeps them up "
            f"to {MAX_WHEEL / 1e6:g} MB, the upload limit: rebuild it smaller"
        )
    if hashlib.sha256(wheel).hexdigest() != sha256:
        raise ConfigError(f"{name}'s integration file is not the one its SHA-256 names")
