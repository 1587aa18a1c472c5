"""`skipped`, the fourth status: an input policy keeps from the vendor (a type the action does
not take, a private or reserved address, a value the vendor cannot look up, a TLP above the
operation's maximum) is skipped with a one-line reason, costs no request and is no failure;
a malformed value stays an error. Counted at the loopback simulators."""

from __future__ import annotations

import json
import re
import sqlite3
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's testclient deprecation notice
    from fastapi.testclient import TestClient

from simulators import TegoSimulator
from tego_operation.client import TegoClient
from tests.support.cli import cli, flags, one_input
from tests.support.hosting import api_client
from tests.support.inprocess import finished, threatq_execute, unstarted
from tests.support.vendors import tego_config, tie_config
from tqops import Indicator, IndicatorType, InputError, PolicySkip, Result, Selection, Status
from tqops.running.results import ProgressCounter
from tqops.server.api import misp
from tqops.server.host import Host
from tqops.server.store import Store
from tqops.server.store.migrations import MIGRATIONS

PASSWORD = "a password long enough"


def run_tego(sim: TegoSimulator, rows: str, tmp_path: Path, capsys, fmt: str = "json"):
    given = tmp_path / "inputs.csv"
    given.write_text("type,value\n" + rows)
    config = flags("--config", tego_config(sim))
    return cli("run", "tego", "search", "--input", str(given), *config, "--format", fmt,
               capsys=capsys)  # fmt: skip


# -- the runtime and the CLI ------------------------------------------------------------------


def test_policy_skips_are_skipped_with_a_reason_send_nothing_and_exit_0(tego_sim, tmp_path, capsys):
    rows = "IP Address,10.1.2.3\nEmail Address,a@example.com\nFQDN,unknown-site.org\n"
    code, out, _ = run_tego(tego_sim, rows, tmp_path, capsys)
    assert code == 0  # skips alone are no failure
    results = json.loads(out)["results"]
    assert [r["status"] for r in results] == ["skipped", "skipped", "no_results"]
    private, email, looked_up = results
    assert "is a private address" in private["reason"] and private["error"] is None
    assert "does not take Email Address" in email["reason"]
    assert looked_up["reason"] is None and "reason" in looked_up  # in the contract, null
    assert all("\n" not in r["reason"] for r in (private, email))
    assert len(tego_sim.requests) == 1  # only the look-up of the FQDN was sent
    assert tego_sim.requests[0].query["value"] == ["unknown-site.org"]


def test_an_error_among_skips_still_exits_1(tego_sim, tmp_path, capsys):
    code, out, _ = run_tego(tego_sim, "IP Address,127.0.0.1\nMD5,nothex\n", tmp_path, capsys)
    assert code == 1
    skipped, malformed = json.loads(out)["results"]
    assert skipped["status"] == "skipped" and "loopback" in skipped["reason"]
    # an analyst's typo is not policy: an error, named
    assert malformed["status"] == "error" and "expected 32 hexadecimal" in malformed["error"]
    assert malformed["reason"] is None
    assert tego_sim.requests == []


def test_the_table_shows_a_skip_with_its_reason_and_counts_it_apart(tego_sim, tmp_path, capsys):
    rows = "IP Address,192.168.1.1\nFQDN,unknown-site.org\n"
    code, out, _ = run_tego(tego_sim, rows, tmp_path, capsys, fmt="table")
    assert code == 0
    assert "skipped" in out and "private address" in out
    assert "2 input(s): 0 ok, 1 no results, 1 skipped, 0 error(s)" in out


def test_a_type_tie_does_not_take_is_skipped_and_nothing_is_sent(sim, capsys):
    code, out, _ = cli(
        *one_input("dcso_tie", "CIDR Block", "10.0.0.0/8"), *flags("--config", tie_config(sim)),
        "--format", "jsonl", capsys=capsys,
    )  # fmt: skip
    assert code == 0
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["status"] == "skipped" and "does not take CIDR Block" in line["reason"]
    assert sim.requests == []


def test_a_value_tego_cannot_look_up_is_a_policy_skip_an_input_error_for_old_callers():
    with pytest.raises(PolicySkip, match="Tego cannot look up Email Address indicators"):
        TegoClient.build_query(Indicator("a@example.com", IndicatorType.EMAIL_ADDRESS))
    assert issubclass(PolicySkip, InputError)
    with pytest.raises(InputError, match="not a valid IPv4") as raised:  # malformed: no skip
        TegoClient.build_query(Indicator("300.1.1.1", IndicatorType.IP_ADDRESS))
    assert not isinstance(raised.value, PolicySkip)


def test_progress_counts_skips_apart_from_failures():
    counter = ProgressCounter(total=3)
    given = Selection("FQDN", "x.example")
    counter.add(Result(given, Status.SKIPPED, reason="policy"))
    counter.add(Result(given, Status.ERROR, error="broken"))
    progress = counter.add(Result(given, Status.OK))
    assert (progress.done, progress.failed, progress.skipped) == (3, 1, 1)
    assert Result(given, Status.SKIPPED, reason="policy").to_dict()["reason"] == "policy"


# -- the host: TLP gate, counts, REST results, resume, protocols --------------------------------


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie):
    found = Host(tmp_path_factory.mktemp("skipped-host"))
    admin = found.users.add("admin", "admin", PASSWORD)
    found.users.add("ana", "analyst", PASSWORD)
    found.set_config("dcso_tie", tie_config(tie), found.users.by_key(admin.api_key))
    found.admin = found.users.by_key(admin.api_key)
    found.set_settings("dcso_tie", {"cache_ttl": 0}, found.admin)  # every look-up is sent
    return found


@pytest.fixture(scope="module")
def client(host):
    with api_client(host, "ana") as test_client:
        yield test_client


def test_a_tlp_red_input_is_skipped_by_stored_id_and_inline(host, tie):
    (stored,) = host.add_indicators(
        [{"type": "FQDN", "value": "red-stored.example", "tlp": "RED"}], host.admin
    )
    tie.clear_requests()
    inline = [{"type": "FQDN", "value": "red-inline.example", "tlp": "RED"}]
    by_id = finished(
        host, host.create_job("dcso_tie", "search", {}, [stored["id"]], None, host.admin)
    )
    given = finished(host, host.create_job("dcso_tie", "search", {}, None, inline, host.admin))
    for job in (by_id, given):
        assert (job["done"], job["failed"], job["skipped"]) == (1, 0, 1)
        _, (row,) = host.store.results(job["id"], None, 0, 10)
        result = json.loads(row["result"])
        assert row["status"] == result["status"] == "skipped"
        assert result["reason"] == "its TLP RED is above DCSO TIE's maximum, AMBER"
    assert tie.requests == []


def test_the_rest_views_give_skipped_counts_and_reasons(host, client, tie):
    tie.clear_requests()
    inputs = [
        {"type": "FQDN", "value": "gate-red.example", "tlp": "RED"},
        {"type": "CIDR Block", "value": "10.0.0.0/8", "tlp": "GREEN"},
        {"type": "FQDN", "value": "rest-sent.example", "tlp": "GREEN"},
    ]
    body = {"operation": "dcso_tie", "action": "search", "inputs": inputs}
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    finished(host, answer.json())
    view = client.get(f"/api/v1/jobs/{answer.json()['id']}").json()
    assert (view["done"], view["failed"], view["skipped"]) == (3, 0, 2)
    page = client.get(f"/api/v1/jobs/{view['id']}/results?status=skipped").json()
    reasons = [r["reason"] for r in page["results"]]
    assert page["total"] == 2 and "above DCSO TIE's maximum" in reasons[0]
    assert "does not take CIDR Block" in reasons[1]
    assert len(tie.requests) == 1  # only rest-sent.example reached the vendor


def test_resume_leaves_skipped_inputs_alone(host, tie):
    inputs = [
        {"type": "FQDN", "value": "resume-red.example", "tlp": "RED"},
        {"type": "FQDN", "value": "resume-sent.example", "tlp": "GREEN"},
    ]
    job = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    # as a stop would leave it: the sent input without its result, the job interrupted
    with host.store.transaction() as conn:
        conn.execute("DELETE FROM results WHERE job_id = ? AND seq = 1", (job["id"],))
        conn.execute(
            "UPDATE job_inputs SET answered = 0 WHERE job_id = ? AND seq = 1", (job["id"],)
        )
        conn.execute("UPDATE jobs SET done = done - 1 WHERE id = ?", (job["id"],))
    host.store.set_job(job["id"], status="interrupted")
    tie.clear_requests()
    resumed = finished(host, host.resume(job["id"], host.admin))
    assert resumed["status"] == "done"
    assert (resumed["done"], resumed["failed"], resumed["skipped"]) == (2, 0, 1)
    assert len(tie.requests) == 1  # the one without a result, not the skipped one
    _, rows = host.store.results(job["id"], None, 0, 10)
    assert [row["status"] for row in rows] == ["skipped", "no_results"]


def test_misp_answers_a_skip_with_empty_results_and_the_reason(host, tie):
    host.set_settings("dcso_tie", {"misp_allowed": True}, host.admin)
    tie.clear_requests()
    attribute = {"type": "domain", "value": "misp-red.example", "Tag": [{"name": "tlp:red"}]}
    with TestClient(misp.create_app(host), base_url="http://127.0.0.1") as modules:
        answer = modules.post(
            "/query", json={"module": "dcso_tie_search", "attribute": attribute}
        ).json()
    assert "error" not in answer
    assert answer["results"]["Attribute"] == []  # nothing found; no uuid given to tag
    (verdict,) = answer["results"]["Object"]  # the verdict's annotation says the skip
    text = next(a["value"] for a in verdict["Attribute"] if a["object_relation"] == "text")
    assert text.splitlines()[:2] == [
        "DCSO TIE verdict: unknown",
        f"Skipped, nothing was sent: {answer['skipped']}",
    ]
    assert answer["skipped"].startswith("its TLP RED is above")
    assert tie.requests == []


def test_threatq_execute_answers_a_skip_with_its_reason_not_an_error(host, client, tie):
    (red,) = host.add_indicators(
        [{"type": "FQDN", "value": "threatq-red.example", "tlp": "RED"}], host.admin
    )
    tie.clear_requests()
    data = threatq_execute(host, "dcso_tie", red["id"], "ana", PASSWORD)
    assert (data["status"], data["data"]) == ("skipped", [])
    assert data["reason"] == "its TLP RED is above DCSO TIE's maximum, AMBER"
    assert tie.requests == []


def test_the_console_shows_skips_apart_from_errors(host, client, tie):
    inputs = [
        {"type": "FQDN", "value": "console-red.example", "tlp": "RED"},
        {"type": "FQDN", "value": "console-sent.example", "tlp": "GREEN"},
    ]
    job = finished(host, host.create_job("dcso_tie", "search", {}, None, inputs, host.admin))
    with unstarted(host) as console:
        page = console.get("/console/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"name": "ana", "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
        assert console.post("/console/login", data=form, follow_redirects=False).is_redirect
        shown = console.get(f"/console/jobs/{job['id']}").text
        only = console.get(f"/console/jobs/{job['id']}?status=skipped").text
    assert "Skipped (1)" in shown and "Errors (0)" in shown
    assert re.search(r"Skipped <strong>1</strong>", shown)
    assert "Skipped: its TLP RED is above DCSO TIE&#39;s maximum, AMBER" in only
    assert "console-sent.example" not in only and "console-red.example" in only


def test_the_migration_counts_the_skips_a_store_already_holds(tmp_path):
    path = tmp_path / "tqops.db"
    with sqlite3.connect(path) as conn:  # a store of the schema before skipped was counted
        for number, migration in enumerate(MIGRATIONS[:2]):
            conn.executescript(migration + f";PRAGMA user_version = {number + 1};")
        conn.execute(
            "INSERT INTO jobs (id, operation, action, options, status, total, done, created_by,"
            " created_at) VALUES (1, 'tego', 'search', '{}', 'done', 3, 3, 'ana', 'then')"
        )
        conn.executemany(
            "INSERT INTO results (job_id, seq, status, result) VALUES (1, ?, ?, '{}')",
            [(0, "skipped"), (1, "skipped"), (2, "ok")],
        )
    conn.close()
    store = Store(path)
    try:
        assert store.scalar("PRAGMA user_version") == len(MIGRATIONS)
        assert store.job(1)["skipped"] == 2
    finally:
        store.close()


def test_internal_addresses_never_leave_for_any_vendor(tie, tmp_path, capsys):
    """The runtime's own policy (no vendor code): DCSO TIE gets no private, shared, loopback or
    link-local address; a documentation range stands for a public address and is sent."""
    tie.clear_requests()
    given = tmp_path / "inputs.csv"
    given.write_text(
        "type,value\nIP Address,10.0.0.1\nIP Address,127.0.0.1\nIPv6 Address,fd00::1\n"
        "IPv6 Address,fe80::1\nIP Address,100.64.0.1\nIPv6 Address,::ffff:192.168.1.1\n"
        "IP Address,203.0.113.7\n"
    )
    config = flags("--config", tie_config(tie))
    code, out, _ = cli("run", "dcso_tie", "search", "--input", str(given), *config,
                       "--format", "json", capsys=capsys)  # fmt: skip
    assert code == 0
    results = json.loads(out)["results"]
    told = [(r["status"], r["reason"]) for r in results]
    assert [status for status, _ in told] == ["skipped"] * 6 + ["ok"]
    for (_, reason), what in zip(
        told, ("a private", "a loopback", "a private", "a link-local", "a shared", "a private")
    ):
        assert f"is {what} address" in reason and "public addresses only" in reason
    assert [r["verdict"]["level"] for r in results[:6]] == ["unknown"] * 6
    sent = [r.query.get("value", [""])[0] for r in tie.requests]
    assert sent == ["203.0.113.7"]


def test_an_action_may_look_up_internal_addresses_when_its_manifest_says_so(tie):
    """`private_addresses: look_up` (a vendor inside the network) sends them."""
    import attrs

    from dcso_tie_operation import OPERATION

    tie.clear_requests()
    spec = OPERATION.manifest.action("search")
    for policy, sent in (("skip", []), ("look_up", ["10.0.0.1"])):
        tie.clear_requests()
        changed = attrs.evolve(spec, private_addresses=policy)
        actions = tuple(changed if a.name == "search" else a for a in OPERATION.manifest.actions)
        manifest = attrs.evolve(OPERATION.manifest, actions=actions)
        operation = attrs.evolve(OPERATION, manifest=manifest)
        with operation.configure(tie_config(tie)) as configured:
            (result,) = configured.run("search", {}, [("IP Address", "10.0.0.1")])
        assert result.status == (Status.SKIPPED if policy == "skip" else Status.NO_RESULTS)
        assert [r.query.get("value", [""])[0] for r in tie.requests] == sent


def test_a_csv_row_above_the_runs_maximum_tlp_is_skipped_and_never_sent(tie, tmp_path, capsys):
    """`tqops run --input` reads the CSV's tlp column: above --max-tlp (default AMBER, as the
    host's) a row is skipped with its reason; a TLP that is no level is that row's error."""
    given = tmp_path / "inputs.csv"
    given.write_text(
        "type,value,tlp\nFQDN,red.example,RED\nFQDN,strict.example,amber+strict\n"
        "FQDN,www.microsoft.com,TLP:GREEN\nFQDN,blank.example,\nFQDN,odd.example,PURPLE\n"
    )
    config = flags("--config", tie_config(tie))
    for limit, skipped in ((None, 2), ("AMBER+STRICT", 1), ("RED", 0)):
        tie.clear_requests()
        chosen = ("--max-tlp", limit) if limit else ()
        code, out, _ = cli("run", "dcso_tie", "search", "--input", str(given), *config,
                           *chosen, "--format", "json", capsys=capsys)  # fmt: skip
        results = json.loads(out)["results"]
        assert code == 1  # the PURPLE row is an error
        statuses = [r["status"] for r in results]
        assert statuses.count("skipped") == skipped
        odd = results[-1]
        assert odd["status"] == "error" and "unknown TLP 'PURPLE'" in odd["error"]
        if limit is None:
            assert results[0]["reason"] == "its TLP RED is above the run's maximum, AMBER"
        sent = sorted(r.query.get("value", [""])[0] for r in tie.requests)
        assert "red.example" not in sent or limit == "RED"
        assert "odd.example" not in sent and len(sent) == 5 - 1 - skipped
    code, _, err = cli("run", "dcso_tie", "search", "--input", str(given), *config,
                       "--max-tlp", "BLUE", capsys=capsys)  # fmt: skip
    assert code == 2 and "unknown TLP 'BLUE'" in err and len(err.splitlines()) == 1
