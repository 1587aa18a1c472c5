"""A busy store, as the host makes it under MISP queries: analysts' bursts of queries, each on a
thread that then ends, and readers polling meanwhile, every error counted. The concurrency
tests run it on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from tqops.server.store import Store

__all__ = ["RUN", "StoreLoad", "query"]

#: the run every query's job is made for
RUN = {"operation": "dcso_tie", "action": "search", "options": {}}


def query(store: Store, n: int) -> None:
    """What one MISP query does to the store: its job made and audited, then run on a thread
    of its own (the host's job threads), a result and the cache saved, the job read back."""
    job_id = store.create_job(RUN, [("FQDN", f"h{n % 40}.example", "AMBER", None)], "misp")
    store.audit("misp-modules", "misp-query", "dcso_tie_search", f"job {job_id}")
    store.set_job(job_id, status="running")
    assert store.settings("dcso_tie")["enabled"]
    for row in store.pending_inputs(job_id):
        key = ("dcso_tie", "search", "{}", row["type"], row["value"])
        hit = store.cached(key, 3600)
        store.save_results(job_id, [row["seq"]], "ok", hit[0] if hit else '{"status": "ok"}')
        if hit is None:
            store.cache_result(key, '{"status": "ok"}')
    store.set_job(job_id, status="done")
    assert store.results(job_id, None, 0, 10)[0] == 1


class StoreLoad:
    """``analysts`` threads each making ``rounds`` bursts of 10 queries (with ``while_busy``,
    more until the ``with`` block ends) and ``readers`` threads reading jobs, the audit log
    and the users until the analysts are done. ``errors`` counts what any of them raised;
    ``queries`` how many were made."""

    def __init__(
        self, store: Store, *, analysts: int, readers: int, rounds: int, while_busy: bool
    ) -> None:
        self.store = store
        self.errors: Counter[str] = Counter()
        self.queries = 0
        self._rounds, self._while_busy = rounds, while_busy
        self._lock = threading.Lock()
        self._busy, self._done = threading.Event(), threading.Event()
        self._analysts = [
            threading.Thread(target=self._analyst, args=(i * 1000,)) for i in range(analysts)
        ]
        self._readers = [threading.Thread(target=self._reader) for _ in range(readers)]

    def __enter__(self) -> StoreLoad:
        for thread in self._readers + self._analysts:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._busy.set()
        for thread in self._analysts:
            thread.join()
        self._done.set()
        for thread in self._readers:
            thread.join()

    def _count(self, exc: Exception, who: str = "") -> None:
        with self._lock:
            self.errors[f"{who}{type(exc).__name__}: {exc}"] += 1

    def _one(self, n: int) -> None:
        try:
            query(self.store, n)
        except Exception as exc:  # counted and shown: the test fails on any
            self._count(exc)

    def _analyst(self, first: int) -> None:
        round_ = 0
        while round_ < self._rounds or (self._while_busy and not self._busy.is_set()):
            threads = [
                threading.Thread(target=self._one, args=(first + round_ * 10 + k,))
                for k in range(10)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            with self._lock:
                self.queries += len(threads)
            round_ += 1

    def _reader(self) -> None:  # the console and REST polling the jobs meanwhile
        try:
            while not self._done.is_set():
                for job in self.store.jobs(0, 20):
                    self.store.job(job["id"])
                self.store.audit_log(0, 20)
                self.store.users()
        except Exception as exc:
            self._count(exc, "reader ")
