"""The store's record of Cortex run requests and deletions, on SQLite and PostgreSQL: what a
request carried comes back as it was kept, many jobs' records in one call, and a deletion
marks a job with or without a record, leaving the job itself as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tqops.server.store import Store

ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store(tmp_path / "tqops.db")
    else:
        cluster = request.getfixturevalue("postgres")
        opened = Store(cluster.with_password(cluster.create_database()))
    yield opened
    opened.close()


def _job(store: Store, value: str) -> int:
    run = {"operation": "dcso_tie", "action": "search", "options": {}}
    return store.create_job(run, [("FQDN", value, "AMBER", None)], "analyst")


def test_a_request_is_kept_and_a_deletion_marks_the_job_only(store):
    first, second, third = (_job(store, f"{n}.example") for n in ("a", "b", "c"))
    request = {"dataType": "domain", "tlp": 4, "pap": 3, "message": "42", "label": "ü",
               "parameters": {"organisation": "SOC", "nested": {"list": [1, None]}}}  # fmt: skip
    store.save_cortex_request(first, request)
    store.save_cortex_request(second, {"dataType": "fqdn"})
    found = store.cortex_requests([first, second, third, 999])
    assert set(found) == {first, second}  # a job without a record is left out
    assert found[first] == {"request": request, "deleted_at": None}
    store.delete_cortex_job(first)
    store.delete_cortex_job(third)  # a job run otherwise: marked all the same
    marked = store.cortex_requests(range(1, 1000))
    assert marked[first]["request"] == request and marked[first]["deleted_at"]
    assert marked[third] == {"request": {}, "deleted_at": marked[third]["deleted_at"]}
    assert marked[third]["deleted_at"] and marked[second]["deleted_at"] is None
    assert store.job(first)["status"] == "queued"  # the job itself is untouched
    assert store.cortex_request(second) == {"request": {"dataType": "fqdn"}, "deleted_at": None}
