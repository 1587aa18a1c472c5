"""The store's record of what a Cortex run request carried beyond the job itself (the data
type as the client named it, its TLP and PAP numbers, message, label and the parameters that
are no option of the action), and which jobs a Cortex client deleted: Cortex shows a deleted
job as ``Deleted`` and lists it no more, while the host keeps the job, its results and its
audit entries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from tqops.server.store.database import Database, now

__all__ = ["CortexRecords"]


class CortexRecords(Database):
    """The ``cortex_jobs`` table."""

    def save_cortex_request(self, job_id: int, request: Mapping[str, Any]) -> None:
        """Keep what the run request of job ``job_id`` carried (a JSON object)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cortex_jobs (job_id, request) VALUES (?, ?) ON CONFLICT (job_id) "
                "DO UPDATE SET request = excluded.request",
                (job_id, json.dumps(dict(request))),
            )

    def cortex_requests(self, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Each of these jobs' record: ``request`` (what was kept, ``{}`` for none) and
        ``deleted_at`` (None while not deleted); jobs without one are left out."""
        ids = sorted({int(i) for i in job_ids})
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):  # a bounded number of placeholders a query
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self.all(
                f"SELECT job_id, request, deleted_at FROM cortex_jobs WHERE job_id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                found[int(row["job_id"])] = {
                    "request": json.loads(row["request"]),
                    "deleted_at": row["deleted_at"],
                }
        return found

    def cortex_request(self, job_id: int) -> Optional[dict[str, Any]]:
        return self.cortex_requests([job_id]).get(job_id)

    def delete_cortex_job(self, job_id: int) -> None:
        """Mark job ``job_id`` deleted for Cortex's clients (the job itself stays)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cortex_jobs (job_id, request, deleted_at) VALUES (?, '{}', ?) "
                "ON CONFLICT (job_id) DO UPDATE SET deleted_at = excluded.deleted_at",
                (job_id, now()),
            )
