"""The host's store: one SQLite file in WAL mode, migrated by ``PRAGMA user_version``.

This module and its job records (jobrecords.py) are the only ones that speak SQL. Each
thread has its own connection (WAL lets readers go on while a job writes); every write is one
short transaction, so a crash of the host, even ``kill -9``, loses at most the calls that were
in flight: every result is committed as it completes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from tqops.server.jobrecords import JobRecords, Row, now
from tqops.server.migrations import MIGRATIONS

__all__ = ["Store", "now"]


class Store(JobRecords):
    """The data directory's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._write = threading.Lock()
        self.migrate()

    # -- connections and migrations --------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses nothing
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (serialised: SQLite has one writer at a time anyway)."""
        conn = self._connection()
        with self._write:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def migrate(self) -> int:
        """Bring the schema to the newest version; return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connection()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path} was written by a newer tqops (schema {version}); upgrade tqops"
            )
        for number in range(version, len(MIGRATIONS)):
            with self._write:
                conn.executescript(
                    "BEGIN IMMEDIATE;"
                    + MIGRATIONS[number]
                    + f";PRAGMA user_version = {number + 1};COMMIT;"
                )
        return len(MIGRATIONS)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def one(self, sql: str, params: Sequence[Any] = ()) -> Optional[Row]:
        row = self._connection().execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._connection().execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._connection().execute(sql, params).fetchone()
        return row[0] if row is not None else None

    # -- users and keys --------------------------------------------------------------------

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

    # -- audit -----------------------------------------------------------------------------

    def audit(self, user: str, action: str, target: str, detail: str = "") -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, user, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (now(), user, action, target, detail),
            )

    def audit_log(self, offset: int = 0, limit: int = 100) -> list[Row]:
        return self.all(
            "SELECT at, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )

    # -- operations and integrations -------------------------------------------------------

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

    # -- indicators ------------------------------------------------------------------------

    def add_indicators(
        self, rows: Iterable[tuple[str, str, str, str, str]], user: str
    ) -> list[tuple[int, bool]]:
        """Add (type, value, tlp, note, source) rows; (id, created) each, in order. A value
        already stored keeps its id (and its TLP)."""
        out = []
        with self.transaction() as conn:
            for kind, value, tlp, note, source in rows:
                found = conn.execute(
                    "SELECT id FROM indicators WHERE type = ? AND value = ?", (kind, value)
                ).fetchone()
                if found is not None:
                    out.append((int(found[0]), False))
                    continue
                cursor = conn.execute(
                    "INSERT INTO indicators (type, value, tlp, note, source, created_at, "
                    "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, value, tlp, note or None, source, now(), user),
                )
                out.append((int(cursor.lastrowid or 0), True))
        return out

    def add_attributes(
        self, indicator_id: int, attributes: Iterable[tuple[str, str, Optional[str]]], source: str
    ) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO indicator_attributes (indicator_id, name, value, "
                "published_at, source) VALUES (?, ?, ?, ?, ?)",
                [(indicator_id, n, v, p, source) for n, v, p in attributes],
            )

    def indicator(self, indicator_id: int) -> Optional[Row]:
        return self.one("SELECT * FROM indicators WHERE id = ?", (indicator_id,))

    def indicator_attributes(self, indicator_id: int) -> list[Row]:
        return self.all(
            "SELECT name, value, published_at, source FROM indicator_attributes "
            "WHERE indicator_id = ? ORDER BY name, value",
            (indicator_id,),
        )

    def indicators(
        self, kind: Optional[str], text: Optional[str], offset: int, limit: int
    ) -> tuple[int, list[Row]]:
        where, params = ["1 = 1"], []
        if kind:
            where.append("type = ?")
            params.append(kind)
        if text:
            where.append("instr(lower(value), lower(?)) > 0")
            params.append(text)
        clause = " AND ".join(where)
        total = int(self.scalar(f"SELECT COUNT(*) FROM indicators WHERE {clause}", params))  # noqa: S608
        rows = self.all(
            f"SELECT * FROM indicators WHERE {clause} ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )
        return total, rows

    def delete_indicator(self, indicator_id: int) -> bool:
        with self.transaction() as conn:
            return conn.execute("DELETE FROM indicators WHERE id = ?", (indicator_id,)).rowcount > 0

    # -- protocol views (ThreatQ, Cortex, MISP: tqops/server/api/) ----------------------------

    def job_inputs(self, job_id: int, limit: int = 100) -> list[Row]:
        """A job's first inputs, as they were queued (what Cortex shows as a job's data)."""
        return self.all(
            "SELECT seq, type, value, tlp, indicator_id FROM job_inputs WHERE job_id = ? "
            "ORDER BY seq LIMIT ?",
            (job_id, limit),
        )
