"""The store's records of operations: the host's settings of each (its configuration,
secrets sealed; enabled; the TLP gate; the cache TTL) and the uploaded integrations."""

from __future__ import annotations

from typing import Any

from tqops.server.store.database import Database, Row, now

__all__ = ["OperationRecords"]


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
                "updated_at": None,
            }
        return found

    def save_settings(self, operation: str, **values: Any) -> None:
        allowed = ("config", "enabled", "max_tlp", "cache_ttl", "misp_allowed")
        current = {**self.settings(operation), **{k: v for k, v in values.items() if k in allowed}}
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO operation_settings (operation, config, enabled, max_tlp, cache_ttl,"
                " misp_allowed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (operation)"
                " DO UPDATE SET config = excluded.config, enabled = excluded.enabled, "
                "max_tlp = excluded.max_tlp, cache_ttl = excluded.cache_ttl, "
                "misp_allowed = excluded.misp_allowed, updated_at = excluded.updated_at",
                (
                    operation,
                    current["config"],
                    int(current["enabled"]),
                    current["max_tlp"],
                    int(current["cache_ttl"]),
                    int(current["misp_allowed"]),
                    now(),
                ),
            )

    def integrations(self) -> list[Row]:
        return self.all("SELECT * FROM integrations ORDER BY name")

    def save_integration(self, name: str, version: str, path: str, sha256: str, user: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO integrations (name, version, path, sha256, installed_at, "
                "installed_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "version = excluded.version, path = excluded.path, sha256 = excluded.sha256, "
                "installed_at = excluded.installed_at, installed_by = excluded.installed_by",
                (name, version, path, sha256, now(), user),
            )

    def remove_integration(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM integrations WHERE name = ?", (name,))
            conn.execute("DELETE FROM operation_settings WHERE operation = ?", (name,))
