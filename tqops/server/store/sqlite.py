"""The store on SQLite (the default): one file in the data directory, in WAL mode, its write
transactions ``BEGIN IMMEDIATE`` and its schema version SQLite's ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from tqops.server.store.dialect import statements

__all__ = ["SQLiteEngine"]

#: the WAL file is cut back to this after a checkpoint (it otherwise keeps its largest size)
WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: SQLite's primary result codes for "another connection holds the lock"
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc)
    if "in progress" in text:  # SQLITE_BUSY too, but a statement of this connection: a bug
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    return "database is locked" in text or "database table is locked" in text


class SQLiteEngine:
    """A SQLite file's connections and the few statements that differ from PostgreSQL's."""

    name = "sqlite"
    #: an error of these leaves a connection in a state SQLite does not say: it is closed
    discard_on: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = Path(path)
        self.timeout = timeout
        #: what messages call the database (never the host's paths: a remote caller reads it)
        self.label = self.path.name

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread off: a connection moves between threads with the pool, but only
        # one call uses it at a time
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",  # WAL + NORMAL: a process crash loses nothing
                "PRAGMA foreign_keys=ON",
                f"PRAGMA busy_timeout={int(self.timeout * 1000)}",
                f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}",
            ):
                conn.execute(pragma).close()  # journal_mode answers a row: never leave it open
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def in_transaction(conn: sqlite3.Connection) -> bool:
        try:
            return conn.in_transaction
        except sqlite3.Error:  # closed
            return False

    @staticmethod
    def alive(conn: sqlite3.Connection) -> bool:
        """A file's connection does not end by itself."""
        return True

    @staticmethod
    def reusable(conn: sqlite3.Connection) -> bool:
        try:
            return not conn.in_transaction
        except sqlite3.Error:
            return False

    @staticmethod
    def close(conn: sqlite3.Connection) -> None:
        conn.close()

    @staticmethod
    def busy(exc: BaseException) -> bool:
        """Another process held the lock past the timeout."""
        return _is_busy(exc)

    @staticmethod
    def unreachable(exc: BaseException) -> Optional[str]:
        """A file is always there (an error opening it is the error itself)."""
        return None

    # -- statements ------------------------------------------------------------------------

    @staticmethod
    def fetch(
        conn: sqlite3.Connection, sql: str, params: Sequence[Any], limit: Optional[int]
    ) -> list[dict[str, Any]]:
        """A query's rows (the first ``limit``), its cursor closed: nothing left in progress."""
        cursor = conn.execute(sql, params)
        try:
            rows = cursor.fetchmany(limit) if limit is not None else cursor.fetchall()
        finally:
            cursor.close()
        return [dict(row) for row in rows]

    @staticmethod
    def execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        return conn.execute(sql, params)

    @staticmethod
    def executemany(
        conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]
    ) -> sqlite3.Cursor:
        return conn.executemany(sql, rows)

    @staticmethod
    def insert(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[Any, int]:
        """(cursor, the new row's id)."""
        cursor = conn.execute(sql, params)
        return cursor, int(cursor.lastrowid or 0)

    @staticmethod
    def begin(conn: sqlite3.Connection) -> None:
        # IMMEDIATE: the write lock now, not at the first write (no upgrade deadlock)
        conn.execute("BEGIN IMMEDIATE")

    @staticmethod
    def commit(conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    @staticmethod
    def rollback(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")

    # -- the schema version ----------------------------------------------------------------

    @staticmethod
    def version_now(db: Any) -> Optional[int]:
        """The schema's version, read outside a transaction."""
        return int(db.scalar("PRAGMA user_version"))

    @staticmethod
    def version(work: Any) -> int:
        """The schema's version, read inside the migration's write transaction."""
        return int(work.execute("PRAGMA user_version").fetchone()[0])

    @staticmethod
    def prepare(work: Any) -> None:
        """Nothing to make before the migrations."""

    @staticmethod
    def statements(script: str) -> list[str]:
        return statements(script)

    @staticmethod
    def set_version(work: Any, version: int) -> None:
        work.execute(f"PRAGMA user_version = {int(version)}")
