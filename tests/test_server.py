"""The operation host for real: `tqops serve` (uvicorn) over TLS, its SQLite file, users made
by `tqops users add`, the operations against the simulators; kill -9 and SIGTERM mid-job."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections import Counter

import pytest

from simulators import TieSimulator
from tests.support.hosting import RunningHost, add_user, tqops, wait_for
from tests.support.vendors import TIE_TOKEN, paced

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _paced_vendor(tie):
    with paced(tie, 0.05):  # answers that take time, for jobs to be watched while they run
        yield


@pytest.fixture(scope="module")
def host(tmp_path_factory, tie):
    data = tmp_path_factory.mktemp("host") / "data"
    keys = {role: add_user(data, f"{role}@example.com", role) for role in ("admin", "analyst")}
    keys["viewer"] = add_user(data, "viewer", "viewer")
    with RunningHost(data) as running:
        admin = running.api(keys["admin"]["api_key"])
        answer = admin.put(
            f"{running.url}/api/v1/operations/dcso_tie/config",
            json={
                "values": {
                    "hostname": tie.hostname,
                    "access_token": TIE_TOKEN,
                    "ca_bundle": tie.ca_pem_path,
                }
            },
        )
        assert answer.status_code == 200, answer.text
        running.keys = keys
        yield running


def api(host, role):
    return host.api(host.keys[role]["api_key"])


def run_job(host, role="analyst", **body):
    answer = api(host, role).post(f"{host.url}/api/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]

    def finished():
        view = api(host, "viewer").get(f"{host.url}/api/v1/jobs/{job_id}").json()
        return view if view["status"] not in ("queued", "running") else None

    return wait_for(finished)


def results(host, job_id):
    page = api(host, "viewer").get(f"{host.url}/api/v1/jobs/{job_id}/results?limit=1000").json()
    return page["results"]


def test_users_add_prints_a_password_and_a_key_and_stores_only_hashes(host):
    made = host.keys["admin"]
    assert set(made) == {"name", "role", "password", "api_key"} and made["role"] == "admin"
    database = (host.data / "tqops.db").read_bytes()
    assert made["api_key"].encode() not in database and made["password"].encode() not in database


def test_no_key_is_401_a_wrong_key_is_401_and_roles_are_checked(host):
    url = f"{host.url}/api/v1/operations"
    assert host.api().get(url).status_code == 401
    assert host.api("tqk_" + "x" * 40).get(url).status_code == 401
    assert api(host, "viewer").get(url).status_code == 200
    config = f"{host.url}/api/v1/operations/dcso_tie/config"
    assert api(host, "analyst").put(config, json={"values": {}}).status_code == 403
    jobs = f"{host.url}/api/v1/jobs"
    body = {
        "operation": "dcso_tie",
        "action": "search",
        "inputs": [{"type": "FQDN", "value": "x.example"}],
    }
    answer = api(host, "viewer").post(jobs, json=body)
    assert answer.status_code == 403 and "analyst" in answer.json()["error"]


def test_configuration_comes_back_masked_and_the_mask_keeps_the_secret(host, tie):
    url = f"{host.url}/api/v1/operations/dcso_tie/config"
    shown = api(host, "admin").get(url).json()
    assert shown["values"]["access_token"] == "********" and TIE_TOKEN not in json.dumps(shown)
    again = api(host, "admin").put(
        url, json={"values": {"access_token": "********", "timeout": 20}}
    )
    assert again.status_code == 200
    check = api(host, "admin").post(f"{host.url}/api/v1/operations/dcso_tie/test-connection").json()
    assert check["ok"] is True, check
    bad = api(host, "admin").put(url, json={"values": {"hostname": "https://x/", "timeout": 0}})
    assert bad.status_code == 400
    assert "$.config.hostname" in bad.json()["error"] and "$.config.timeout" in bad.json()["error"]


def test_a_job_on_stored_indicators_equals_tqops_run_and_repeats_are_looked_up_once(host, tie):
    values = [f"host{i}.example" for i in range(20)] + ["www.microsoft.com"] * 3
    added = api(host, "analyst").post(
        f"{host.url}/api/v1/indicators",
        json={"indicators": [{"type": "FQDN", "value": v} for v in values]},
    )
    assert added.status_code == 201, added.text
    ids = [row["id"] for row in added.json()["indicators"]]
    assert len(set(ids)) == 21  # a value already stored keeps its id
    tie.clear_requests()
    view = run_job(host, operation="dcso_tie", action="search", indicator_ids=ids)
    assert view["status"] == "done" and view["total"] == 23 and view["done"] == 23
    assert len(tie.requests) == 21
    got = results(host, view["id"])
    cli = tqops(
        "run",
        "dcso_tie",
        "search",
        *[word for v in values for word in ("--type", "FQDN", "--value", v)],
        "--config",
        f"hostname={tie.hostname}",
        "--config",
        "access_token=env:TIE_TOKEN_HOST",
        "--config",
        f"ca_bundle={tie.ca_pem_path}",
        "--format",
        "json",
        env={"TIE_TOKEN_HOST": TIE_TOKEN},
    )
    assert cli.returncode == 0, cli.stderr
    assert got == json.loads(cli.stdout)["results"]


def test_events_stream_progress_until_the_end(host, tie):
    answer = api(host, "analyst").post(
        f"{host.url}/api/v1/jobs",
        json={
            "operation": "dcso_tie",
            "action": "search",
            "inputs": [{"type": "FQDN", "value": f"ev{i}.example"} for i in range(30)],
        },
    )
    job_id = answer.json()["id"]
    stream = api(host, "viewer").get(f"{host.url}/api/v1/jobs/{job_id}/events", stream=True)
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = []
    for line in stream.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            events.append(line[7:])
        if events and events[-1] == "end":
            break
    assert events[0] == "progress" and events[-1] == "end"


def test_bodies_are_bounded_and_errors_are_one_line_json(host):
    big = api(host, "analyst").post(f"{host.url}/api/v1/indicators", data=b"x" * (6 * 2**20))
    assert big.status_code == 413 and "limit" in big.json()["error"]
    missing = api(host, "viewer").get(f"{host.url}/api/v1/jobs/99999")
    assert missing.status_code == 404 and missing.json() == {"error": "no job 99999"}
    csv_rows = "type,value,tlp\nFQDN,ok.example,GREEN\nMD5,zz\nNOPE,x\n"
    answer = api(host, "analyst").post(
        f"{host.url}/api/v1/indicators", data=csv_rows, headers={"Content-Type": "text/csv"}
    )
    rows = answer.json()["indicators"]
    assert "id" in rows[0] and "error" in rows[1] and "error" in rows[2]


def test_the_tlp_gate_and_the_cache(host, tie):
    admin = api(host, "admin")
    settings = f"{host.url}/api/v1/operations/dcso_tie/settings"
    assert admin.put(settings, json={"max_tlp": "GREEN", "cache_ttl": 600}).status_code == 200
    try:
        tie.clear_requests()
        inputs = [
            {"type": "FQDN", "value": "gate.example", "tlp": "AMBER"},
            {"type": "FQDN", "value": "cache-check.example", "tlp": "WHITE"},
        ]
        first = results(
            host, run_job(host, operation="dcso_tie", action="search", inputs=inputs)["id"]
        )
        assert first[0]["status"] == "skipped" and first[0]["error"] is None
        assert first[0]["reason"].startswith("its TLP AMBER is above DCSO TIE's maximum, GREEN")
        assert len(tie.requests) == 1
        again = results(
            host, run_job(host, operation="dcso_tie", action="search", inputs=inputs)["id"]
        )
        assert any("from the cache" in w for w in again[1]["warnings"])
        assert len(tie.requests) == 1  # the repeat cost no vendor call
    finally:
        admin.put(settings, json={"max_tlp": "AMBER"})


def test_the_data_directory_holds_no_secret_in_clear(host):
    for path in host.data.rglob("*"):
        if path.is_file():
            assert TIE_TOKEN.encode() not in path.read_bytes(), path
    key = host.data / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_serve_refuses_a_public_address_without_tls():
    done = tqops("serve", "--host", "0.0.0.0", "--port", "1")
    assert done.returncode == 2 and "without TLS" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
def test_after_a_stop_mid_job_the_job_carries_on_when_the_host_is_back(tmp_path, stop):
    """A stop of the host (its workers with it) mid-job loses no stored result; when the host
    is back, its workers carry the job on from the stored results by themselves, and nothing
    that had finished is sent again."""
    with TieSimulator(token=TIE_TOKEN, latency=0.3) as slow:
        data = tmp_path / "data"
        admin = add_user(data, "admin", "admin")["api_key"]
        analyst = add_user(data, "analyst", "analyst")["api_key"]
        values = [f"k{i}.example" for i in range(120)]
        running = RunningHost(data).start()
        try:
            running.api(admin).put(
                f"{running.url}/api/v1/operations/dcso_tie/config",
                json={
                    "values": {
                        "hostname": slow.hostname,
                        "access_token": TIE_TOKEN,
                        "ca_bundle": slow.ca_pem_path,
                    }
                },
            ).raise_for_status()
            job = (
                running.api(analyst)
                .post(
                    f"{running.url}/api/v1/jobs",
                    json={
                        "operation": "dcso_tie",
                        "action": "search",
                        "inputs": [{"type": "FQDN", "value": v} for v in values],
                    },
                )
                .json()
            )
            url = f"{running.url}/api/v1/jobs/{job['id']}"
            wait_for(lambda: running.api(analyst).get(url).json()["done"] >= 20)
            if stop == "kill -9":
                running.kill()
            else:  # uvicorn shuts down gracefully, then re-raises the signal it caught
                assert running.terminate() in (0, -signal.SIGTERM)
        finally:
            if running.process.poll() is None:
                running.process.kill()
        with sqlite3.connect(data / "tqops.db") as db:
            (left,) = db.execute("SELECT status FROM jobs WHERE id = ?", (job["id"],)).fetchone()
            (done,) = db.execute("SELECT done FROM jobs WHERE id = ?", (job["id"],)).fetchone()
            stored = db.execute("SELECT result FROM results WHERE job_id = ?", (job["id"],))
            kept = {json.loads(row[0])["input"]["value"] for row in stored.fetchall()}
        # the job is still the queue's: no worker holds it while the host is down
        assert left == "running" and 20 <= done < 120 and len(kept) == done
        sent_before = Counter(r.query["value"][0] for r in slow.requests if "value" in r.query)
        with RunningHost(data) as again:
            url = f"{again.url}/api/v1/jobs/{job['id']}"
            wait_for(lambda: again.api(analyst).get(url).json()["status"] == "done", timeout=60)
            final = results_of(again, analyst, job["id"])
        assert sorted(r["input"]["value"] for r in final) == sorted(values)  # one each
        sent = Counter(r.query["value"][0] for r in slow.requests if "value" in r.query)
        for value in kept:  # nothing that had finished was run twice
            assert sent[value] == sent_before[value] == 1


def results_of(running, key, job_id):
    page = running.api(key).get(f"{running.url}/api/v1/jobs/{job_id}/results?limit=1000")
    return page.json()["results"]


def test_users_cli_lists_rotates_disables_and_removes(tmp_path):
    data = tmp_path / "data"
    first = add_user(data, "sam@example.com", "viewer")
    rotated = tqops("users", "key", "sam@example.com", "--data", str(data), "--format", "json")
    assert json.loads(rotated.stdout)["api_key"] != first["api_key"]
    listed = tqops("users", "list", "--data", str(data), "--format", "json")
    assert json.loads(listed.stdout)[0]["name"] == "sam@example.com"
    assert tqops("users", "disable", "sam@example.com", "--data", str(data)).returncode == 0
    assert tqops("users", "remove", "sam@example.com", "--data", str(data)).returncode == 0
    bad = tqops("users", "add", "x y", "--role", "admin", "--data", str(data))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_the_cli_says_what_to_install_without_the_server_extra(tmp_path):
    blocked = ("fastapi", "uvicorn", "argon2", "cryptography", "jinja2")  # the extra's packages
    probe = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "from tqops.cli import main\n"
        f"sys.exit(main(['users', 'list', '--data', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [__import__("sys").executable, "-c", probe], capture_output=True, text=True
    )
    assert done.returncode == 2 and "pip install 'tqops[server]'" in done.stderr
