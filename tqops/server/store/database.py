"""The store's database: one SQLite file in WAL mode, a small pool of connections, serialised
write transactions, and the schema migrated by ``PRAGMA user_version`` (:mod:`.migrations`).

A call takes a connection from the pool for just as long as it runs and gives it back with
every cursor it opened closed: no statement is left in progress on a connection (a write
statement in progress makes SQLite refuse the next ``COMMIT``), and no connection belongs to
a thread (a thread's connection outlived it until the garbage collector found it, and with
it whatever lock it held). A transaction that cannot commit is rolled back before its error
is raised, so a failure never leaves the database locked. WAL lets readers go on while a job
writes; every write is one short transaction, so a crash of the host, even ``kill -9``,
loses at most the calls that were in flight: every result is committed as it completes.

A call waits for the database at most ``TQOPS_STORE_TIMEOUT`` seconds (default 30): for
another process's write (``tqops users add`` beside a busy host, or the host beside it) or
for a free connection. Past that it raises :class:`StoreBusy`, a one-line error naming the
setting, never SQLite's own exception.

Everything SQL-specific stays behind :class:`Database`'s few entry points (``one``, ``all``,
``scalar``, ``transaction``), so another engine can stand behind the same table modules.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from tqops.errors import ConfigError, OperationError
from tqops.server.store.migrations import MIGRATIONS

__all__ = [
    "DEFAULT_TIMEOUT",
    "POOL_SIZE",
    "TIMEOUT_VARIABLE",
    "Database",
    "Row",
    "StoreBusy",
    "Transaction",
    "now",
    "store_timeout",
]

Row = dict[str, Any]

#: the environment variable that bounds how long a store call waits for the database
TIMEOUT_VARIABLE = "TQOPS_STORE_TIMEOUT"
#: seconds a call waits for another process's write or a free connection (a write of the
#: host takes milliseconds: this is long enough for any busy moment, short enough to answer)
DEFAULT_TIMEOUT = 30.0
#: connections a store keeps at most (jobs and requests share them; each call is short)
POOL_SIZE = 8
#: the WAL file is cut back to this after a checkpoint (it otherwise keeps its largest size)
WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: SQLite's primary result codes for "another connection holds the lock"
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def now() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_timeout(environ: Optional[dict[str, str]] = None) -> float:
    """``TQOPS_STORE_TIMEOUT`` in seconds (default 30); a value that is not a positive number
    is a one-line error naming the variable."""
    text = (os.environ if environ is None else environ).get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86_400:
        raise ConfigError(
            f"{TIMEOUT_VARIABLE} is seconds from 0 to 86400 (for example 30), not {text[:20]!r}"
        )
    return seconds


class StoreBusy(OperationError, TimeoutError):
    """The database stayed locked (another process writing) or every connection stayed in
    use for longer than the store waits."""


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc)
    if "in progress" in text:  # SQLITE_BUSY too, but a statement of this connection: a bug
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    return "database is locked" in text or "database table is locked" in text


def _statements(script: str) -> list[str]:
    """A migration's statements, one each (split where SQLite says a statement is complete)."""
    found, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                found.append(pending.strip())
            pending = ""
    if pending.strip(" \t\r\n;"):
        found.append(pending.strip())
    return found


def _fetch(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], limit: Optional[int]
) -> list[sqlite3.Row]:
    """A query's rows (the first ``limit``), its cursor closed: nothing left in progress."""
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchmany(limit) if limit is not None else cursor.fetchall()
    finally:
        cursor.close()


class Transaction:
    """The connection of one write transaction, as its body uses it (``execute`` and
    ``executemany``); every cursor it hands out is closed before the transaction ends."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        cursor = self._conn.execute(sql, params)
        self._cursors.add(cursor)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        cursor = self._conn.executemany(sql, rows)
        self._cursors.add(cursor)
        return cursor

    def close_cursors(self) -> None:
        """Close what the body left open: an unfinished write statement refuses the COMMIT."""
        for cursor in list(self._cursors):
            cursor.close()
        self._cursors.clear()


class Database:
    """The data directory's SQLite database; the store's tables are kept by its subclasses.

    ``timeout`` (seconds) bounds every wait for the database; None reads
    ``TQOPS_STORE_TIMEOUT``."""

    def __init__(
        self, path: Path, *, timeout: Optional[float] = None, pool_size: int = POOL_SIZE
    ) -> None:
        self.path = Path(path)
        self.timeout = store_timeout() if timeout is None else float(timeout)
        self._size = max(1, pool_size)
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._pool = threading.Condition()
        #: the connection this thread is using, so a read inside its transaction sees it
        self._held = threading.local()
        self._write = threading.Lock()
        self.migrate()

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
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

    def _take(self) -> sqlite3.Connection:
        deadline = time.monotonic() + self.timeout
        with self._pool:
            while not self._idle and self._open >= self._size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._busy("had no free connection")
                self._pool.wait(left)
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._busy_guard(self._connect)
        except BaseException:
            with self._pool:
                self._open -= 1
                self._pool.notify()
            raise

    def _give(self, conn: sqlite3.Connection, broken: bool) -> None:
        if not broken:
            try:
                broken = conn.in_transaction
            except sqlite3.Error:
                broken = True
        if broken:  # closing it rolls back whatever it held and releases its locks
            with suppress(sqlite3.Error):
                conn.close()
        with self._pool:
            if broken:
                self._open -= 1
            else:
                self._idle.append(conn)
            self._pool.notify()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one call: this thread's own while it is inside a transaction."""
        held: Optional[sqlite3.Connection] = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._take()
        self._held.conn = conn
        broken = False
        try:
            yield conn
        except sqlite3.Error:
            broken = True  # whatever state SQLite left it in, it is not used again
            raise
        finally:
            self._held.conn = None
            self._give(conn, broken)

    def _busy_guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy("stayed locked by another process") from None
            raise

    def _busy(self, what: str) -> StoreBusy:
        return StoreBusy(
            f"the store ({self.path.name}) {what} for {self.timeout:g} s; try again, or raise "
            f"{TIMEOUT_VARIABLE} (seconds) if it is this busy"
        )

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction (serialised: SQLite has one writer at a time anyway). It
        commits when its body ends; an error in the body, or a commit SQLite refuses, rolls
        it back and is raised (a lock held too long by another process as
        :class:`StoreBusy`)."""
        if getattr(self._held, "transaction", False):
            raise RuntimeError("a store transaction inside another one on the same thread")
        if not self._write.acquire(timeout=self.timeout):
            raise self._busy("was busy writing")
        try:
            with self._connection() as conn:
                self._busy_guard(conn.execute, "BEGIN IMMEDIATE")
                self._held.transaction = True
                work = Transaction(conn)
                try:
                    yield work
                    work.close_cursors()
                    self._busy_guard(conn.execute, "COMMIT")
                except BaseException:
                    work.close_cursors()
                    if conn.in_transaction:
                        # should it fail, conn is still in the transaction: the pool closes
                        # it, which ends the transaction and releases the lock
                        with suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
                finally:
                    self._held.transaction = False
        finally:
            self._write.release()

    def migrate(self) -> int:
        """Bring the schema to the newest version; return it. The version is read inside the
        write transaction, so two processes starting together migrate it once."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        newest = len(MIGRATIONS)
        if self.scalar("PRAGMA user_version") == newest:
            return newest
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > newest:
                raise RuntimeError(
                    f"{self.path} was written by a newer tqops (schema {version}); upgrade tqops"
                )
            for number in range(version, newest):
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
            if version != newest:
                conn.execute(f"PRAGMA user_version = {newest}")
        return newest

    def close(self) -> None:
        """Close the idle connections (a later call opens what it needs again)."""
        with self._pool:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()

    # -- reads -----------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any], limit: Optional[int]) -> list[sqlite3.Row]:
        with self._connection() as conn:
            rows: list[sqlite3.Row] = self._busy_guard(_fetch, conn, sql, params, limit)
            return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> Optional[Row]:
        rows = self._rows(sql, params, 1)
        return dict(rows[0]) if rows else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._rows(sql, params, None)]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, params, 1)
        return rows[0][0] if rows else None
