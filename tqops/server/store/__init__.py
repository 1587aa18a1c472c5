"""The host's store: one SQLite database, the only place tqops speaks SQL.

Each module owns a set of tables and the SQL that reads and writes them: :mod:`.users`
(users, API keys, sessions), :mod:`.operations` (the host's settings of each operation, and
the uploaded integrations), :mod:`.indicators`, :mod:`.jobs` (jobs, inputs, results, the
result cache) and :mod:`.audit`; :mod:`.database` holds the connection, its transactions and
the :mod:`.migrations`. A call that waits for the database longer than
``TQOPS_STORE_TIMEOUT`` seconds raises :class:`StoreBusy`, a one-line error.
"""

from __future__ import annotations

from tqops.server.store.audit import AuditLog
from tqops.server.store.database import Row, StoreBusy, now
from tqops.server.store.indicators import IndicatorRecords
from tqops.server.store.jobs import JobRecords
from tqops.server.store.operations import OperationRecords
from tqops.server.store.users import UserRecords

__all__ = ["Row", "Store", "StoreBusy", "now"]


class Store(UserRecords, OperationRecords, IndicatorRecords, JobRecords, AuditLog):
    """The data directory's database, with every table of the host."""
