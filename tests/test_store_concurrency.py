"""The store under concurrency, on a real SQLite file: many threads reading and writing through
the store's API while `tqops users add` writes from another process; a transaction that
cannot commit; a second process holding the write lock; stores opened together.

Issue 23 saw ``Store.transaction`` fail with ``cannot commit transaction - SQL statements in
progress`` under concurrent MISP queries, and the database then stay locked for minutes:
callers got ``internal error (a bug)`` and `tqops users add` got ``database is locked``.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.hosting import ROOT
from tests.support.storeload import StoreLoad
from tqops.errors import ConfigError
from tqops.server.errors import answer_of
from tqops.server.store import Store, StoreBusy
from tqops.server.store.database import POOL_SIZE, TIMEOUT_VARIABLE, store_timeout
from tqops.server.store.migrations import MIGRATIONS


def _cli(*args: str, timeout: float = 20.0, **env: str) -> subprocess.CompletedProcess:
    """The `tqops` command line in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tqops.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=timeout,
    )


def _open_descriptors(path: Path) -> int:
    """File descriptors this process holds on the database and its WAL."""
    names = {str(path), f"{path}-wal"}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") in names
        except OSError:
            continue
    return count


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_threads_and_a_second_process_share_the_store_without_errors_or_leaks(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "tqops.db")
    cli, grew = [], []
    gc.disable()  # the collector may not run for minutes: nothing may wait for it
    try:
        # bursts of queries on threads that end, for as long as the CLI runs, readers meanwhile
        with StoreLoad(store, analysts=3, readers=3, rounds=6, while_busy=True) as load:
            started = time.monotonic()
            for i in range(2):  # while the host is busy, one after the other
                before = store.scalar("SELECT COUNT(*) FROM jobs")
                cli.append(
                    _cli("users", "add", f"user{i}", "--role", "viewer", "--data", str(data))
                )
                grew.append(store.scalar("SELECT COUNT(*) FROM jobs") > before)
        held = _open_descriptors(data / "tqops.db")
    finally:
        gc.enable()
    errors, queries = load.errors, load.queries
    assert not errors, errors.most_common(3)
    for answer in cli:
        assert answer.returncode == 0, answer.stderr
        assert "api key:" in answer.stdout
    assert grew == [True, True]  # the host wrote while each command ran
    assert time.monotonic() - started < 60
    # every query's job ended with exactly one result, every audit line is there
    jobs = store.all("SELECT status, total, done FROM jobs")
    assert len(jobs) == queries >= 180
    assert {(j["status"], j["total"], j["done"]) for j in jobs} == {("done", 1, 1)}
    assert store.scalar("SELECT COUNT(*) FROM results") == queries
    assert store.scalar("SELECT COUNT(*) FROM audit WHERE user = 'misp-modules'") == queries
    assert {u["name"] for u in store.users()} == {"user0", "user1"}
    # hundreds of threads came and went: the connections they used are the pool's, not theirs
    assert held <= 2 * POOL_SIZE, f"{held} descriptors open on the database"
    # and nothing holds the write lock once they are gone: another process writes at once
    after = _cli(
        "users", "add", "late", "--role", "viewer", "--data", str(data), **{TIMEOUT_VARIABLE: "2"}
    )
    assert after.returncode == 0, after.stderr


def test_a_cursor_left_open_in_a_transaction_neither_fails_the_commit_nor_locks_the_store(
    tmp_path, monkeypatch
):
    """A write statement still in progress made SQLite refuse the COMMIT, and the refused
    transaction stayed open: the database locked for every other writer."""
    monkeypatch.setenv(TIMEOUT_VARIABLE, "2")
    path = tmp_path / "tqops.db"
    store = Store(path)
    kept = []
    with store.transaction() as conn:
        returning = conn.execute(
            "INSERT INTO audit (at, user, action, target) VALUES "
            "('t', 'a', 'x', 'one'), ('t', 'a', 'x', 'two') RETURNING id"
        )
        kept.append(returning.fetchone())  # one row read, the statement still in progress
        kept.append(returning)
    assert [r["target"] for r in store.audit_log()] == ["two", "one"]
    store.audit("cli", "after", "it")  # the same thread writes on
    other = Store(path)  # and so does another connection, at once
    other.audit("cli", "other", "it")
    assert len(store.audit_log()) == 4


def test_a_failed_commit_is_rolled_back_and_releases_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv(TIMEOUT_VARIABLE, "1")
    path = tmp_path / "tqops.db"
    store = Store(path)
    store.audit("cli", "before", "it")
    # a deferred foreign key fails only at COMMIT: SQLite refuses it, the store must roll back
    orphan = "INSERT INTO api_keys (user_id, key_hash, created_at) VALUES (99, 'k', 't')"
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.transaction() as conn:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute(orphan)
    assert store.scalar("SELECT COUNT(*) FROM api_keys") == 0
    # no lock left behind: with one held, these would raise StoreBusy after the 1 s timeout
    Store(path).audit("cli", "other", "it")
    store.audit("cli", "same", "it")
    assert [r["action"] for r in store.audit_log()] == ["same", "other", "before"]


def _holder(path: Path) -> subprocess.Popen:
    """A process that holds the store's write lock until its stdin closes."""
    script = (
        "import sqlite3, sys\n"
        f"conn = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
        "conn.execute('ROLLBACK')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(10) == 0


def test_a_store_beside_a_process_holding_the_lock_waits_its_timeout_then_says_so(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(TIMEOUT_VARIABLE, "0.5")
    path = tmp_path / "tqops.db"
    store = Store(path)
    holder = _holder(path)
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            store.audit("host", "blocked", "it")
        waited = time.monotonic() - started
        assert 0.4 < waited < 5
        message = str(caught.value)
        assert "\n" not in message and TIMEOUT_VARIABLE in message
        assert "stayed locked by another process for 0.5 s" in message
        assert str(tmp_path) not in message  # a remote caller is not told the host's paths
        answer = answer_of(caught.value)
        assert (answer.status, answer.message) == (503, message)
        assert store.job(1) is None  # reads go on while another process writes
    finally:
        _release(holder)
    store.audit("host", "after", "it")  # the store is not left stuck
    assert [r["action"] for r in store.audit_log()] == ["after"]


@pytest.mark.slow
def test_tqops_users_add_beside_a_locked_store_answers_one_line_within_its_timeout(tmp_path):
    data = tmp_path / "data"
    Store(data / "tqops.db")
    holder = _holder(data / "tqops.db")
    try:
        started = time.monotonic()
        answer = _cli(
            "users",
            "add",
            "alice",
            "--role",
            "admin",
            "--data",
            str(data),
            **{TIMEOUT_VARIABLE: "1"},
        )
        waited = time.monotonic() - started
    finally:
        _release(holder)
    assert answer.returncode == 1
    assert answer.stderr.startswith("tqops: error: the store (tqops.db) stayed locked")
    assert answer.stderr.count("\n") == 1 and "Traceback" not in answer.stderr
    assert waited < 15  # its 1 s, and the start of Python
    assert _cli("users", "add", "alice", "--role", "admin", "--data", str(data)).returncode == 0


def test_the_timeout_setting_is_checked():
    assert store_timeout({}) == 30.0
    assert store_timeout({TIMEOUT_VARIABLE: " 2.5 "}) == 2.5
    for bad in ("soon", "0", "-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match=f"{TIMEOUT_VARIABLE} is seconds from 0 to 86400"):
            store_timeout({TIMEOUT_VARIABLE: bad})


def test_stores_opened_together_migrate_the_schema_once(tmp_path):
    path = tmp_path / "fresh" / "tqops.db"
    start = threading.Barrier(6)
    failures: list[str] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(path).audit("cli", "opened", "it")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    store = Store(path)
    assert store.scalar("PRAGMA user_version") == len(MIGRATIONS)
    assert store.scalar("SELECT COUNT(*) FROM audit") == 6


def test_a_read_inside_a_transaction_sees_its_writes(tmp_path):
    store = Store(tmp_path / "tqops.db")
    with store.transaction() as conn:
        conn.execute("INSERT INTO audit (at, user, action, target) VALUES ('t', 'u', 'a', 'x')")
        assert store.scalar("SELECT COUNT(*) FROM audit") == 1  # its own connection
        assert store.audit_log()[0]["target"] == "x"
    assert store.scalar("SELECT COUNT(*) FROM audit") == 1


def test_a_transaction_inside_another_on_the_same_thread_is_refused_not_a_deadlock(tmp_path):
    store = Store(tmp_path / "tqops.db", pool_size=1)
    with store.transaction() as conn:
        conn.execute("INSERT INTO audit (at, user, action, target) VALUES ('t', 'u', 'a', 'x')")
        with pytest.raises(RuntimeError, match="inside another"), store.transaction():
            pass  # pragma: no cover - refused before the body
    assert store.scalar("SELECT COUNT(*) FROM audit") == 1
