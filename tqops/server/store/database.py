"""The store's database: one SQLite file in WAL mode, a connection per thread, serialised
write transactions, and the schema migrated by ``PRAGMA user_version`` (:mod:`.migrations`).

Each thread has its own connection (WAL lets readers go on while a job writes); every write
is one short transaction, so a crash of the host, even ``kill -9``, loses at most the calls
that were in flight: every result is committed as it completes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from tqops.server.store.migrations import MIGRATIONS

__all__ = ["Database", "Row", "now"]

Row = dict[str, Any]


def now() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Database:
    """The data directory's SQLite database; the store's tables are kept by its subclasses."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._write = threading.Lock()
        self.migrate()

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
