"""The store's job records: jobs, their inputs and results, and the result cache."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, Optional

from tqops.server.store.database import Database, Row, now

__all__ = ["OPEN", "Claim", "JobRecords", "OpenJobsFull"]

#: the statuses of a job whose inputs workers may still claim
OPEN = ("queued", "running")
#: the jobs the fair choice of the next slice looks at, oldest first
CANDIDATES = 500

#: a queued input: (type, value, tlp, indicator id or None)
Input = tuple[str, str, str, Optional[int]]


class OpenJobsFull(Exception):
    """A user already has as many jobs queued or running as one may: nothing was stored."""


class Claim(dict):  # type: ignore[type-arg]
    """A slice of one job's inputs that a worker holds under a lease: ``job`` (its row),
    ``token`` (names the claim) and ``inputs`` (rows: seq, type, value, tlp)."""


class JobRecords(Database):
    """The ``jobs``, ``job_inputs``, ``results``, ``cache`` and ``workers`` tables."""

    def create_job(
        self, run: Row, inputs: Sequence[Input], user: str, max_open: Optional[int] = None
    ) -> int:
        """A queued job: ``run`` holds its operation, action and options; each input is
        (type, value, tlp, indicator id or None). ``max_open``: the user's jobs queued or
        running at most, counted in the same transaction (:class:`OpenJobsFull` when the user
        has that many: nothing is stored)."""
        operation, action, options = run["operation"], run["action"], run["options"]
        with self.transaction() as conn:
            if max_open is not None:
                (held,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE created_by = ? AND status IN "
                    "('queued', 'running')",
                    (user,),
                ).fetchone()
                if int(held) >= max_open:
                    raise OpenJobsFull(user)
            job_id = conn.insert(
                "INSERT INTO jobs (operation, action, options, status, total, created_by, "
                "created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                (operation, action, json.dumps(options), len(inputs), user, now()),
            )
            if run.get("carried"):  # a configuration the request carried, sealed
                conn.execute("UPDATE jobs SET carried = ? WHERE id = ?", (run["carried"], job_id))
            conn.executemany(
                "INSERT INTO job_inputs (job_id, seq, type, value, tlp, indicator_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(job_id, seq, *item) for seq, item in enumerate(inputs)],
            )
        return job_id

    def job(self, job_id: int) -> Optional[Row]:
        return self.one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def requeue_job(self, job_id: int, max_open: Optional[int] = None) -> None:
        """Queue an ended job again (a resume); ``max_open``: its owner's jobs queued or
        running at most, counted in the same transaction (:class:`OpenJobsFull`: unchanged)."""
        with self.transaction() as conn:
            if max_open is not None:
                (held,) = conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE created_by = (SELECT created_by FROM jobs "
                    "WHERE id = ?) AND status IN ('queued', 'running')",
                    (job_id,),
                ).fetchone()
                if int(held) >= max_open:
                    raise OpenJobsFull(job_id)
            conn.execute(
                "UPDATE jobs SET status = 'queued', finished_at = NULL, error = NULL WHERE id = ?",
                (job_id,),
            )

    def delete_job(self, job_id: int) -> bool:
        """Delete a job, its inputs, results and Cortex record (the indicators its results
        added stay, no longer naming it); False when there was none."""
        with self.transaction() as conn:
            return self._delete_jobs(conn, [job_id]) > 0

    def purge_jobs(self, ended_before: str) -> int:
        """Delete the jobs that ended before ``ended_before`` (a timestamp as the store writes
        them), as :meth:`delete_job` does; how many."""
        with self.transaction() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM jobs WHERE status NOT IN ('queued', 'running') AND "
                    "finished_at IS NOT NULL AND finished_at < ?",
                    (ended_before,),
                ).fetchall()
            ]
            return self._delete_jobs(conn, ids)

    @staticmethod
    def _delete_jobs(conn: Any, ids: Sequence[int]) -> int:
        deleted = 0
        for job_id in ids:  # each table by name: no reliance on the engine's cascades
            conn.execute(
                "UPDATE indicator_attributes SET job_id = NULL WHERE job_id = ?", (job_id,)
            )
            for table in ("results", "job_inputs", "cortex_jobs"):
                conn.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))  # noqa: S608 - constant names
            cursor = conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            deleted += max(0, cursor.rowcount)
        return deleted

    def open_jobs(self) -> list[Row]:
        """The jobs queued or running, oldest first."""
        return self.all(
            "SELECT id, status FROM jobs WHERE status IN ('queued', 'running') ORDER BY id"
        )

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

    def pending_inputs(self, job_id: int) -> list[Row]:
        """The inputs of a job that have no result yet."""
        return self.all(
            "SELECT seq, type, value, tlp FROM job_inputs WHERE job_id = ? AND answered = 0 "
            "ORDER BY seq",
            (job_id,),
        )

    # -- claims: workers share the jobs ------------------------------------------------------

    def claim(self, worker: str, size: int, lease: float) -> Optional[Claim]:
        """Claim up to ``size`` distinct values of the fairest open job for ``lease`` seconds
        (every input of the job with one of those values comes along: a value is looked up
        once per job, whichever worker does it); None when nothing is left to claim.

        Fair: the next slice goes to the user whose jobs were served longest ago, and within
        a user's jobs to the one served longest ago, so a 10-input job is not queued behind
        another user's 100,000 inputs. Inputs whose lease ran out (their worker died or
        stalled) are claimable again. Writes are serialised across every host and worker
        (:mod:`.database`), so two claims never take the same input."""
        at = time.time()
        open_input = "answered = 0 AND (claimed_until IS NULL OR claimed_until < ?)"
        if self.one("SELECT id FROM jobs WHERE status IN ('queued', 'running') LIMIT 1") is None:
            return None  # an idle worker's look costs a read, never a write
        with self.transaction() as conn:
            # a job resumed with every input answered has nothing to claim: it is done
            conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, carried = NULL "
                "WHERE status IN ('queued', 'running') AND done >= total",
                (now(),),
            )
            candidates = conn.execute(
                "SELECT id, created_by, claimed_at FROM jobs WHERE status IN ('queued', "  # noqa: S608 - constant text
                "'running') AND EXISTS (SELECT 1 FROM job_inputs WHERE job_inputs.job_id = "
                f"jobs.id AND {open_input}) ORDER BY id LIMIT ?",
                (at, CANDIDATES),
            ).fetchall()
            if not candidates:
                return None
            served: dict[str, float] = {}
            for _, user, claimed_at in candidates:
                served[user] = max(served.get(user, 0.0), claimed_at or 0.0)
            job_id = min(candidates, key=lambda c: (served[c[1]], c[2] or 0.0, c[0]))[0]
            token = f"{worker}:{secrets.token_hex(6)}"
            conn.execute(
                f"UPDATE job_inputs SET claimed_by = ?, claimed_until = ? WHERE job_id = ? AND "  # noqa: S608
                f"{open_input} AND (type, value) IN (SELECT type, value FROM job_inputs WHERE "
                f"job_id = ? AND {open_input} ORDER BY seq LIMIT ?)",
                (token, at + lease, job_id, at, job_id, at, size),
            )
            inputs = [
                {"seq": r[0], "type": r[1], "value": r[2], "tlp": r[3]}
                for r in conn.execute(
                    "SELECT seq, type, value, tlp FROM job_inputs WHERE job_id = ? AND "
                    "claimed_by = ? AND answered = 0 ORDER BY seq",
                    (job_id, token),
                ).fetchall()
            ]
            conn.execute(
                "UPDATE jobs SET claimed_at = ?, status = 'running', started_at = "
                "COALESCE(started_at, ?) WHERE id = ?",
                (at, now(), job_id),
            )
        job = self.job(job_id)
        if job is None or not inputs:  # removed meanwhile
            self.release(token)
            return None
        return Claim(job=job, token=token, inputs=inputs)

    def renew(self, token: str, lease: float) -> Optional[str]:
        """Extend a claim's lease (its worker's heartbeat); the job's status now (a job
        cancelled or failed meanwhile tells the worker to stop), None when it is gone."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE job_inputs SET claimed_until = ? WHERE claimed_by = ? AND answered = 0",
                (time.time() + lease, token),
            )
        return self.claim_status(token)

    def claim_status(self, token: str) -> Optional[str]:
        """The status of the job a claim belongs to (a read: its worker looks often)."""
        found = self.scalar(
            "SELECT status FROM jobs WHERE id = (SELECT job_id FROM job_inputs WHERE "
            "claimed_by = ? LIMIT 1)",
            (token,),
        )
        return None if found is None else str(found)

    def release(self, token: str) -> None:
        """Give back what a claim did not answer (its worker stops, or the job ended)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE job_inputs SET claimed_by = NULL, claimed_until = NULL "
                "WHERE claimed_by = ? AND answered = 0",
                (token,),
            )

    def job_live(self, job_id: int) -> bool:
        """Whether a worker holds a live claim on the job (its calls are in flight)."""
        row = self.one(
            "SELECT 1 AS live FROM job_inputs WHERE job_id = ? AND answered = 0 AND "
            "claimed_until >= ? LIMIT 1",
            (job_id, time.time()),
        )
        return row is not None

    def end_job(self, job_id: int, status: str, error: Optional[str] = None) -> bool:
        """End an open job (``cancelled`` or ``failed``); False when it had ended already.
        A configuration it carried is dropped with it."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ?, carried = NULL "
                "WHERE id = ? AND status IN ('queued', 'running')",
                (status, error, now(), job_id),
            )
            return bool(cursor.rowcount)

    def carried(self, job_id: int) -> Optional[str]:
        """The sealed configuration a job's request carried, while it runs."""
        return self.scalar("SELECT carried FROM jobs WHERE id = ?", (job_id,))

    def set_carried(self, job_id: int, sealed: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET carried = ? WHERE id = ?", (sealed, job_id))

    # -- workers -----------------------------------------------------------------------------

    def register_worker(self, worker: str, machine: str, pid: int, concurrency: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO workers (id, machine, pid, concurrency, started_at, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = "
                "excluded.seen_at",
                (worker, machine, pid, concurrency, now(), time.time()),
            )

    def worker_seen(self, worker: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE workers SET seen_at = ? WHERE id = ?", (time.time(), worker))

    def remove_worker(self, worker: str) -> None:
        """A worker that stops (or was found dead): its unanswered claims are given back."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE job_inputs SET claimed_by = NULL, claimed_until = NULL WHERE "
                "answered = 0 AND claimed_by LIKE ?",
                (worker + ":%",),
            )
            conn.execute("DELETE FROM workers WHERE id = ?", (worker,))

    def pace(self, vendor: str, interval: float) -> float:
        """The next free slot (epoch seconds) for a call to ``vendor``, taken: the one after
        it is ``interval`` later, for every worker of the store."""
        at = time.time()
        with self.transaction() as conn:
            row = conn.execute("SELECT next_at FROM pacing WHERE vendor = ?", (vendor,)).fetchone()
            slot = max(at, float(row[0])) if row else at
            conn.execute(
                "INSERT INTO pacing (vendor, next_at) VALUES (?, ?) ON CONFLICT (vendor) "
                "DO UPDATE SET next_at = excluded.next_at",
                (vendor, slot + interval),
            )
        return slot

    def workers(self) -> list[Row]:
        return self.all("SELECT * FROM workers ORDER BY started_at, id")

    def job_inputs(self, job_id: int, limit: int = 100) -> list[Row]:
        """A job's first inputs, as they were queued (what Cortex shows as a job's data)."""
        return self.all(
            "SELECT seq, type, value, tlp, indicator_id FROM job_inputs WHERE job_id = ? "
            "ORDER BY seq LIMIT ?",
            (job_id, limit),
        )

    def save_results(self, job_id: int, seqs: Sequence[int], status: str, result: str) -> int:
        """Store one result for these inputs (:meth:`save_answers` of one)."""
        return self.save_answers(job_id, [(seqs, status, result)])

    def save_answers(
        self,
        job_id: int,
        answers: Sequence[tuple[Sequence[int], str, str]],
        cache: Sequence[tuple[tuple[str, str, str, str, str], str]] = (),
    ) -> int:
        """Store each answer (its inputs' seqs, status and result) and count them on the job
        (``failed`` for an error, ``skipped`` for a skip: policy, not a failure), and put
        ``cache`` entries in the result cache, all in one transaction: a worker writes what
        came in while its previous write ran at once (a group commit). An input that has its
        result keeps it (a slice carried on after its worker died never stores a second one).
        The job is ``done`` with its last result. The number of results stored."""
        stored = failed = skipped = 0
        with self.transaction() as conn:
            for seqs, status, result in answers:
                for seq in seqs:
                    # a job deleted while its call was in flight keeps no result of it
                    cursor = conn.execute(
                        "INSERT INTO results (job_id, seq, status, result) SELECT ?, ?, ?, ? "
                        "WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?) ON CONFLICT DO NOTHING",
                        (job_id, seq, status, result, job_id),
                    )
                    count = max(0, cursor.rowcount)
                    stored += count
                    failed += count if status == "error" else 0
                    skipped += count if status == "skipped" else 0
                    conn.execute(
                        "UPDATE job_inputs SET answered = 1, claimed_by = NULL, "
                        "claimed_until = NULL WHERE job_id = ? AND seq = ?",
                        (job_id, seq),
                    )
            conn.execute(
                "UPDATE jobs SET done = done + ?, failed = failed + ?, skipped = skipped + ? "
                "WHERE id = ?",
                (stored, failed, skipped, job_id),
            )
            conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, carried = NULL "
                "WHERE id = ? AND status = 'running' AND done >= total",
                (now(), job_id),
            )
            for key, result in cache:
                self._cache(conn, key, result)
        return stored

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
            self._cache(conn, key, result)

    @staticmethod
    def _cache(conn: Any, key: tuple[str, str, str, str, str], result: str) -> None:
        conn.execute(
            "INSERT INTO cache (operation, action, options_key, type, value, result, "
            "stored_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (operation, action, "
            "options_key, type, value) DO UPDATE SET result = excluded.result, "
            "stored_at = excluded.stored_at",
            (*key, result, time.time()),
        )
