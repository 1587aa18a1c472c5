"""The store's users, their API keys, and their sessions and tokens (console logins,
OAuth access and refresh tokens)."""

from __future__ import annotations

import time
from typing import Any, Optional

from tqops.server.store.database import Database, Row, now

__all__ = ["UserRecords"]


class UserRecords(Database):
    """The ``users``, ``api_keys`` and ``sessions`` tables."""

    def add_user(self, name: str, role: str, password_hash: str, key_hash: str) -> int:
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role, password_hash, now()),
            )
            user_id = int(cursor.lastrowid or 0)
            conn.execute(
                "INSERT INTO api_keys (user_id, key_hash, created_at) VALUES (?, ?, ?)",
                (user_id, key_hash, now()),
            )
        return user_id

    def user(self, name: str) -> Optional[Row]:
        return self.one("SELECT * FROM users WHERE name = ?", (name,))

    def users(self) -> list[Row]:
        return self.all(
            "SELECT u.id, u.name, u.role, u.disabled, u.created_at, COUNT(k.id) AS keys "
            "FROM users u LEFT JOIN api_keys k ON k.user_id = u.id GROUP BY u.id ORDER BY u.name"
        )

    def user_by_key(self, key_hash: str) -> Optional[Row]:
        return self.one(
            "SELECT u.* FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE k.key_hash = ? AND u.disabled = 0",
            (key_hash,),
        )

    def replace_key(self, user_id: int, key_hash: str) -> None:
        """A user's keys are replaced by this one (the old ones stop working at once)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))
            conn.execute(
                "INSERT INTO api_keys (user_id, key_hash, created_at) VALUES (?, ?, ?)",
                (user_id, key_hash, now()),
            )

    def update_user(self, user_id: int, **values: Any) -> None:
        allowed = {"role", "disabled", "password_hash"}
        sets = [(k, v) for k, v in values.items() if k in allowed]
        if not sets:
            return
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE users SET {', '.join(f'{k} = ?' for k, _ in sets)} WHERE id = ?",  # noqa: S608 - names from the allow list
                (*[v for _, v in sets], user_id),
            )

    def remove_user(self, user_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # -- sessions and tokens (console logins, OAuth access and refresh tokens) ----------------

    def add_session(
        self, kind: str, token_hash: str, user_id: int, expires_at: float, csrf: str = ""
    ) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            conn.execute(
                "INSERT INTO sessions (token_hash, kind, user_id, csrf, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, kind, user_id, csrf, expires_at, now()),
            )

    def session(self, kind: str, token_hash: str) -> Optional[Row]:
        """The live session or token of that kind, with its enabled user (else None)."""
        return self.one(
            "SELECT s.token_hash, s.csrf, s.expires_at, u.id AS user_id, u.name, u.role "
            "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.kind = ? AND "
            "s.token_hash = ? AND s.expires_at >= ? AND u.disabled = 0",
            (kind, token_hash, time.time()),
        )

    def end_session(self, token_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions_of(self, user_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
