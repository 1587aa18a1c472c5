"""The store on PostgreSQL behaves as on SQLite: the same table methods run against both engines
(users, keys and sessions; jobs, results and the cache; indicators; settings, integrations
and the audit log), the one migration history applies to an empty PostgreSQL database and
hosts started together migrate it once, threads and processes write and read together, and
`tqops users add --database` and two `tqops serve --database` replicas share one database
(users, jobs and their results, console sessions).

PostgreSQL is Debian's, started by ``tests/support/postgres.py`` as an unprivileged user; the
tests that need it are marked slow, and fail (never skip) when it is not installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from simulators import TieSimulator
from tests.support.hosting import ROOT, RunningHost, free_port, tqops, wait_for
from tests.support.postgres import Cluster, running_cluster, server_binaries
from tests.support.storeload import RUN, StoreLoad
from tests.support.vendors import tie_config
from tqops.errors import ConfigError
from tqops.server.errors import answer_of
from tqops.server.store import Store, StoreBusy, database
from tqops.server.store.database import TIMEOUT_VARIABLE, StoreUnavailable
from tqops.server.store.dialect import NotPortable, statements, to_postgres
from tqops.server.store.migrations import MIGRATIONS
from tqops.server.store.postgres import WRITE_LOCK, redact_url

ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each engine (on PostgreSQL a new database of the session's cluster)."""
    if request.param == "sqlite":
        opened = Store(tmp_path / "tqops.db")
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        opened = Store(cluster.with_password(cluster.create_database()))
    yield opened
    opened.close()


def _pg_store(cluster: Cluster, **options: float) -> tuple[Store, str]:
    url = cluster.with_password(cluster.create_database())
    return Store(url, **options), url


# -- the same behaviour on both engines ------------------------------------------------------


def test_users_keys_and_sessions(store):
    alice = store.add_user("alice", "admin", "hash-a", "key-a")
    bob = store.add_user("Bob", "viewer", "hash-b", "key-b")
    assert 0 < alice < bob
    assert store.user("ALICE")["id"] == alice  # names match whatever their case
    with pytest.raises(Exception, match=r"(?i)unique"):
        store.add_user("BOB", "viewer", "hash-c", "key-c")
    listed = store.users()
    assert [(u["name"], u["role"], u["keys"], u["disabled"]) for u in listed] == [
        ("alice", "admin", 1, 0),
        ("Bob", "viewer", 1, 0),  # ordered without regard to case, as NOCASE orders
    ]
    assert store.user_by_key("key-a")["name"] == "alice"
    store.replace_key(alice, "key-a2")
    assert store.user_by_key("key-a") is None
    assert store.user_by_key("key-a2")["id"] == alice
    store.update_user(bob, disabled=1, role="analyst", ignored="x")
    assert store.user_by_key("key-b") is None
    assert (store.user("bob")["role"], store.user("bob")["disabled"]) == ("analyst", 1)

    soon = time.time() + 60
    store.add_session("console", "old", alice, time.time() - 1)
    store.add_session("console", "tok", alice, soon, csrf="c1")
    found = store.session("console", "tok")
    assert (found["name"], found["role"], found["csrf"], found["user_id"]) == (
        "alice",
        "admin",
        "c1",
        alice,
    )
    assert abs(found["expires_at"] - soon) < 0.01  # a float to the millisecond, not REAL's
    assert store.session("oauth", "tok") is None
    assert store.session("console", "old") is None
    assert store.scalar("SELECT COUNT(*) FROM sessions") == 1  # the expired one went
    store.add_session("oauth", "tok2", alice, soon)
    store.end_session("tok")
    assert store.session("console", "tok") is None
    assert store.session("oauth", "tok2") is not None
    store.remove_user(alice)  # its keys and sessions go with it
    assert store.user("alice") is None
    assert store.scalar("SELECT COUNT(*) FROM api_keys WHERE user_id = ?", (alice,)) == 0
    assert store.scalar("SELECT COUNT(*) FROM sessions") == 0


def test_jobs_results_and_the_cache(store):
    inputs = [
        ("FQDN", "a.example", "AMBER", None),
        ("FQDN", "b.example", "GREEN", 7),
        ("FQDN", "c.example", "AMBER", None),
    ]
    first = store.create_job(RUN, inputs, "ana")
    second = store.create_job({**RUN, "options": {"v": 2}}, [], "ana")
    assert second == first + 1
    job = store.job(first)
    assert (job["status"], job["total"], job["done"], job["created_by"]) == ("queued", 3, 0, "ana")
    assert json.loads(store.job(second)["options"]) == {"v": 2}
    assert [j["id"] for j in store.jobs(0, 10)] == [second, first]
    assert [j["id"] for j in store.jobs(1, 10)] == [first]
    store.set_job(first, status="running", started_at="2026-01-01T00:00:00Z")
    assert [r["seq"] for r in store.pending_inputs(first)] == [0, 1, 2]
    assert store.job_inputs(first)[1] == {
        "seq": 1,
        "type": "FQDN",
        "value": "b.example",
        "tlp": "GREEN",
        "indicator_id": 7,
    }
    store.save_results(first, [0], "ok", '{"r": 1}')
    store.save_results(first, [0], "ok", "a second result for it")  # ignored
    store.save_results(first, [1], "error", "e")
    store.save_results(first, [2], "skipped", "s")
    job = store.job(first)
    assert (job["done"], job["failed"], job["skipped"]) == (3, 1, 1)
    assert store.results(first, None, 0, 10) == (
        3,
        [
            {"seq": 0, "status": "ok", "result": '{"r": 1}'},
            {"seq": 1, "status": "error", "result": "e"},
            {"seq": 2, "status": "skipped", "result": "s"},
        ],
    )
    assert store.results(first, "error", 0, 10) == (
        1,
        [{"seq": 1, "status": "error", "result": "e"}],
    )
    assert store.results(first, None, 2, 10)[1][0]["seq"] == 2
    assert store.pending_inputs(first) == []
    key = ("dcso_tie", "search", "{}", "FQDN", "a.example")
    before = time.time()
    store.cache_result(key, "one")
    store.cache_result(key, "two")  # replaces it
    result, stored_at = store.cached(key, 60)
    assert result == "two"
    assert abs(stored_at - before) < 0.5  # a double: PostgreSQL's REAL is off by a minute
    assert store.cached((*key[:4], "b.example"), 60) is None
    assert store.scalar("SELECT COUNT(*) FROM cache") == 1


def test_indicators_and_their_attributes(store):
    rows = [
        ("FQDN", "a.example", "AMBER", "", "manual"),
        ("FQDN", "100%_sure.example", "GREEN", "a note", "csv"),
        ("FQDN", "100x_sure.example", "GREEN", "", "csv"),
        ("FQDN", "a.example", "RED", "", "again"),  # stored already: keeps its id and TLP
    ]
    added = store.add_indicators(rows, "ana")
    ids = [i for i, _ in added]
    assert [created for _, created in added] == [True, True, True, False]
    assert ids[3] == ids[0] and len(set(ids)) == 3
    first = store.indicator(ids[0])
    assert (first["tlp"], first["note"], first["created_by"]) == ("AMBER", None, "ana")
    assert store.indicator(ids[1])["note"] == "a note"
    # the text is found as written: % and _ are no wildcards
    total, found = store.indicators(None, "0%_S", 0, 10)
    assert (total, [r["value"] for r in found]) == (1, ["100%_sure.example"])
    assert [r["id"] for r in store.indicators("FQDN", "A.EXAMPLE", 0, 10)[1]] == [ids[0]]
    total, page = store.indicators("FQDN", None, 1, 1)
    assert (total, [r["id"] for r in page]) == (3, [ids[1]])
    assert store.indicators("IP Address", None, 0, 10) == (0, [])
    store.add_attributes(
        ids[0], [("seen", "yes", None), ("seen", "yes", None), ("family", "x", "2024")], "tie"
    )
    assert store.indicator_attributes(ids[0]) == [
        {"name": "family", "value": "x", "published_at": "2024", "source": "tie"},
        {"name": "seen", "value": "yes", "published_at": None, "source": "tie"},
    ]
    assert store.delete_indicator(ids[0]) is True
    assert store.delete_indicator(ids[0]) is False
    assert store.indicator_attributes(ids[0]) == []


def _save_upload(store: Store, name: str, version: str, path: str, content: bytes) -> None:
    """An upload's row with its file (the store keeps only the file its SHA-256 names)."""
    digest = hashlib.sha256(content).hexdigest()
    store.save_integration(name, version, path, digest, "admin", content)


def test_settings_integrations_the_audit_log_and_transactions(store):
    assert store.settings("dcso_tie")["enabled"] == 1  # the defaults until saved
    store.save_settings("dcso_tie", config='{"a": 1}', max_tlp="GREEN", unknown="x")
    store.save_settings("dcso_tie", enabled=0)
    saved = store.settings("dcso_tie")
    assert {k: saved[k] for k in ("config", "enabled", "max_tlp", "cache_ttl", "misp_allowed")} == {
        "config": '{"a": 1}',
        "enabled": 0,
        "max_tlp": "GREEN",
        "cache_ttl": 3600,
        "misp_allowed": 0,
    }
    assert saved["updated_at"]
    _save_upload(store, "x", "1.0", "/p/x-1.0.whl", b"aa")
    _save_upload(store, "x", "2.0", "/p/x-2.0.whl", b"bb")
    assert [(r["name"], r["version"], r["sha256"]) for r in store.integrations()] == [
        ("x", "2.0", hashlib.sha256(b"bb").hexdigest())
    ]
    store.save_settings("x", enabled=0)
    store.remove_integration("x")
    assert store.integrations() == []
    assert store.settings("x")["enabled"] == 1

    store.audit("alice", "login", "console")
    store.audit("bob", "configure", "dcso_tie", "fields: a")
    log = store.audit_log()
    assert [(r["user"], r["action"], r["target"], r["detail"]) for r in log] == [
        ("bob", "configure", "dcso_tie", "fields: a"),
        ("alice", "login", "console", ""),
    ]
    assert [r["user"] for r in store.audit_log(1, 1)] == ["alice"]

    with pytest.raises(ValueError, match="undone"), store.transaction() as conn:
        conn.execute("DELETE FROM audit")
        assert store.scalar("SELECT COUNT(*) FROM audit") == 0  # its own writes, seen
        raise ValueError("undone")
    assert len(store.audit_log()) == 2  # rolled back


# -- the SQL is portable, the URL's password kept ----------------------------------------------


def test_removing_an_upload_gives_back_the_settings_of_the_operation_it_replaced(store):
    """An upload of a built-in operation's name keeps the built-in's settings at its first
    install (not at its upgrades); its removal puts them back instead of wiping them."""
    store.save_settings("dcso_tie", config='{"hostname": "built-in.example"}', max_tlp="GREEN")
    before = store.settings("dcso_tie")
    _save_upload(store, "dcso_tie", "9.0.0", "/x/1", b"aa")
    store.save_settings("dcso_tie", config='{"hostname": "upload.example"}', max_tlp="RED")
    _save_upload(store, "dcso_tie", "9.0.1", "/x/2", b"bb")  # an upgrade of it
    store.remove_integration("dcso_tie")
    assert store.settings("dcso_tie") == before
    # an upload of a new name replaced nothing: its removal leaves no settings behind
    _save_upload(store, "brand_new", "1.0.0", "/x/3", b"cc")
    store.save_settings("brand_new", config='{"a": 1}')
    store.remove_integration("brand_new")
    assert store.settings("brand_new")["config"] == "{}"
    assert store.integrations() == []


def test_the_portable_sql_becomes_postgresqls():
    assert to_postgres("SELECT * FROM t WHERE a = ? AND b LIKE '?%' AND c = ?") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '?%%' AND c = %s"
    )
    assert to_postgres('SELECT 5 % 3, "user" FROM audit') == 'SELECT 5 %% 3, "user" FROM audit'
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at REAL NOT NULL, blob BLOB, "
        "name TEXT COLLATE NOCASE, note TEXT DEFAULT 'REAL BLOB')"
    )
    assert to_postgres("ALTER TABLE t ADD COLUMN real REAL") == (
        "ALTER TABLE t ADD COLUMN real DOUBLE PRECISION"
    )
    assert to_postgres('CREATE TABLE t ("user" REAL, "blob" BLOB)') == (
        'CREATE TABLE t ("user" DOUBLE PRECISION, "blob" BYTEA)'
    )
    assert to_postgres("SELECT CAST(x AS REAL), real FROM t") == (
        "SELECT CAST(x AS DOUBLE PRECISION), real FROM t"
    )
    assert to_postgres(ddl) == (
        "CREATE TABLE t (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at DOUBLE "
        "PRECISION NOT NULL, blob BYTEA, name TEXT COLLATE tqops_nocase, "
        "note TEXT DEFAULT 'REAL BLOB')"
    )
    assert to_postgres("CREATE TABLE t (seq INTEGER NOT NULL, PRIMARY KEY (seq))") == (
        "CREATE TABLE t (seq INTEGER NOT NULL, PRIMARY KEY (seq))"
    )
    for sqlite_only in (
        "INSERT OR IGNORE INTO t VALUES (?)",
        "insert or replace into t values (?)",
        "REPLACE INTO t VALUES (1)",
        "PRAGMA user_version",
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n TEXT, AUTOINCREMENT)",
    ):
        with pytest.raises(NotPortable, match="not portable SQL"):
            to_postgres(sqlite_only)
    assert statements("CREATE TABLE a (x TEXT DEFAULT ';');\n\nCREATE INDEX i ON a (x);") == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "CREATE INDEX i ON a (x);",
    ]


def test_every_migration_and_table_module_is_portable():
    """What a later migration or method must look like to run on both engines: it passes
    the translation (no INSERT OR ..., no PRAGMA), and uses no cursor's lastrowid."""
    for number, script in enumerate(MIGRATIONS):
        for statement in statements(script):
            assert to_postgres(statement), number
    folder = ROOT / "tqops" / "server" / "store"
    for module in ("users", "jobs", "indicators", "operations", "cortex", "audit"):
        text = (folder / f"{module}.py").read_text(encoding="utf-8")
        for sqlite_only in ("lastrowid", "INSERT OR", "PRAGMA", "instr(", "sqlite3"):
            assert sqlite_only not in text, (module, sqlite_only)


def test_a_database_url_is_checked_and_its_password_never_shown():
    assert redact_url("postgresql://tq:s%40cret@db:5432/tqops?sslmode=require") == (
        "postgresql://tq:****@db:5432/tqops?sslmode=require"
    )
    assert redact_url("postgres://db/tqops?user=tq&password=s3cret") == (
        "postgres://db/tqops?user=tq&password=****"
    )
    assert redact_url("postgresql://tq@db/tqops") == "postgresql://tq@db/tqops"
    with pytest.raises(ConfigError) as bad:
        Store("postgresql://tq:s3cret@[db/tqops")
    assert "s3cret" not in str(bad.value) and "\n" not in str(bad.value)
    assert str(bad.value).startswith("not a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE)")
    with pytest.raises(ConfigError, match="starts with postgresql://, not mysql://"):
        Store("mysql://tq:s3cret@db/tqops")
    with pytest.raises(ConfigError, match="invalid URI query parameter") as unknown:
        Store("postgresql://tq:s3cret@db/tqops?colour=blue")
    assert "s3cret" not in str(unknown.value)


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql://tq:s3cret@127.0.0.1:{port}/tqops"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        Store(url, timeout=2)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(f"the store (postgresql://tq:****@127.0.0.1:{port}/tqops) cannot")
    assert "s3cret" not in message and "\n" not in message
    assert "Connection refused" in message
    assert answer_of(caught.value).status == 503
    # the command line says the same in one line, the password from the environment
    done = tqops(
        "users", "list", "--database", f"postgresql://tq@127.0.0.1:{port}/tqops",
        env={"PGPASSWORD": "s3cret", "TQOPS_DATA": str(tmp_path / "unused")},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"tqops: error: the store (postgresql://tq@127.0.0.1:{port}/tqops) cannot be reached"
    )
    assert done.stderr.count("\n") == 1 and "s3cret" not in done.stderr
    assert not (tmp_path / "unused").exists()  # no SQLite store made beside it
    other = tqops(
        "users", "list", env={"TQOPS_DATABASE_URL": url, "TQOPS_DATA": str(tmp_path / "unused")}
    )
    assert other.returncode == 1 and "cannot be reached" in other.stderr
    assert "s3cret" not in other.stderr
    path = tqops("users", "list", "--database", str(tmp_path / "x.db"))
    assert path.returncode == 2  # a configuration error
    assert path.stderr == (
        "tqops: error: --database takes a URL: postgresql://USER@HOST:PORT/DATABASE\n"
    )
    assert not (tmp_path / "x.db").exists()


def test_missing_server_binaries_fail_with_how_to_install_them(tmp_path):
    assert server_binaries(tmp_path) is None  # an empty folder: nothing installed there
    with pytest.raises(pytest.fail.Exception, match="make postgres"), running_cluster(tmp_path):
        pass  # pragma: no cover - failed before


# -- PostgreSQL only: migrations, locks, concurrency -------------------------------------------


@pytest.mark.slow
def test_the_migration_history_applies_step_by_step_to_an_empty_database(postgres, monkeypatch):
    url = postgres.with_password(postgres.create_database())
    monkeypatch.setattr(database, "MIGRATIONS", MIGRATIONS[:2])
    old = Store(url)
    assert old.scalar("SELECT version FROM schema_version") == 2
    job = old.create_job(RUN, [("FQDN", "a.example", "AMBER", None)], "ana")
    with old.transaction() as conn:  # a skipped result stored before its count existed
        conn.execute(
            "INSERT INTO results (job_id, seq, status, result) VALUES (?, 0, 'skipped', '{}')",
            (job,),
        )
    old.close()
    monkeypatch.undo()
    new = Store(url)
    assert new.all("SELECT version FROM schema_version") == [{"version": len(MIGRATIONS)}]
    assert new.job(job)["skipped"] == 1
    with new.transaction() as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ConfigError, match=r"newer tqops \(schema 99, this one knows"):
        Store(url)
    new.close()


@pytest.mark.slow
def test_hosts_started_together_migrate_the_database_once(postgres, tmp_path):
    url = postgres.create_database()
    start = threading.Barrier(4)
    failures: list[str] = []

    def open_store() -> None:
        start.wait()
        try:
            Store(postgres.with_password(url)).audit("host", "opened", "it")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    env = {"PGPASSWORD": postgres.password, "TQOPS_DATA": str(tmp_path / "unused")}
    command = [sys.executable, "-m", "tqops.cli", "users", "add", "--role", "viewer"]
    adds = [  # and two processes, at the same moment
        subprocess.Popen(
            [*command, f"u{i}", "--database", url],
            cwd=ROOT,
            env={**os.environ, **env},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outputs = [add.communicate(timeout=60) for add in adds]
    assert failures == []
    assert [add.returncode for add in adds] == [0, 0], outputs
    assert all(f"in postgresql://tqops@127.0.0.1:{postgres.port}/" in out for out, _ in outputs)
    store = Store(postgres.with_password(url))
    assert store.all("SELECT version FROM schema_version") == [{"version": len(MIGRATIONS)}]
    assert store.scalar("SELECT COUNT(*) FROM audit WHERE \"user\" = 'host'") == 4
    assert sorted(u["name"] for u in store.users()) == ["u0", "u1"]
    store.close()


@pytest.mark.slow
def test_a_write_lock_held_elsewhere_is_store_busy_after_the_timeout(postgres):
    import psycopg

    store, url = _pg_store(postgres, timeout=0.5)
    holder = psycopg.connect(url, autocommit=True)  # another host, in a long write
    try:
        holder.execute("BEGIN")
        holder.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        started = time.monotonic()
        with pytest.raises(StoreBusy) as caught:
            store.audit("host", "blocked", "it")
        assert 0.4 < time.monotonic() - started < 5
        message = str(caught.value)
        assert "stayed locked by another process for 0.5 s" in message
        assert TIMEOUT_VARIABLE in message and "\n" not in message
        assert postgres.password not in message and ":****@" in message
        assert answer_of(caught.value).status == 503
        assert store.job(1) is None  # reads go on meanwhile
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.audit("host", "after", "it")  # the store is not left stuck
    assert [r["action"] for r in store.audit_log()] == ["after"]
    store.close()
    wrong = url.replace(postgres.password, "not-the-password")
    with pytest.raises(StoreUnavailable, match="password authentication failed") as refused:
        Store(wrong)
    assert "not-the-password" not in str(refused.value)


@pytest.mark.slow
def test_threads_and_processes_share_the_postgresql_store_without_errors(postgres, tmp_path):
    """Test_store_concurrency's kind on PostgreSQL: bursts of MISP-like queries on threads
    that end, readers meanwhile, and `tqops users add` from other processes."""
    store, url = _pg_store(postgres)
    env = {"PGPASSWORD": postgres.password, "TQOPS_DATA": str(tmp_path / "unused")}
    plain = url.replace(f":{postgres.password}@", "@")
    with StoreLoad(store, analysts=3, readers=2, rounds=4, while_busy=False) as load:
        cli = [
            tqops("users", "add", f"user{i}", "--role", "viewer", "--database", plain, env=env)
            for i in range(2)
        ]
    errors, queries = load.errors, load.queries
    assert not errors, errors.most_common(3)
    assert [answer.returncode for answer in cli] == [0, 0], [a.stderr for a in cli]
    jobs = store.all("SELECT status, total, done FROM jobs")
    assert len(jobs) == queries == 120
    assert {(j["status"], j["total"], j["done"]) for j in jobs} == {("done", 1, 1)}
    assert store.scalar("SELECT COUNT(*) FROM results") == queries
    assert store.scalar("SELECT COUNT(*) FROM audit WHERE \"user\" = 'misp-modules'") == queries
    assert {u["name"] for u in store.users()} == {"user0", "user1"}
    store.close()


# -- `tqops users` and two `tqops serve` replicas on one database ------------------------------


def _login(host: RunningHost, name: str, password: str) -> dict[str, str]:
    """A console login on ``host``: its cookies."""
    browser = host.api()
    form = browser.get(f"{host.url}/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    answer = browser.post(
        f"{host.url}/console/login",
        data={"name": name, "password": password, "csrf": csrf.group(1), "next": "/console/"},
        allow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return dict(browser.cookies)


def _start_together(*hosts: RunningHost) -> None:
    """Start the hosts at once (each start waits for its host to answer)."""
    failed: list[BaseException] = []

    def start(host: RunningHost) -> None:
        try:
            host.start()
        except BaseException as exc:  # raised below, on the test's thread
            failed.append(exc)

    threads = [threading.Thread(target=start, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]


@pytest.mark.slow
def test_two_replicas_share_users_jobs_and_console_sessions(postgres, sim: TieSimulator, tmp_path):
    url = postgres.create_database()  # no password in it: PGPASSWORD holds it
    env = {
        "PGPASSWORD": postgres.password,
        "TQOPS_SECRET_KEY": Fernet.generate_key().decode(),  # the vault key both share
        "TQOPS_DATA": str(tmp_path / "unused"),
    }
    made = {}
    for name, role in (("admin", "admin"), ("ana", "analyst")):
        done = tqops("users", "add", name, "--role", role, "--database", url, "--format", "json",
                     env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        made[name] = json.loads(done.stdout)
    assert not (tmp_path / "unused").exists()
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
    one = RunningHost(tmp_path / "a" / "data", env=env, args=("--database", url))
    # the second given the URL, password and all, in TQOPS_DATABASE_URL
    whole = {**env, "TQOPS_DATABASE_URL": postgres.with_password(url)}
    two = RunningHost(tmp_path / "b" / "data", env=whole)
    with contextlib.ExitStack() as stack:
        for host in (one, two):
            stack.push(host)  # its __exit__ kills it
        _start_together(one, two)
        said = two.process.stdout.readline()
        assert f"store postgresql://tqops:****@127.0.0.1:{postgres.port}/" in said
        assert postgres.password not in said
        admin, analyst = made["admin"]["api_key"], made["ana"]["api_key"]
        configured = one.api(admin).put(
            f"{one.url}/api/v1/operations/dcso_tie/config", json={"values": tie_config(sim)}
        )
        assert configured.status_code == 200, configured.text
        values = ["www.microsoft.com", "paypa1-secure.com", "example.org"]
        body = {
            "operation": "dcso_tie",
            "action": "search",
            "inputs": [{"type": "FQDN", "value": v} for v in values],
        }
        # submitted to the second replica, which opens the configuration the first sealed
        queued = two.api(analyst).post(f"{two.url}/api/v1/jobs", json=body)
        assert queued.status_code in (200, 201, 202), queued.text
        job_id = queued.json()["id"]
        on_one = f"{one.url}/api/v1/jobs/{job_id}"
        finished = wait_for(
            lambda: (j := one.api(analyst).get(on_one).json())["status"] == "done" and j
        )
        assert (finished["total"], finished["done"], finished["failed"]) == (3, 3, 0)
        results = one.api(analyst).get(f"{on_one}/results?limit=10").json()["results"]
        assert (
            results
            == two.api(analyst)
            .get(f"{two.url}/api/v1/jobs/{job_id}/results?limit=10")
            .json()["results"]
        )
        assert [r["status"] for r in results] == ["ok", "no_results", "no_results"]
        # the job's server-sent events come from the store: the other replica streams them too
        events = one.api(analyst).get(f"{on_one}/events", timeout=20).text
        assert "event: end" in events and '"status": "done"' in events
        assert sorted(r.query["value"][0] for r in sim.requests if "value" in r.query) == sorted(
            values
        )
        # a console session opened on one replica is valid on the other
        cookies = _login(one, "ana", made["ana"]["password"])
        start = two.api().get(f"{two.url}/console/", cookies=cookies, allow_redirects=False)
        assert (start.status_code, start.headers["location"]) == (303, "/console/indicators")
        stranger = two.api().get(f"{two.url}/console/", allow_redirects=False)
        assert stranger.headers["location"] == "/console/login"
        # and both see the users `tqops users` made and what the other audited
        for host in (one, two):
            assert host.api(admin).get(f"{host.url}/api/v1/me").json()["name"] == "admin"
        audit = two.api(admin).get(f"{two.url}/api/v1/audit").json()["audit"]
        done_by = {(r["user"], r["action"], r["target"]) for r in audit}
        assert {("cli", "user-add", "admin"), ("cli", "user-add", "ana")} <= done_by
        assert ("admin", "configure", "dcso_tie") in done_by  # on the first replica
    for side in ("a", "b"):  # the data directories hold no store: the database does
        kept = {p.name: p.stat().st_size for p in (tmp_path / side / "data").glob("tqops.db*")}
        assert kept in ({}, {"tqops.db": 0}), kept  # (an empty file made private ahead)


@pytest.mark.slow
def test_connections_the_server_ended_while_idle_are_replaced_not_errors(postgres):
    """A restarted or failed-over server ends every pooled connection: the next calls open
    new ones instead of answering 503 once per pooled connection."""
    store, url = _pg_store(postgres)
    name = url.rsplit("/", 1)[1]
    store.audit("host", "warm", "it")
    taken = [store._take() for _ in range(3)]  # three calls at once: three connections
    for conn in taken:
        store._give(conn, broken=False)
    assert len(store._idle) == 3
    postgres.admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    wait_for(lambda: not postgres.query(f"SELECT 1 FROM pg_stat_activity WHERE datname = '{name}'"))
    assert len(store.audit_log()) == 1
    store.audit("host", "after", "it")
    assert store.scalar("SELECT COUNT(*) FROM audit") == 2
    assert len(store._idle) == 1  # the ended ones were closed, one new one serves
    store.close()


@pytest.mark.slow
def test_the_password_may_come_from_a_password_file(postgres, tmp_path):
    url = postgres.create_database()
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:*:tqops:{postgres.password}\n")
    passfile.chmod(0o600)
    store = Store(f"{url}?passfile={passfile}")
    store.audit("host", "opened", "it")
    assert store.audit_log()[0]["action"] == "opened"
    assert postgres.password not in repr(store) and str(passfile) in repr(store)
    store.close()
