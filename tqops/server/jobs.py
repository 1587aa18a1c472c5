"""Jobs as the host's routes see them: queued in the store for workers
(:mod:`tqops.server.worker`) to run, cancelled, waited for and shown.

A job's life: queued -> running -> done | cancelled | failed. Workers claim its inputs in
slices under leases, so a job outlives any worker or host that stops (``kill -9`` included):
another worker, or the host when it is back, carries on from the stored results. A job
stopped some other way (``interrupted``, from earlier versions) or cancelled or failed can be
resumed: only the inputs without a result run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from typing import Any, Optional

from tqops.config.values import MASK
from tqops.server.store import Store
from tqops.server.vault import SEALED
from tqops.server.worker import LocalWorker

__all__ = ["FINISHED", "JobQueue", "job_view"]

FINISHED = ("done", "cancelled", "failed", "interrupted")


class JobQueue:
    """The host's side of jobs: each queued job is in the store for any worker to claim; an
    in-process worker (``local``), when the host has one, is woken for it."""

    def __init__(self, store: Store, concurrency: int, local: Optional[LocalWorker]) -> None:
        self.store = store
        #: vendor calls at a time, per worker
        self.concurrency = concurrency
        self.local = local

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
