"""The host's store: one database, the only place tqops speaks SQL: a SQLite file in the data
directory, or a PostgreSQL database several hosts share (``postgresql://...``).

Each module owns a set of tables and the SQL that reads and writes them: :mod:`.users`
(users, API keys, sessions), :mod:`.operations` (the host's settings of each operation, and
the uploaded integrations), :mod:`.indicators`, :mod:`.jobs` (jobs, inputs, results, the
result cache), :mod:`.cortex` (what Cortex run requests carried) and :mod:`.audit`;
:mod:`.database` holds the connections, their transactions and the :mod:`.migrations`, on
either engine (:mod:`.sqlite`, :mod:`.postgres`: the SQL is written once, and
:mod:`.dialect` makes it PostgreSQL's). A call that waits for the database
longer than ``TQOPS_STORE_TIMEOUT`` seconds raises :class:`StoreBusy`, a one-line error.
"""

from __future__ import annotations

from tqops.server.store.audit import AuditLog
from tqops.server.store.cortex import CortexRecords
from tqops.server.store.database import Row, StoreBusy, StoreUnavailable, now
from tqops.server.store.indicators import IndicatorRecords
from tqops.server.store.jobs import JobRecords
from tqops.server.store.operations import OperationRecords
from tqops.server.store.users import UserRecords

__all__ = ["Row", "Store", "StoreBusy", "StoreUnavailable", "now"]


class Store(UserRecords, OperationRecords, IndicatorRecords, JobRecords, CortexRecords, AuditLog):
    """The host's database (a SQLite file's path, or a ``postgresql://`` URL), with every
    table of the host."""
