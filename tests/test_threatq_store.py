"""What the store keeps for ThreatQ's indicator API, on SQLite and PostgreSQL: a job's verdict
gives the stored indicators its inputs are their status and score (an allow-listed one keeps
its status), queries built from clients' criteria, and the feed's positions: every change
once, oldest first."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import Cluster
from tqops.server.store import Store
from tqops.server.store.indicators import Group, Match
from tqops.server.store.migrations import MIGRATIONS

ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))
LATER = "9999-12-31T23:59:59Z"


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store(tmp_path / "tqops.db")
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        opened = Store(cluster.with_password(cluster.create_database()))
    yield opened
    opened.close()


def add(store, *values, kind="FQDN"):
    return [i for i, _ in store.add_indicators([(kind, v, "GREEN", "", "t") for v in values], "a")]


def job(store, inputs):
    run = {"operation": "dcso_tie", "action": "search", "options": {}}
    return store.create_job(run, inputs, "ana")


def verdict(level, score, status="ok"):
    return {"status": status, "verdict": {"level": level, "score": score, "reasons": []}}


def test_a_jobs_verdict_gives_the_indicators_it_judged_their_status_and_score(store):
    queued, inline, kept, untouched = add(store, "q.example", "i.example", "w.example", "u.ex")
    store.set_indicator_status(kept, "Whitelisted")
    job_id = job(
        store,
        [
            ("FQDN", "q.example", "GREEN", queued),  # queued from the stored indicator
            ("FQDN", "i.example", "GREEN", None),  # given inline: the stored one of its value
            ("FQDN", "w.example", "GREEN", kept),
            ("FQDN", "not-stored.example", "GREEN", None),
        ],
    )
    assert store.judge_inputs(job_id, [0, 1, 2, 3], verdict("malicious", 84.5)) == 3
    rows = {i: store.indicator(i) for i in (queued, inline, kept, untouched)}
    assert [(rows[i]["status"], rows[i]["verdict"], rows[i]["score"]) for i in rows] == [
        ("Active", "malicious", 85),
        ("Active", "malicious", 85),
        ("Whitelisted", "malicious", 85),  # an admin's allow-list is not overridden
        (None, None, None),
    ]
    # an error or a skip judges nothing; the latest verdict replaces an earlier one
    assert store.judge_inputs(job_id, [0], verdict("malicious", 99, status="error")) == 0
    assert store.judge_inputs(job_id, [0], verdict("benign", None)) == 1
    assert (store.indicator(queued)["status"], store.indicator(queued)["score"]) == ("Review", None)
    # no evidence either way (nothing found) is no judgement: the status stands
    store.set_indicator_status(queued, "Active")
    assert store.judge_inputs(job_id, [0], verdict("unknown", None, "no_results")) == 0
    assert store.indicator(queued)["status"] == "Active"
    assert store.judge_inputs(job_id, [0], {"status": "ok", "verdict": None}) == 0


def test_queries_match_values_case_insensitively_and_escape_wildcards(store):
    ids = add(store, "Mixed.Example", "100%_sure.example", "100x_sure.example")
    (url,) = add(store, "http://mixed.example/a", kind="URL")
    store.set_indicator_status(ids[2], "Active")

    def found(condition, order="id"):
        return [r["id"] for r in store.find_indicators(condition, order, 0, 100)[1]]

    assert found(Match("value", "eq", "mixed.example")) == [ids[0]]
    assert found(Match("value", "contains", "0%_S")) == [ids[1]]
    assert found(Match("value", "contains", "MIXED")) == [ids[0], url]
    assert found(Group("AND", (Match("value", "contains", "mixed"), Match("type", "eq", "URL"))))
    assert found(Match("status", "eq", "Review")) == [ids[0], ids[1], url]  # none given
    assert found(Match("status", "ne", "Review")) == [ids[2]]
    either = Group("OR", (Match("id", "in", [ids[0], url]), Match("status", "eq", "Active")))
    assert found(either, "-id") == [url, ids[2], ids[0]]
    assert found(Match("id", "in", [])) == [] and found(Group("OR", ())) == []
    total, page = store.find_indicators(None, "-id", 1, 2)
    assert total == 4 and [r["id"] for r in page] == [ids[2], ids[1]]


def test_the_feed_sends_each_change_once_after_its_position(store):
    first = add(store, "a.example", "b.example", "c.example")
    total, rows = store.changed_indicators(None, None, LATER, 2)
    assert total == 3 and [r["id"] for r in rows] == first[:2]
    position = (rows[-1]["updated_at"], rows[-1]["id"])
    assert [r["id"] for r in store.changed_indicators(None, position, LATER, 10)[1]] == first[2:]
    # not yet settled: a change later than ``until`` waits for the next poll
    assert store.changed_indicators(None, None, "2000-01-01T00:00:00Z", 10)[1] == []
    with store.transaction() as conn:  # an earlier-created one changes later: sent again
        conn.execute("UPDATE indicators SET updated_at = ? WHERE id = ?", (LATER, first[0]))
    last = store.changed_indicators(None, position, LATER, 10)[1]
    assert [r["id"] for r in last] == [first[2], first[0]]
    active = Match("status", "eq", "Active")
    assert store.changed_indicators(active, None, LATER, 10) == (0, [])
    store.add_attributes(first[1], [("seen", "yes", None)], "t")  # a new attribute: a change
    store.add_attributes(first[1], [("seen", "yes", None)], "t")
    assert store.indicator(first[1])["updated_at"] >= store.indicator(first[2])["updated_at"]
    assert store.attributes_of([first[1], first[2]]) == {
        first[1]: [{"name": "seen", "value": "yes", "published_at": None, "source": "t"}],
        first[2]: [],
    }


def test_indicators_stored_before_the_migration_changed_when_they_were_created(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        for number, migration in enumerate(MIGRATIONS[:5]):
            old.executescript(migration)
            old.execute(f"PRAGMA user_version = {number + 1}")
        old.execute(
            "INSERT INTO indicators (type, value, tlp, created_at) "
            "VALUES ('FQDN', 'old.example', 'GREEN', '2024-01-02T03:04:05Z')"
        )
    old.close()
    store = Store(path)
    try:
        row = store.find_indicators(None, "id", 0, 1)[1][0]
        assert (row["updated_at"], row["status"], row["score"]) == (
            "2024-01-02T03:04:05Z",
            None,
            None,
        )
        assert store.scalar("PRAGMA user_version") == len(MIGRATIONS)
    finally:
        store.close()
