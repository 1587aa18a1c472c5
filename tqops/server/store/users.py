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
            user_id = conn.insert(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role, password_hash, now()),
            )
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
        self,
        kind: str,
        token_hash: str,
        user_id: int,
        expires_at: float,
        csrf: str = "",
        generations: Optional[tuple[int, int]] = None,
    ) -> None:
        """A session or token of ``user_id``, bound to ``generations`` (password, key): those
        the user had when their credential was checked, so that a change in between leaves it
        dead. None binds it to the user's generations now (for a caller that checked nothing)."""
        given = (None, None) if generations is None else generations
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            conn.execute(
                "INSERT INTO sessions (token_hash, kind, user_id, csrf, expires_at, created_at, "
                "password_generation, key_generation) SELECT ?, ?, id, ?, ?, ?, "
                "COALESCE(?, password_generation), COALESCE(?, key_generation) "
                "FROM users WHERE id = ?",
                (token_hash, kind, csrf, expires_at, now(), *given, user_id),
            )

    def session(self, kind: str, token_hash: str) -> Optional[Row]:
        """The live session or token of that kind, with its enabled user (else None). It is
        live only under the generations it was minted under: a console session (minted from a
        password) the user's password generation, a token both of them."""
        return self.one(
            "SELECT s.token_hash, s.csrf, s.expires_at, u.id AS user_id, u.name, u.role, "
            "u.password_generation, u.key_generation "
            "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.kind = ? AND "
            "s.token_hash = ? AND s.expires_at >= ? AND u.disabled = 0 AND "
            "s.password_generation = u.password_generation AND "
            "(s.kind = 'console' OR s.key_generation = u.key_generation)",
            (kind, token_hash, time.time()),
        )

    def take_session(self, kind: str, token_hash: str) -> Optional[Row]:
        """As :meth:`session`, and the session ended in the same transaction: a token that is
        used once (a refresh token) is taken by one caller only, however many race for it."""
        with self.transaction() as conn:
            row = self.session(kind, token_hash)
            if row is None:
                return None
            gone = conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return row if gone.rowcount == 1 else None

    def change_credentials(
        self,
        user_id: int,
        *,
        password_hash: Optional[str] = None,
        key_hash: Optional[str] = None,
        disabled: bool = False,
    ) -> None:
        """In one transaction: a new password hash (the password generation bumped, every
        session and token of the user ended), a new API key replacing the old ones (the key
        generation bumped, the user's tokens ended; console sessions stay), or the user
        disabled (both bumped, everything ended). A token minted from a credential checked
        before, even one stored after this, is dead: its generation is the old one."""
        with self.transaction() as conn:
            if password_hash is not None:
                conn.execute(
                    "UPDATE users SET password_hash = ?, password_generation = "
                    "password_generation + 1 WHERE id = ?",
                    (password_hash, user_id),
                )
            if key_hash is not None:
                conn.execute("DELETE FROM api_keys WHERE user_id = ?", (user_id,))
                conn.execute(
                    "INSERT INTO api_keys (user_id, key_hash, created_at) VALUES (?, ?, ?)",
                    (user_id, key_hash, now()),
                )
            if disabled:
                conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (user_id,))
            if key_hash is not None or disabled:
                conn.execute(
                    "UPDATE users SET key_generation = key_generation + 1 WHERE id = ?",
                    (user_id,),
                )
            if disabled and password_hash is None:
                conn.execute(
                    "UPDATE users SET password_generation = password_generation + 1 WHERE id = ?",
                    (user_id,),
                )
            if password_hash is not None or disabled:
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            else:
                conn.execute(
                    "DELETE FROM sessions WHERE user_id = ? AND kind != 'console'", (user_id,)
                )

    def end_session(self, token_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def end_sessions_of(self, user_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
