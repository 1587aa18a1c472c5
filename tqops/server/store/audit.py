"""The store's audit log: who did what to what, newest first."""

from __future__ import annotations

from tqops.server.store.database import Database, Row, now

__all__ = ["AuditLog"]


class AuditLog(Database):
    """The ``audit`` table."""

    def audit(self, user: str, action: str, target: str, detail: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(
                'INSERT INTO audit (at, "user", action, target, detail) VALUES (?, ?, ?, ?, ?)',
                (now(), user, action, target, detail),
            )

    def audit_log(self, offset: int = 0, limit: int = 100) -> list[Row]:
        return self.all(
            'SELECT at, "user", action, target, detail FROM audit ORDER BY id DESC '
            "LIMIT ? OFFSET ?",
            (limit, offset),
        )
