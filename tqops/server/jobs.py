"""Jobs as the host's routes see them: queued in the store for workers
(:mod:`tqops.server.worker`) to run, cancelled, waited for and shown.

A job's life: queued -> running -> done | cancelled | failed. Workers claim its inputs in
slices under leases, so a job outlives any worker or host that stops (``kill -9`` included):
another worker, or the host when it is back, carries on from the stored results. A job
stopped some other way (``interrupted``, from earlier versions) or cancelled or failed can be
resumed: only the inputs without a result run.

What one caller may queue is bounded (:class:`~tqops.server.limits.HostLimits`): the distinct
inputs of a job (413 over it) and the jobs a user has queued or running (429 with
``Retry-After``), refused before anything is stored, whichever protocol asked; each refusal is
in the audit log. A job is deleted by its owner or an admin (a running one is cancelled
first), and ended jobs older than the retention period are purged with their inputs and
results (the indicators they added to the store stay: they are the platform's data).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Optional

from tqops.config.values import MASK
from tqops.server.errors import Problem
from tqops.server.limits import HostLimits
from tqops.server.store import Store
from tqops.server.store.jobs import Input, OpenJobsFull
from tqops.server.users import Role, User
from tqops.server.vault import SEALED
from tqops.server.worker import LocalWorker

__all__ = ["FINISHED", "JobQueue", "job_view"]

FINISHED = ("done", "cancelled", "failed", "interrupted")
#: seconds a caller refused for too many open jobs is told to wait (Retry-After)
RETRY_AFTER = 30
#: seconds a deletion waits for a running job's calls in flight to end
STOP_WAIT = 10.0


class JobQueue:
    """The host's side of jobs: each queued job is in the store for any worker to claim; an
    in-process worker (``local``), when the host has one, is woken for it."""

    def __init__(
        self,
        store: Store,
        concurrency: int,
        local: Optional[LocalWorker],
        limits: Optional[HostLimits] = None,
    ) -> None:
        self.store = store
        #: vendor calls at a time, per worker
        self.concurrency = concurrency
        self.local = local
        self.limits = limits or HostLimits()

    def queue(self, run: Mapping[str, Any], rows: Sequence[Input], user: User) -> int:
        """Store a job of ``rows`` for ``user`` (not started): refused with 413 when it has
        more distinct inputs than a job takes, and with 429 when the user has as many jobs
        open as one may (counted in the transaction that stores it: two requests at once do
        not both get the last place). Each refusal is audited."""
        limits, what = self.limits, f"{run['operation']}.{run['action']}"
        self.check_size(len({(kind, value) for kind, value, *_ in rows}), user, what)
        try:
            return self.store.create_job(run, rows, user.name, max_open=limits.open_jobs)
        except OpenJobsFull:
            raise self._too_many(user.name, user.name, what) from None

    def check_size(self, distinct: int, user: User, what: str) -> None:
        """413 (audited) when ``distinct`` inputs are more than a job takes."""
        limits = self.limits
        if distinct > limits.job_inputs:
            variable = limits.variable("job_inputs")
            self.store.audit(user.name, "refused", what, f"{distinct} inputs ({variable})")
            raise Problem(
                413,
                f"a job takes at most {limits.job_inputs:,} distinct inputs ({variable}); this "
                f"one has {distinct:,}: split it into smaller jobs",
            )

    def requeue(self, job_id: int, owner: str, user: User) -> None:
        """Queue an ended job again (a resume by ``user``), within its owner's open jobs
        (429 otherwise, audited): a cancel and a resume never get past the limit."""
        try:
            self.store.requeue_job(job_id, max_open=self.limits.open_jobs)
        except OpenJobsFull:
            raise self._too_many(owner, user.name, f"job {job_id}") from None

    def _too_many(self, owner: str, asking: str, what: str) -> Problem:
        limits = self.limits
        variable = limits.variable("open_jobs")
        self.store.audit(asking, "refused", what, f"{limits.open_jobs} jobs open ({variable})")
        return Problem(
            429,
            f"{owner} has {limits.open_jobs} jobs queued or running, the most one user may "
            f"({variable}): wait for one to end, or cancel one",
            {"Retry-After": str(RETRY_AFTER)},
        )

    def start(self, job_id: int) -> None:
        """A job was queued (or resumed): a local worker looks for it now."""
        if self.local is not None:
            self.local.wake()

    def cancel(self, job_id: int) -> bool:
        """Cancel an open job: workers stop sending its inputs within a heartbeat."""
        return self.store.end_job(job_id, "cancelled")

    def running(self, job_id: int) -> bool:
        """Whether a worker has calls of the job in flight."""
        return self.store.job_live(job_id)

    def wait(self, job_id: int, timeout: float) -> None:
        """Until the job has ended and no call of it is in flight, at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.store.job(job_id)
            if row is None or (row["status"] in FINISHED and not self.running(job_id)):
                return
            time.sleep(0.05)

    def delete(self, job_id: int, user: User) -> None:
        """Delete a job with its inputs and results: its owner or an admin may (anyone else:
        403). An open job is cancelled first and its calls in flight are waited for (at most
        :data:`STOP_WAIT`; still stopping: 409, try again). The indicators its results added
        to the store stay. Audited."""
        row = self.store.job(job_id)
        if row is None:
            raise LookupError(f"no job {job_id}")
        if user.role is not Role.ADMIN and row["created_by"] != user.name:
            raise Problem(
                403, f"job {job_id} is {row['created_by']}'s: only they or an admin may delete it"
            )
        cancelled = self.cancel(job_id)
        self.wait(job_id, STOP_WAIT)
        if self.running(job_id):
            raise Problem(409, f"job {job_id} is still stopping its calls: try again shortly")
        if not self.store.delete_job(job_id):
            raise LookupError(f"no job {job_id}")
        detail = f"{row['operation']}.{row['action']}, {row['total']} inputs"
        detail += ", cancelled while open" if cancelled else ""
        self.store.audit(user.name, "delete", f"job {job_id}", detail)

    def purge(self, days: Optional[int] = None) -> int:
        """Delete the jobs that ended more than ``days`` (default: the retention setting) days
        ago, with their inputs and results; 0 days keeps them for ever. The number deleted."""
        days = self.limits.retention_days if days is None else days
        if days <= 0:
            return 0
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86_400))
        purged = self.store.purge_jobs(before)
        if purged:
            variable = self.limits.variable("retention_days")
            self.store.audit(
                "tqops", "purge", f"{purged} jobs", f"ended before {before} ({variable})"
            )
        return purged

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the local worker: its slice stops within one request, and what it did not
        answer is given back to the store."""
        if self.local is not None:
            self.local.stop(timeout)


def job_view(row: Mapping[str, Any], running: bool, hidden: Collection[str] = ()) -> dict[str, Any]:
    """A job as the API shows it, with its rate and time left while it runs; its password
    options (``hidden``, and any stored sealed) as the mask."""
    view = {
        "id": row["id"],
        "operation": row["operation"],
        "action": row["action"],
        "options": _masked(json.loads(row["options"]), hidden),
        "status": row["status"],
        "total": row["total"],
        "done": row["done"],
        "failed": row["failed"],
        "skipped": row["skipped"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "error": row["error"],
    }
    rate = None
    if row["started_at"] and row["done"]:
        started = time.mktime(time.strptime(row["started_at"], "%Y-%m-%dT%H:%M:%SZ"))
        ended = (
            time.mktime(time.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%SZ"))
            if row["finished_at"]
            else time.mktime(time.gmtime())
        )
        rate = row["done"] / max(1.0, ended - started)
    view["rate"] = round(rate, 2) if rate else None
    left = row["total"] - row["done"]
    view["seconds_left"] = round(left / rate, 1) if rate and running and left > 0 else None
    return view


def _masked(options: Mapping[str, Any], hidden: Collection[str]) -> dict[str, Any]:
    """A job's options as they are shown: a password option as the mask."""
    return {
        k: MASK if k in hidden or (isinstance(v, Mapping) and SEALED in v) else v
        for k, v in options.items()
    }
