"""The store's job records: jobs, their inputs and results, and the result cache."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Optional

from tqops.server.store.database import Database, Row, now

__all__ = ["JobRecords"]

#: a queued input: (type, value, tlp, indicator id or None)
Input = tuple[str, str, str, Optional[int]]


class JobRecords(Database):
    """The ``jobs``, ``job_inputs``, ``results`` and ``cache`` tables."""

    def create_job(self, run: Row, inputs: Sequence[Input], user: str) -> int:
        """A queued job: ``run`` holds its operation, action and options; each input is
        (type, value, tlp, indicator id or None)."""
        operation, action, options = run["operation"], run["action"], run["options"]
        with self.transaction() as conn:
            job_id = conn.insert(
                "INSERT INTO jobs (operation, action, options, status, total, created_by, "
                "created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (operation, action, json.dumps(options), len(inputs), user, now()),
            )
            conn.executemany(
                "INSERT INTO job_inputs (job_id, seq, type, value, tlp, indicator_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, seq, *item) for seq, item in enumerate(inputs)],
            )
        return job_id

    def job(self, job_id: int) -> Optional[Row]:
        return self.one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def jobs(self, offset: int, limit: int) -> list[Row]:
        return self.all("SELECT * FROM jobs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))

    def set_job(self, job_id: int, **values: Any) -> None:
        allowed = {"status", "started_at", "finished_at", "error"}
        sets = [(k, v) for k, v in values.items() if k in allowed]
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE jobs SET {', '.join(f'{k} = ?' for k, _ in sets)} WHERE id = ?",  # noqa: S608 - names from the allow list
                (*[v for _, v in sets], job_id),
            )

    def interrupt_running_jobs(self) -> list[int]:
        """At start: jobs a stop left running or queued are ``interrupted``."""
        with self.transaction() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM jobs WHERE status IN ('running', 'queued')"
                ).fetchall()
            ]
            conn.execute(
                "UPDATE jobs SET status = 'interrupted' WHERE status IN ('running', 'queued')"
            )
        return ids

    def pending_inputs(self, job_id: int) -> list[Row]:
        """The inputs of a job that have no result yet."""
        return self.all(
            "SELECT i.seq, i.type, i.value, i.tlp FROM job_inputs i LEFT JOIN results r "
            "ON r.job_id = i.job_id AND r.seq = i.seq WHERE i.job_id = ? AND r.seq IS NULL "
            "ORDER BY i.seq",
            (job_id,),
        )

    def job_inputs(self, job_id: int, limit: int = 100) -> list[Row]:
        """A job's first inputs, as they were queued (what Cortex shows as a job's data)."""
        return self.all(
            "SELECT seq, type, value, tlp, indicator_id FROM job_inputs WHERE job_id = ? "
            "ORDER BY seq LIMIT ?",
            (job_id, limit),
        )

    def save_results(self, job_id: int, seqs: Sequence[int], status: str, result: str) -> None:
        """Store one result for these inputs and count them on the job (``failed`` for an
        error, ``skipped`` for a skip: policy, not a failure), in one transaction."""
        failed = len(seqs) if status == "error" else 0
        skipped = len(seqs) if status == "skipped" else 0
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO results (job_id, seq, status, result) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(job_id, seq, status, result) for seq in seqs],
            )
            conn.execute(
                "UPDATE jobs SET done = (SELECT COUNT(*) FROM results WHERE job_id = ?), "
                "failed = failed + ?, skipped = skipped + ? WHERE id = ?",
                (job_id, failed, skipped, job_id),
            )

    def results(
        self, job_id: int, status: Optional[str], offset: int, limit: int
    ) -> tuple[int, list[Row]]:
        where, params = "job_id = ?", [job_id]
        if status:
            where += " AND status = ?"
            params.append(status)
        total = int(self.scalar(f"SELECT COUNT(*) FROM results WHERE {where}", params))  # noqa: S608
        rows = self.all(
            f"SELECT seq, status, result FROM results WHERE {where} ORDER BY seq "  # noqa: S608
            "LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return total, rows

    # -- the result cache ------------------------------------------------------------------

    def cached(
        self, key: tuple[str, str, str, str, str], ttl: float
    ) -> Optional[tuple[str, float]]:
        row = self.one(
            "SELECT result, stored_at FROM cache WHERE operation = ? AND action = ? AND "
            "options_key = ? AND type = ? AND value = ? AND stored_at >= ?",
            (*key, time.time() - ttl),
        )
        return (row["result"], row["stored_at"]) if row else None

    def cache_result(self, key: tuple[str, str, str, str, str], result: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO cache (operation, action, options_key, type, value, result, "
                "stored_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (operation, action, "
                "options_key, type, value) DO UPDATE SET result = excluded.result, "
                "stored_at = excluded.stored_at",
                (*key, result, time.time()),
            )
