"""What the console's indicator pages read, without a browser: the list sorted by TLP as TLP
orders it, an indicator's enrichment history by id and by value, the search of stored
results (any case, wildcards taken literally, non-ASCII as JSON stores it, bounded), and
"Add to platform" counting attributes, carrying TLP and refusing what the checks refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.inprocess import finished
from tests.support.postgres import Cluster, postgres  # noqa: F401 - the fixture
from tests.support.vendors import tie_config
from tqops.server.host import Host
from tqops.server.store import Store
from tqops.server.store import indicators as records

PASSWORD = "a password long enough"
#: a record in the TIE simulator's data: its look-up finds it and four related names, one of
#: them an "FQDN" holding "/"
SEARCHED = "microsoft.com"
SLASHED = "www.microsoft.com/software-download.trillium.cam"


@pytest.fixture(params=("sqlite", pytest.param("postgresql", marks=pytest.mark.slow)))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each engine (on PostgreSQL a new database of the session's cluster)."""
    if request.param == "sqlite":
        opened = Store(tmp_path / "tqops.db")
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        opened = Store(cluster.with_password(cluster.create_database()))
    yield opened
    opened.close()


def _job(store: Store, inputs: list[tuple[str, str, str, object]], results: list[dict]) -> int:
    job_id = store.create_job(
        {"operation": "dcso_tie", "action": "search", "options": {}}, inputs, "ana"
    )
    for seq, result in enumerate(results):
        store.save_results(job_id, [seq], result.get("status", "ok"), json.dumps(result))
    return job_id


def test_the_list_sorts_tlp_by_strictness_and_values_either_way(store):
    levels = ["GREEN", "RED", "CLEAR", "AMBER+STRICT", "AMBER"]
    store.add_indicators([("FQDN", f"v{n}.example", t, "", "x") for n, t in enumerate(levels)], "a")
    _, rows = store.indicators(None, None, 0, 10, "tlp", descending=True)
    assert [r["tlp"] for r in rows] == ["RED", "AMBER+STRICT", "AMBER", "GREEN", "CLEAR"]
    _, rows = store.indicators(None, None, 0, 10, "added", descending=True)
    assert rows[0]["value"] == "v4.example"  # newest first
    _, rows = store.indicators(None, None, 0, 2, "value", descending=False)
    assert [r["value"] for r in rows] == ["v0.example", "v1.example"]
    _, rows = store.indicators(None, None, 0, 10, "'; DROP TABLE indicators; --")
    assert len(rows) == 5  # an unknown sort is the default, never SQL


def test_history_finds_jobs_by_id_and_by_type_and_value_newest_first(store):
    ((indicator_id, _),) = store.add_indicators([("FQDN", "h.example", "AMBER", "", "a")], "a")
    verdict = {"level": "malicious", "score": 90, "reasons": []}
    by_id = _job(store, [("FQDN", "h.example", "AMBER", indicator_id)], [{"verdict": verdict}])
    by_value = _job(store, [("FQDN", "other.example", "AMBER", None),
                            ("FQDN", "h.example", "AMBER", None)], [{}])  # fmt: skip
    _job(store, [("URL", "h.example", "AMBER", None)], [])  # another type: not this one
    rows = store.indicator_history(indicator_id, "FQDN", "h.example")
    assert [(r["job_id"], r["seq"]) for r in rows] == [(by_value, 1), (by_id, 0)]
    assert rows[0]["status"] is None  # its result has not come yet
    assert json.loads(rows[1]["result"])["verdict"]["level"] == "malicious"


def test_the_search_reads_results_as_stored_bounded_and_paged(store, monkeypatch):
    found = {"indicators": [{"type": "FQDN", "value": "Qakbot-C2.example"}]}
    unicode = {"indicators": [{"type": "Filename", "value": "Rechnung_Ü.exe"}]}
    wild = {"indicators": [{"type": "Mutex", "value": "a_b%c"}]}
    first = _job(store, [("FQDN", "x.example", "AMBER", None)] * 3, [found, unicode, wild])
    second = _job(store, [("FQDN", "y.example", "AMBER", None)], [found])
    total, stopped, rows = store.search_results("QAKBOT", 0, 10)
    assert (total, stopped) == (2, False)
    assert [r["job_id"] for r in rows] == [second, first]  # newest job first
    assert [r["job_id"] for r in store.search_results("qakbot", 1, 1)[2]] == [first]
    assert store.search_results("rechnung_ü", 0, 10)[0] == 1  # stored as \u00dc
    assert store.search_results("_Ü.EXE", 0, 10)[0] == 1
    assert store.search_results("a_b%c", 0, 10)[0] == 1
    assert store.search_results("a%c", 0, 10)[0] == 0  # % is a character, not a wildcard
    monkeypatch.setattr(records, "SEARCH_LIMIT", 1)
    total, stopped, rows = store.search_results("qakbot", 0, 10)
    assert (total, stopped, [r["job_id"] for r in rows]) == (1, True, [second])


def test_add_attributes_counts_the_new_ones_and_keeps_their_tlp_and_job(store):
    ((indicator_id, _),) = store.add_indicators([("FQDN", "a.example", "AMBER", "", "a")], "a")
    attributes = [("Severity", "4", None), ("Family", "qakbot", "2020-01-01T00:00:00Z")]
    assert store.add_attributes(indicator_id, attributes, "DCSO TIE", "RED", 7) == 2
    assert store.add_attributes(indicator_id, attributes, "DCSO TIE", "RED", 8) == 0
    rows = store.indicator_attributes_stored(indicator_id)
    assert {(r["name"], r["tlp"], r["job_id"]) for r in rows} == {
        ("Severity", "RED", 7), ("Family", "RED", 7)}  # fmt: skip


@pytest.fixture()
def host(tmp_path, tie):
    found = Host(tmp_path / "data")
    admin = found.users.add("admin", "admin", PASSWORD)
    found.admin = found.users.by_key(admin.api_key)  # type: ignore[attr-defined]
    found.set_config("dcso_tie", tie_config(tie), found.admin)  # type: ignore[attr-defined]
    yield found
    found.stop()


def test_add_to_platform_refuses_what_the_checks_refuse_and_counts_attributes(host):
    inputs = [{"type": "FQDN", "value": SEARCHED, "tlp": "GREEN"}]
    job = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    _, (row,) = host.store.results(job["id"], None, 0, 1)
    found = json.loads(row["result"])["indicators"]
    assert SLASHED in {f["value"] for f in found}  # the vendor did send it
    done = host.import_summary(job["id"], None, host.admin)
    assert done["refused"] == 1
    assert done["new"] == len(found) - 1 == len(done["indicators"])
    assert host.store.indicators(None, "/", 0, 10)[0] == 0
    stored = [host.store.indicator(i) for i in done["indicators"]]
    assert {s["tlp"] for s in stored} == {"AMBER"}  # the search's GREEN, the default AMBER
    expected = sum(len({(a["name"], a["value"]) for a in f["attributes"]}) for f in found
                   if f["value"] != SLASHED)  # fmt: skip
    assert done["attributes"] == expected > 0
    again = host.import_summary(job["id"], None, host.admin)
    assert (again["new"], again["attributes"]) == (0, 0)  # nothing twice
    one = host.import_summary(job["id"], [0], host.admin, only=("FQDN", found[0]["value"]))
    assert len(one["indicators"]) == 1
    assert host.import_results(job["id"], None, host.admin) == 0  # the REST API's answer
