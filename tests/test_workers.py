"""Workers share the jobs of one store: claims of slices under leases, the fair choice between
users, a dead worker's inputs carried on by another with exactly one result each, and every
vendor's rate kept by all workers together. On a real SQLite file and a real PostgreSQL, with
real ``tqops worker`` and ``tqops serve`` processes and the simulator over TLS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from simulators import TieSimulator
from tests.support.hosting import ROOT, RunningHost, add_user, wait_for
from tqops.server.store import Store

TOKEN = "workers-token-5d2e"
USER_A, USER_B = "analyst-a", "analyst-b"


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "tqops.db")
    return store


def _job(store: Store, user: str, values: list[str]) -> int:
    run = {"operation": "dcso_tie", "action": "search", "options": {}}
    return store.create_job(run, [("FQDN", v, "AMBER", None) for v in values], user)


def _answer(store: Store, job_id: int, inputs: list[dict[str, Any]]) -> int:
    stored = 0
    for row in inputs:
        payload = {"status": "no_results", "input": {"type": row["type"], "value": row["value"]}}
        stored += store.save_results(job_id, [row["seq"]], "no_results", json.dumps(payload))
    return stored


# -- claims, on the store ----------------------------------------------------------------------


def test_claims_never_share_an_input_and_a_value_goes_to_one_claim(tmp_path):
    store = _store(tmp_path)
    values = [f"v{i % 40}.example" for i in range(100)]  # 40 values, most of them repeated
    job_id = _job(store, USER_A, values)
    seen: list[int] = []
    by_value: dict[str, str] = {}
    worker = 0
    while (claim := store.claim(f"w{worker % 3}", 8, 30.0)) is not None:
        worker += 1
        assert len({(r["type"], r["value"]) for r in claim["inputs"]}) <= 8
        for row in claim["inputs"]:
            assert by_value.setdefault(row["value"], claim["token"]) == claim["token"]
            seen.append(row["seq"])
    assert sorted(seen) == list(range(100))  # every input once, in 5 claims of 8 values
    assert worker == 5
    assert store.job(job_id)["status"] == "running"


def test_another_users_small_job_is_served_before_a_big_job_ends(tmp_path):
    store = _store(tmp_path)
    big = _job(store, USER_A, [f"a{i}.example" for i in range(1000)])
    first = store.claim("w1", 16, 30.0)
    assert first["job"]["id"] == big
    small = _job(store, USER_B, [f"b{i}.example" for i in range(10)])
    second = store.claim("w1", 16, 30.0)
    assert second["job"]["id"] == small  # not after A's remaining 984 inputs
    assert _answer(store, small, second["inputs"]) == 10
    assert store.job(small)["status"] == "done"
    assert store.claim("w1", 16, 30.0)["job"]["id"] == big


def test_an_expired_lease_is_claimed_again_and_a_late_answer_is_not_stored_twice(tmp_path):
    store = _store(tmp_path)
    job_id = _job(store, USER_A, [f"x{i}.example" for i in range(5)])
    dead = store.claim("dead-worker", 16, 0.2)
    assert store.claim("live-worker", 16, 30.0) is None  # held while the lease runs
    time.sleep(0.3)
    carried = store.claim("live-worker", 16, 30.0)
    assert [r["seq"] for r in carried["inputs"]] == [0, 1, 2, 3, 4]
    assert _answer(store, job_id, carried["inputs"]) == 5
    assert _answer(store, job_id, dead["inputs"]) == 0  # the dead one's call came back late
    job = store.job(job_id)
    assert (job["status"], job["done"], job["total"]) == ("done", 5, 5)
    assert store.scalar("SELECT COUNT(*) FROM results WHERE job_id = ?", (job_id,)) == 5


def test_a_cancelled_job_is_not_claimed_and_a_released_claim_is(tmp_path):
    store = _store(tmp_path)
    job_id = _job(store, USER_A, ["c1.example", "c2.example"])
    claim = store.claim("w1", 1, 30.0)
    assert store.renew(claim["token"], 30.0) == "running"
    store.release(claim["token"])
    again = store.claim("w2", 1, 30.0)
    assert again["inputs"] == claim["inputs"]
    assert store.end_job(job_id, "cancelled")
    assert store.renew(again["token"], 30.0) == "cancelled"  # its worker stops
    assert store.claim("w3", 10, 30.0) is None
    assert not store.end_job(job_id, "failed")  # ended already


def test_the_pace_is_one_for_every_worker_of_a_store(tmp_path):
    stores = [_store(tmp_path) for _ in range(3)]  # three processes' connections, one file
    slots = [stores[i % 3].pace("vendor.example:443", 0.05) for i in range(30)]
    gaps = [b - a for a, b in zip(slots, slots[1:])]
    assert min(gaps) == pytest.approx(0.05)


# -- worker processes ----------------------------------------------------------------------------


class Workers:
    """``tqops worker`` processes on one store, each a process of its own."""

    def __init__(self, data: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.data, self.env, self.args = data, env, args
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, count: int, concurrency: int) -> None:
        for _ in range(count):
            process = subprocess.Popen(
                [sys.executable, "-m", "tqops.cli", "worker", "--data", str(self.data),
                 "--concurrency", str(concurrency), *self.args],
                cwd=ROOT, env={**os.environ, **self.env}, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            said = process.stdout.readline() if process.stdout else ""
            assert said.startswith("tqops worker "), process.stderr.read() if process.stderr else ""
            self.processes.append(process)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def workers(data: Path, env: dict[str, str], count: int, concurrency: int) -> Iterator[Workers]:
    running = Workers(data, env)
    try:
        running.start(count, concurrency)
        yield running
    finally:
        running.stop()


def _configure(host: RunningHost, admin: str, tie: TieSimulator, rate: float = 0) -> None:
    values: dict[str, Any] = {
        "hostname": tie.hostname,
        "access_token": TOKEN,
        "ca_bundle": tie.ca_pem_path,
    }
    if rate:
        values["max_requests_per_second"] = rate
    answer = host.api(admin).put(
        f"{host.url}/api/v1/operations/dcso_tie/config", json={"values": values}
    )
    assert answer.status_code == 200, answer.text


def _run(host: RunningHost, analyst: str, values: list[str]) -> int:
    body = {
        "operation": "dcso_tie",
        "action": "search",
        "inputs": [{"type": "FQDN", "value": v} for v in values],
    }
    answer = host.api(analyst).post(f"{host.url}/api/v1/jobs", json=body)
    assert answer.status_code in (200, 201, 202), answer.text
    return int(answer.json()["id"])


def _job_view(host: RunningHost, key: str, job_id: int) -> dict[str, Any]:
    return host.api(key).get(f"{host.url}/api/v1/jobs/{job_id}").json()


def _results(host: RunningHost, key: str, job_id: int) -> list[dict[str, Any]]:
    answer = host.api(key).get(f"{host.url}/api/v1/jobs/{job_id}/results?limit=1000")
    return answer.json()["results"]


def _sent(tie: TieSimulator) -> Counter[str]:
    return Counter(r.query["value"][0] for r in tie.requests if "value" in r.query)


def _kill_one_mid_job(
    host: RunningHost, analyst: str, job_id: int, pool: Workers, after: int
) -> subprocess.Popen[str]:
    wait_for(lambda: _job_view(host, analyst, job_id)["done"] >= after, timeout=60)
    victim = pool.processes[0]
    victim.kill()  # kill -9, mid-slice: its leases stay in the store
    victim.wait()
    assert _job_view(host, analyst, job_id)["done"] < _job_view(host, analyst, job_id)["total"]
    return victim


def _check_each_input_once(
    host: RunningHost, analyst: str, job_id: int, values: list[str], tie: TieSimulator,
    concurrency: int,
) -> None:  # fmt: skip
    view = wait_for(
        lambda: (v := _job_view(host, analyst, job_id))["status"] == "done" and v, timeout=120
    )
    assert (view["done"], view["failed"], view["total"]) == (len(values), 0, len(values))
    results = _results(host, analyst, job_id)
    assert sorted(r["input"]["value"] for r in results) == sorted(values)  # one each
    repeated = {v: n for v, n in _sent(tie).items() if n > 1}
    # only what was in flight at the kill is sent again: the killed worker's calls at most
    assert len(repeated) <= concurrency, repeated
    assert set(_sent(tie)) == set(values)


@pytest.mark.slow
def test_three_workers_on_sqlite_carry_on_when_one_is_killed(tmp_path):
    data = tmp_path / "data"
    admin = add_user(data, "admin", "admin")["api_key"]
    analyst = add_user(data, "ana", "analyst")["api_key"]
    values = [f"w{i}.example" for i in range(300)]
    env = {"TQOPS_WORKER_LEASE": "3"}
    with (
        TieSimulator(token=TOKEN, latency=0.2) as tie,
        RunningHost(data, env=env, args=("--workers", "0")) as host,
    ):
        _configure(host, admin, tie)
        job_id = _run(host, analyst, values)
        time.sleep(0.5)
        assert _job_view(host, analyst, job_id)["status"] == "queued"  # serve runs none itself
        with workers(data, env, 3, 4) as pool:
            _kill_one_mid_job(host, analyst, job_id, pool, after=60)
            _check_each_input_once(host, analyst, job_id, values, tie, 4)
        assert host.api(admin).get(f"{host.url}/api/v1/me").status_code == 200


@pytest.mark.slow
def test_two_hosts_and_three_workers_on_postgresql_keep_one_rate_and_lose_nothing(
    postgres, tmp_path
):
    url = postgres.create_database()
    env = {
        "PGPASSWORD": postgres.password,
        "TQOPS_SECRET_KEY": Fernet.generate_key().decode(),  # the vault key all of them share
        "TQOPS_WORKER_LEASE": "3",
    }
    made = {}
    for name, role in (("admin", "admin"), ("ana", "analyst")):
        done = subprocess.run(
            [sys.executable, "-m", "tqops.cli", "users", "add", name, "--role", role,
             "--database", url, "--format", "json", "--data", str(tmp_path / "cli")],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        made[name] = json.loads(done.stdout)["api_key"]
    admin, analyst = made["admin"], made["ana"]
    values = [f"pg{i}.example" for i in range(300)]
    rate = 20.0
    with contextlib.ExitStack() as stack:
        tie = stack.enter_context(TieSimulator(token=TOKEN, latency=0.2))
        hosts = []
        for side in ("a", "b"):
            (tmp_path / side).mkdir()
            host = RunningHost(
                tmp_path / side / "data", env=env, args=("--database", url, "--workers", "0")
            )
            stack.enter_context(host)
            hosts.append(host)
        one, two = hosts
        _configure(one, admin, tie, rate=rate)
        job_id = _run(two, analyst, values)  # submitted to the second replica
        worker_env = {**env, "TQOPS_DATABASE_URL": url}
        pool = stack.enter_context(workers(tmp_path / "w" / "data", worker_env, 3, 8))
        _kill_one_mid_job(one, analyst, job_id, pool, after=60)
        _check_each_input_once(one, analyst, job_id, values, tie, 8)
        assert _results(two, analyst, job_id) == _results(one, analyst, job_id)
    arrivals = sorted(r.at for r in tie.requests if "value" in r.query)
    busiest = max(
        sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals)
    )
    assert busiest <= rate, f"{busiest} calls in one second at {rate}/s"
    # the three workers did share the job
    assert len(arrivals) >= len(values)


# -- the daily quota -----------------------------------------------------------------------------


def test_the_daily_quota_is_one_for_every_worker_and_what_is_over_it_is_skipped(tmp_path, sim):
    from tqops.errors import ConfigError
    from tqops.server.host import Host
    from tqops.server.users import Role, User

    admin, analyst = User(1, "admin", Role.ADMIN), User(2, "ana", Role.ANALYST)
    host = Host(tmp_path / "data")
    other = Store(host.data / "tqops.db")  # another worker's connection to the same store
    try:
        values = {"hostname": sim.hostname, "access_token": sim.token, "ca_bundle": sim.ca_pem_path}
        host.set_config("dcso_tie", values, admin)
        with pytest.raises(ConfigError, match="daily_quota is a number of look-ups"):
            host.set_settings("dcso_tie", {"daily_quota": -1}, admin)
        host.set_settings("dcso_tie", {"daily_quota": 5, "cache_ttl": 0}, admin)
        assert other.take_quota("dcso_tie", 2, 5) == 2  # used elsewhere today
        sim.clear_requests()
        inputs = [{"type": "FQDN", "value": f"q{i}.example"} for i in range(6)]
        job = host.create_job("dcso_tie", "search", {}, None, inputs, analyst)
        host.jobs.wait(job["id"], 30)
        view = host.job(job["id"])
        assert (view["status"], view["done"], view["skipped"]) == ("done", 6, 3)
        _, rows = host.store.results(job["id"], "skipped", 0, 10)
        reasons = {json.loads(r["result"])["reason"] for r in rows}
        assert reasons == {
            "DCSO TIE's daily quota of 5 look-ups is used up; it renews at 00:00 UTC "
            "(an admin can raise it)"
        }
        assert len([r for r in sim.requests if "value" in r.query]) == 3
        assert host.operation_view("dcso_tie")["quota_used_today"] == 5
    finally:
        host.stop()
        other.close()
