"""The store's database: a small pool of connections, serialised write transactions, and the
schema migrated by :mod:`.migrations`, on one of two engines: a SQLite file in the data
directory (the default, :mod:`.sqlite`) or a PostgreSQL database several hosts share
(``postgresql://...``, :mod:`.postgres`). The table modules write their SQL once, in the
subset both engines share (:mod:`.dialect`).

A call takes a connection from the pool for just as long as it runs and gives it back with
every cursor it opened closed: no statement is left in progress on a connection (a write
statement in progress makes SQLite refuse the next ``COMMIT``), and no connection belongs to
a thread (a thread's connection outlived it until the garbage collector found it, and with
it whatever lock it held). A transaction that cannot commit is rolled back before its error
is raised, so a failure never leaves the database locked. Writes are one short transaction
each and one at a time (SQLite's single writer; on PostgreSQL an advisory lock across every
host), so a crash of the host, even ``kill -9``, loses at most the calls that were in
flight: every result is committed as it completes. On SQLite, WAL lets readers go on while
a job writes; on PostgreSQL reads never wait for writes.

A call waits for the database at most ``TQOPS_STORE_TIMEOUT`` seconds (default 30): for
another process's write (``tqops users add`` beside a busy host, or another host) or for a
free connection. Past that it raises :class:`StoreBusy`, a one-line error naming the
setting, never the engine's own exception; a PostgreSQL server that cannot be reached is
:class:`StoreUnavailable`, one line too, its URL's password never in it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

from tqops.errors import ConfigError, OperationError
from tqops.server.settings import seconds_setting
from tqops.server.store.migrations import MIGRATIONS
from tqops.server.store.postgres import PostgresEngine, is_database_url
from tqops.server.store.sqlite import SQLiteEngine

__all__ = [
    "DEFAULT_TIMEOUT",
    "POOL_SIZE",
    "TIMEOUT_VARIABLE",
    "Database",
    "Row",
    "StoreBusy",
    "StoreUnavailable",
    "Transaction",
    "now",
    "open_engine",
    "store_timeout",
]

Row = dict[str, Any]
#: where a store is: a SQLite file's path, or a ``postgresql://`` URL
Location = Union[Path, str]

#: the environment variable that bounds how long a store call waits for the database
TIMEOUT_VARIABLE = "TQOPS_STORE_TIMEOUT"
#: seconds a call waits for another process's write or a free connection (a write of the
#: host takes milliseconds: this is long enough for any busy moment, short enough to answer)
DEFAULT_TIMEOUT = 30.0
#: connections a store keeps at most (jobs and requests share them; each call is short)
POOL_SIZE = 8


def now() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_timeout(environ: Optional[dict[str, str]] = None) -> float:
    """``TQOPS_STORE_TIMEOUT`` in seconds (default 30); a value that is not a positive number
    is a one-line error naming the variable."""
    return seconds_setting(
        TIMEOUT_VARIABLE,
        DEFAULT_TIMEOUT,
        0,
        86_400,
        above=True,
        hint="for example 30",
        environ=environ,
    )


class StoreBusy(OperationError, TimeoutError):
    """The database stayed locked (another process writing) or every connection stayed in
    use for longer than the store waits."""


class StoreUnavailable(StoreBusy):
    """The database server cannot be reached, or refused the login (answered as the store
    being busy: 503, try again)."""


def open_engine(location: Location, timeout: float) -> Union[SQLiteEngine, PostgresEngine]:
    """The engine of a location: ``postgresql://`` (or ``postgres://``) is PostgreSQL,
    anything else a SQLite file's path."""
    if isinstance(location, str) and is_database_url(location):
        return PostgresEngine(location, timeout)
    if isinstance(location, str) and "://" in location:
        scheme = location.partition("://")[0][:20]
        raise ConfigError(f"a database URL starts with postgresql://, not {scheme}://")
    return SQLiteEngine(Path(location), timeout)


class Transaction:
    """The connection of one write transaction, as its body uses it (``execute``,
    ``executemany`` and ``insert``, each with ``?`` placeholders); every cursor it hands out
    is closed before the transaction ends."""

    def __init__(self, conn: Any, engine: Engine) -> None:
        self._conn = conn
        self._engine = engine
        self._cursors: weakref.WeakSet[Any] = weakref.WeakSet()

    def _kept(self, cursor: Any) -> Any:
        self._cursors.add(cursor)
        return cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor (``fetchone``, ``fetchall``, ``rowcount``)."""
        return self._kept(self._engine.execute(self._conn, sql, params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        return self._kept(self._engine.executemany(self._conn, sql, rows))

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an ``INSERT`` of one row into a table keyed by ``id``; the new row's id."""
        cursor, row_id = self._engine.insert(self._conn, sql, params)
        self._kept(cursor)
        return row_id

    def close_cursors(self) -> None:
        """Close what the body left open: an unfinished write statement refuses the COMMIT."""
        for cursor in list(self._cursors):
            cursor.close()
        self._cursors.clear()


#: what a store runs on (:class:`SQLiteEngine` or :class:`PostgresEngine`)
Engine = Union[SQLiteEngine, PostgresEngine]


class Database:
    """The store's database; the store's tables are kept by its subclasses.

    ``location`` is a SQLite file's path, or a ``postgresql://`` URL. ``timeout`` (seconds)
    bounds every wait for the database; None reads ``TQOPS_STORE_TIMEOUT``."""

    def __init__(
        self, location: Location, *, timeout: Optional[float] = None, pool_size: int = POOL_SIZE
    ) -> None:
        self.timeout = store_timeout() if timeout is None else float(timeout)
        self.engine: Engine = open_engine(location, self.timeout)
        #: the SQLite file (None on PostgreSQL)
        self.path: Optional[Path] = self.engine.path
        self._size = max(1, pool_size)
        self._idle: list[Any] = []
        self._open = 0
        self._pool = threading.Condition()
        #: the connection this thread is using, so a read inside its transaction sees it
        self._held = threading.local()
        self._write = threading.Lock()
        self.migrate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.label!r})"

    @property
    def where(self) -> str:
        """What messages call the database: the file's name, or the URL without password."""
        return self.engine.label

    # -- connections -----------------------------------------------------------------------

    def _take(self) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            with self._pool:
                while not self._idle and self._open >= self._size:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self._busy("had no free connection")
                    self._pool.wait(left)
                if not self._idle:
                    self._open += 1
                    break
                conn = self._idle.pop()
            if self.engine.alive(conn):
                return conn
            # the server ended it while it was idle (a restart, a failover): not a caller's
            # error, another connection serves the call
            self._give(conn, broken=True)
        try:
            return self._guard(self.engine.connect)
        except BaseException:
            with self._pool:
                self._open -= 1
                self._pool.notify()
            raise

    def _give(self, conn: Any, broken: bool) -> None:
        if not broken:
            broken = not self.engine.reusable(conn)
        if broken:  # closing it rolls back whatever it held and releases its locks
            with suppress(Exception):
                self.engine.close(conn)
        with self._pool:
            if broken:
                self._open -= 1
            else:
                self._idle.append(conn)
            self._pool.notify()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection for one call: this thread's own while it is inside a transaction."""
        held: Optional[Any] = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._take()
        self._held.conn = conn
        broken = False
        try:
            yield conn
        except self.engine.discard_on:
            broken = True  # whatever state SQLite left it in, it is not used again
            raise
        finally:
            self._held.conn = None
            self._give(conn, broken)

    def _translated(self, exc: BaseException) -> Optional[StoreBusy]:
        """The store's one-line error for an engine's "locked" or "unreachable", else None."""
        if self.engine.busy(exc):
            return self._busy("stayed locked by another process")
        reason = self.engine.unreachable(exc)
        if reason is not None:
            return StoreUnavailable(f"the store ({self.where}) cannot be reached: {reason}")
        return None

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:
            mapped = self._translated(exc)
            if mapped is not None:
                raise mapped from None
            raise

    def _busy(self, what: str) -> StoreBusy:
        return StoreBusy(
            f"the store ({self.where}) {what} for {self.timeout:g} s; try again, or raise "
            f"{TIMEOUT_VARIABLE} (seconds) if it is this busy"
        )

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction (serialised: SQLite has one writer at a time anyway, and
        PostgreSQL is given the same). It commits when its body ends; an error in the body,
        or a commit the database refuses, rolls it back and is raised (a lock held too long
        by another process as :class:`StoreBusy`)."""
        if getattr(self._held, "transaction", False):
            raise RuntimeError("a store transaction inside another one on the same thread")
        if not self._write.acquire(timeout=self.timeout):
            raise self._busy("was busy writing")
        try:
            with self._connection() as conn:
                work = Transaction(conn, self.engine)
                self._held.transaction = True
                try:
                    self._guard(self.engine.begin, conn)
                    yield work
                    work.close_cursors()
                    self._guard(self.engine.commit, conn)
                except BaseException as exc:
                    work.close_cursors()
                    if self.engine.in_transaction(conn):
                        # should it fail, conn is still in the transaction: the pool closes
                        # it, which ends the transaction and releases the lock
                        with suppress(Exception):
                            self.engine.rollback(conn)
                    mapped = self._translated(exc) if isinstance(exc, Exception) else None
                    if mapped is not None:
                        raise mapped from None
                    raise
                finally:
                    self._held.transaction = False
        finally:
            self._write.release()

    def migrate(self) -> int:
        """Bring the schema to the newest version; return it. The version is read inside the
        write transaction, so processes starting together (on PostgreSQL: hosts) migrate it
        once."""
        newest = len(MIGRATIONS)
        if self.engine.version_now(self) == newest:
            return newest
        with self.transaction() as work:
            version = self.engine.version(work)
            if version > newest:
                raise ConfigError(
                    f"the store ({self.where}) was written by a newer tqops (schema {version}, "
                    f"this one knows {newest}); upgrade tqops"
                )
            if version < newest:
                self.engine.prepare(work)
                for number in range(version, newest):
                    for statement in self.engine.statements(MIGRATIONS[number]):
                        work.execute(statement)
                self.engine.set_version(work, newest)
        return newest

    def close(self) -> None:
        """Close the idle connections (a later call opens what it needs again)."""
        with self._pool:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            self.engine.close(conn)

    # -- reads -----------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any], limit: Optional[int]) -> list[Row]:
        with self._connection() as conn:
            rows: list[Row] = self._guard(self.engine.fetch, conn, sql, params, limit)
            return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> Optional[Row]:
        rows = self._rows(sql, params, 1)
        return rows[0] if rows else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._rows(sql, params, None)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, params, 1)
        return next(iter(rows[0].values())) if rows else None
