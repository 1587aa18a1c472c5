"""The store on PostgreSQL (``--database postgresql://...`` or ``TQOPS_DATABASE_URL``), through
psycopg 3 (the ``postgres`` extra), for several hosts sharing one database.

Why psycopg 3 and the store's own migrations, not SQLAlchemy Core with Alembic: the store is
already a few dozen SQL statements behind four entry points, with its own pool, timeouts and
migration history; psycopg is one driver under them, and the SQL and the migrations stay
written once (:mod:`.dialect` turns them into PostgreSQL's). SQLAlchemy would add a query
language and Alembic a second migration history beside the one every SQLite store already
has, for no table tqops needs.

The differences from SQLite kept here: connections are in autocommit (a read holds no
transaction), a write transaction takes a transaction-level advisory lock first, so writes
are serialised across every host on the database as SQLite serialises them on one machine
(a read-modify-write such as a job's ``done`` count stays right), and waiting for it is
bounded by ``lock_timeout`` (the store's timeout: past it, :class:`StoreBusy`); the schema
version is the row of a ``schema_version`` table, and migrating holds the same lock, so hosts
started together migrate once.

The URL's password is never shown: every message names the URL with ``****`` for it, and
libpq's own text is cleaned of it. It need not be in the URL either: libpq reads
``PGPASSWORD`` and the password file (``PGPASSFILE``, ``passfile=`` in the URL, else
``~/.pgpass``).
"""

from __future__ import annotations

import re
import select
from collections.abc import Iterable, Sequence
from typing import Any, Optional
from urllib.parse import unquote

from tqops.errors import ConfigError
from tqops.server.store.dialect import NOCASE_COLLATION, statements, to_postgres

__all__ = ["INSTALL_HINT", "SCHEMES", "PostgresEngine", "is_database_url", "redact_url"]

SCHEMES = ("postgresql", "postgres")
INSTALL_HINT = "a PostgreSQL store needs the postgres extra: pip install 'tqops[postgres]'"
#: the advisory lock every write transaction holds (any fixed 64-bit number: "tqops" in ASCII)
WRITE_LOCK = 0x74_71_6F_70_73
#: whether the version table exists: read from the catalog with the statement's snapshot (a
#: name lookup such as to_regclass() may answer from this connection's cache, made before
#: another host's migration committed)
_HAS_VERSION_TABLE = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'schema_version' "
    "AND schemaname = current_schema())"
)
_NETLOC_PASSWORD = re.compile(r"(://[^/@:?#]*:)[^/@?#]*@")
_QUERY_PASSWORD = re.compile(r"(\bpassword=)[^&\s]*", re.IGNORECASE)


def is_database_url(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL database (else it is a SQLite file's path)."""
    return text.partition("://")[0].lower() in SCHEMES and "://" in text


def redact_url(url: str) -> str:
    """``url`` with its password, wherever it is, as ``****``."""
    return _QUERY_PASSWORD.sub(r"\1****", _NETLOC_PASSWORD.sub(r"\1****@", url))


def _passwords(url: str) -> list[str]:
    """The password as it is written in ``url`` and as it reads, to clean messages of."""
    found = []
    for pattern in (_NETLOC_PASSWORD, _QUERY_PASSWORD):
        for match in pattern.finditer(url):
            whole = match.group(0)
            secret = whole[len(match.group(1)) :].rstrip("@")
            if secret:
                found += [secret, unquote(secret)]
    return sorted(set(found), key=len, reverse=True)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return psycopg


class PostgresEngine:
    """A PostgreSQL database's connections and the few statements that differ from SQLite's."""

    name = "postgresql"
    #: whether a connection can be used again is asked of it (``reusable``), whatever failed
    discard_on: tuple[type[BaseException], ...] = ()
    path = None

    def __init__(self, url: str, timeout: float) -> None:
        self._psycopg = _psycopg()
        self._secrets = _passwords(url)
        #: what messages call the database: the URL without its password
        self.label = redact_url(url)
        self.timeout = timeout
        self._url = url
        self._options = self._check(url)

    def __repr__(self) -> str:
        return f"PostgresEngine({self.label!r})"

    def clean(self, text: str) -> str:
        """libpq's or the server's message, on one line, without the password."""
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return " ".join(text.split())[:300]

    def _check(self, url: str) -> dict[str, Any]:
        """The URL's parameters; a URL libpq cannot read is a one-line error."""
        if not is_database_url(url):
            raise ConfigError(f"a database URL starts with postgresql://, not {self.label!r}")
        try:
            return dict(self._psycopg.conninfo.conninfo_to_dict(url))
        except self._psycopg.Error as exc:
            raise ConfigError(
                f"not a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE): {self.label} "
                f"({self.clean(str(exc))})"
            ) from None

    # -- connections -----------------------------------------------------------------------

    def connect(self) -> Any:
        settings: dict[str, Any] = {"autocommit": True}
        if "application_name" not in self._options:
            settings["application_name"] = "tqops"
        if "connect_timeout" not in self._options:  # libpq takes whole seconds, at least 2
            settings["connect_timeout"] = int(max(2, min(self.timeout, 60)))
        conn = self._psycopg.connect(self._url, **settings)
        try:
            # a wait for a lock (another host's write) ends with LockNotAvailable: StoreBusy
            conn.execute(f"SET lock_timeout = {int(self.timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def in_transaction(self, conn: Any) -> bool:
        idle = self._psycopg.pq.TransactionStatus.IDLE
        return not conn.closed and conn.info.transaction_status != idle

    @staticmethod
    def alive(conn: Any) -> bool:
        """Whether an idle connection is still open: the server says nothing to an idle
        one, so anything to read on its socket is its end (a FATAL message, or EOF)."""
        if conn.closed or conn.broken:
            return False
        try:
            if hasattr(select, "poll"):  # no limit on the descriptor's number, as select has
                poller = select.poll()
                poller.register(conn.fileno(), select.POLLIN)
                return not poller.poll(0)
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def reusable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken and not self.in_transaction(conn)

    @staticmethod
    def close(conn: Any) -> None:
        conn.close()

    def busy(self, exc: BaseException) -> bool:
        """A lock (another host's write transaction) was held past ``lock_timeout``."""
        return isinstance(exc, self._psycopg.errors.LockNotAvailable)

    def unreachable(self, exc: BaseException) -> Optional[str]:
        """Why the server cannot be used (down, refused the login, gone mid-call), or None."""
        errors = self._psycopg
        if isinstance(exc, (errors.OperationalError, errors.InterfaceError)):
            return self.clean(str(exc).replace("connection failed:", "")) or type(exc).__name__
        return None

    # -- statements ------------------------------------------------------------------------

    def fetch(
        self, conn: Any, sql: str, params: Sequence[Any], limit: Optional[int]
    ) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=self._psycopg.rows.dict_row) as cursor:
            cursor.execute(to_postgres(sql), tuple(params))
            rows = cursor.fetchmany(limit) if limit is not None else cursor.fetchall()
        return list(rows)

    @staticmethod
    def execute(conn: Any, sql: str, params: Sequence[Any]) -> Any:
        cursor = conn.cursor()
        cursor.execute(to_postgres(sql), tuple(params))
        return cursor

    @staticmethod
    def executemany(conn: Any, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cursor = conn.cursor()
        cursor.executemany(to_postgres(sql), [tuple(row) for row in rows])
        return cursor

    @staticmethod
    def insert(conn: Any, sql: str, params: Sequence[Any]) -> tuple[Any, int]:
        """(cursor, the new row's id): every table with an id names it ``id``."""
        cursor = conn.cursor()
        cursor.execute(to_postgres(sql) + " RETURNING id", tuple(params))
        return cursor, int(cursor.fetchone()[0])

    @staticmethod
    def begin(conn: Any) -> None:
        conn.execute("BEGIN")
        # one writer at a time across every host, as SQLite has on one machine
        conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    @staticmethod
    def commit(conn: Any) -> None:
        conn.execute("COMMIT")

    @staticmethod
    def rollback(conn: Any) -> None:
        conn.execute("ROLLBACK")

    # -- the schema version ----------------------------------------------------------------

    @staticmethod
    def version_now(db: Any) -> Optional[int]:
        """The schema's version read outside a transaction (None: no version table yet)."""
        if not db.scalar(_HAS_VERSION_TABLE):
            return None
        found = db.scalar("SELECT version FROM schema_version")
        return None if found is None else int(found)

    @staticmethod
    def version(work: Any) -> int:
        """The schema's version, inside the migration's write transaction (holding the lock,
        so the version table is made once)."""
        if not work.execute(_HAS_VERSION_TABLE).fetchone()[0]:
            work.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            work.execute("INSERT INTO schema_version (version) VALUES (0)")
        return int(work.execute("SELECT version FROM schema_version").fetchone()[0])

    @staticmethod
    def prepare(work: Any) -> None:
        """What the migrations' SQL needs that PostgreSQL has not made: NOCASE's collation."""
        work.execute(NOCASE_COLLATION)

    @staticmethod
    def statements(script: str) -> list[str]:
        return [statement.rstrip("; \t\r\n") for statement in statements(script)]

    @staticmethod
    def set_version(work: Any, version: int) -> None:
        work.execute("UPDATE schema_version SET version = ?", (int(version),))
