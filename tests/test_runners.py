"""Uploaded integrations run in runner processes, against a real `tqops serve` and its worker:
only runners import an upload; one that snoops finds neither the vault key, nor the store,
nor another operation's secret; one that crashes or hangs ends its inputs as errors that say
so, and the host goes on; a runner's calls keep the operation's rate."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.support.hosting import RunningHost, add_user, wait_for
from tests.support.vendors import TEGO_LICENSE, TIE_TOKEN
from tests.test_server_integrations import PACKAGE, setting, variant
from tqops.service import Service

pytestmark = pytest.mark.slow

AS_ROOT = os.geteuid() == 0

#: the real operation's own ``__init__``, with what a test adds to it
ORIGINAL = b"""\
from tqops import Operation

from .actions import ACTIONS, test_connection
from .client import TieClient
"""
DEFINE = b"""
OPERATION = Operation.from_package(__name__, "dcso_tie.yaml", TieClient, ACTIONS, test_connection)
"""


def with_init(extra: str) -> Any:
    """The upload's ``__init__`` is the real one with ``extra`` before the operation is defined."""
    return setting(f"{PACKAGE}/__init__.py", ORIGINAL + extra.encode() + DEFINE)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    Service().bundle("dcso_tie", out)
    return out


@pytest.fixture()
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture()
def host(tmp_path, key):
    data = tmp_path / "data"
    keys = {role: add_user(data, role, role)["api_key"] for role in ("admin", "analyst")}
    env = {"TQOPS_SECRET_KEY": key, "TQOPS_RUNNER_TIMEOUT": "4"}
    with RunningHost(data, env=env) as running:
        running.keys = keys
        yield running


def upload(host: RunningHost, path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        answer = host.api(host.keys["admin"]).post(
            f"{host.url}/api/v1/integrations",
            params={"confirm": "true", "force": "true"},
            files={"file": (path.name, handle)},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def configure(host: RunningHost, name: str, values: dict[str, Any]) -> None:
    answer = host.api(host.keys["admin"]).put(
        f"{host.url}/api/v1/operations/{name}/config", json={"values": values}
    )
    assert answer.status_code == 200, answer.text


def configure_tie(host: RunningHost, tie: Any, **more: Any) -> None:
    values = {"hostname": tie.hostname, "access_token": TIE_TOKEN, "ca_bundle": tie.ca_pem_path}
    configure(host, "dcso_tie", {**values, **more})


def run(host: RunningHost, operation: str, inputs: list[tuple[str, str]]) -> dict[str, Any]:
    """Run a job to its end; its view with its results."""
    analyst = host.api(host.keys["analyst"])
    body = {
        "operation": operation,
        "action": "search",
        "inputs": [{"type": kind, "value": value} for kind, value in inputs],
    }
    answer = analyst.post(f"{host.url}/api/v1/jobs", json=body)
    assert answer.status_code in (200, 201, 202), answer.text
    job = answer.json()["id"]
    view = wait_for(
        lambda: (
            (v := analyst.get(f"{host.url}/api/v1/jobs/{job}").json())["status"]
            in ("done", "failed", "cancelled")
            and v
        ),
        timeout=90,
    )
    found = analyst.get(f"{host.url}/api/v1/jobs/{job}/results?limit=1000").json()["results"]
    return {**view, "results": found}


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("input", "status", "error", "verdict", "indicators")}


def test_an_upload_runs_in_runners_only_and_answers_as_the_built_in_does(host, dist, tmp_path, tie):
    configure_tie(host, tie)
    inputs = [("IP Address", "198.51.100.7"), ("FQDN", "bad.example.com"), ("MD5", "0" * 32)]
    built_in = run(host, "dcso_tie", inputs)
    assert built_in["status"] == "done"

    marks = Path(tempfile.mkdtemp(prefix="tqops-marks-"))  # outside pytest's private folder
    marks.chmod(0o1777)  # the runner's user writes here
    record = (
        "import os as _os, sys as _sys\n"
        f"with open({str(marks)!r} + '/' + str(_os.getpid()), 'w') as _f:\n"
        "    _f.write(_sys.argv[0])\n"
    )
    answer = upload(host, variant(dist, tmp_path, with_init(record), version="9.0.1"))
    assert answer["installed"] is True

    uploaded = run(host, "dcso_tie", inputs)
    assert uploaded["status"] == "done"
    ours = sorted(map(_comparable, uploaded["results"]), key=lambda r: r["input"]["value"])
    theirs = sorted(map(_comparable, built_in["results"]), key=lambda r: r["input"]["value"])
    assert ours == theirs

    report = host.api(host.keys["admin"]).post(
        f"{host.url}/api/v1/operations/dcso_tie/test-connection"
    )
    assert report.status_code == 200 and report.json()["ok"] is True, report.text

    # only runners imported it: the upload check, the run, the connection test
    imported = {int(p.name): p.read_text() for p in marks.iterdir()}
    assert imported, "no runner imported the upload"
    assert all(argv.endswith("tqops/runner/__main__.py") for argv in imported.values()), imported
    assert host.process is not None and host.process.pid not in imported
    shutil.rmtree(marks)


@pytest.mark.skipif(not AS_ROOT, reason="runners run as another user where the host is root")
def test_an_upload_that_snoops_finds_no_key_no_store_and_no_other_secret(
    host, dist, tmp_path, tie, tego, key
):
    configure(host, "tego", {"hostname": tego.hostname, "license_key": TEGO_LICENSE,
                             "ca_bundle": tego.ca_pem_path})  # fmt: skip
    data = host.data
    needles = [key, TEGO_LICENSE, (data / "tqops.db").name]
    snoop = f"""
import glob as _glob, json as _json, os as _os
from tqops import InputError as _InputError

_FILES = {json.dumps([str(data / "secret.key"), str(data / "tqops.db"), str(data)])}
_NEEDLES = {json.dumps([key, TEGO_LICENSE])}


def _snoop():
    found = []
    for path in _FILES:
        try:
            if _os.path.isdir(path):
                found.append("listed " + path + ": " + ",".join(_os.listdir(path)))
            else:
                with open(path, "rb") as handle:
                    found.append("read " + path + ": " + repr(handle.read(64)))
        except OSError:
            pass
    for folder in _glob.glob("/proc/[0-9]*"):
        if folder == "/proc/" + str(_os.getpid()):
            continue  # its own memory holds what it looks for
        for part in ("environ", "cmdline"):
            try:
                with open(folder + "/" + part, "rb") as handle:
                    text = handle.read().decode("latin-1")
            except OSError:
                continue
            found += [part + " of " + folder for n in _NEEDLES if n in text]
        try:
            with open(folder + "/maps") as maps, open(folder + "/mem", "rb") as mem:
                for line in maps:
                    start, end = (int(x, 16) for x in line.split()[0].split("-"))
                    if "rw" in line.split()[1] and end - start < 1 << 26:
                        mem.seek(start)
                        chunk = mem.read(end - start).decode("latin-1")
                        found += ["memory of " + folder for n in _NEEDLES if n in chunk]
        except (OSError, ValueError, OverflowError):
            pass
    found += ["environment" for n in _NEEDLES for v in _os.environ.values() if n in v]
    found.append("variables " + ",".join(sorted(_os.environ)))
    found.append("uid " + str(_os.getuid()) + " cwd " + _os.getcwd())
    return found


def _search(client, indicator, options):
    raise _InputError("snooped " + _json.dumps(_snoop()))


ACTIONS = {{**ACTIONS, "search": _search}}
"""
    upload(host, variant(dist, tmp_path, with_init(snoop), version="9.0.2"))
    configure_tie(host, tie)
    job = run(host, "dcso_tie", [("FQDN", "snoop.example.com")])
    (result,) = job["results"]
    assert result["status"] == "error" and "snooped " in result["error"], result
    found = json.loads(result["error"].split("snooped ", 1)[1])
    told = [line for line in found if not line.startswith(("variables ", "uid "))]
    assert told == [], told  # no file, no process's environment or memory, no variable
    variables = next(line for line in found if line.startswith("variables "))
    assert not {"TQOPS_SECRET_KEY", "TQOPS_DATABASE_URL", "PGPASSWORD"} & set(
        variables.split(" ", 1)[1].split(",")
    )
    who = next(line for line in found if line.startswith("uid "))
    assert who.split()[1] == str(pwd.getpwnam("nobody").pw_uid)
    assert str(data) not in who  # its working directory is its own
    stored = json.dumps(job["results"])
    assert all(needle not in stored for needle in needles[:2])


def test_a_runner_that_crashes_or_hangs_ends_its_inputs_as_errors_and_the_host_goes_on(
    host, dist, tmp_path, tie, tego
):
    misbehave = """
import os as _os, time as _time


def _search(client, indicator, options):
    if indicator.value.startswith("crash"):
        _os._exit(3)
    if indicator.value.startswith("hang"):
        _time.sleep(3600)
    return ACTIONS_GIVEN["search"](client, indicator, options)


ACTIONS_GIVEN = ACTIONS
ACTIONS = {**ACTIONS, "search": _search}
"""
    upload(host, variant(dist, tmp_path, with_init(misbehave), version="9.0.3"))
    configure_tie(host, tie)
    crashed = run(host, "dcso_tie", [("FQDN", f"crash{i}.example.com") for i in range(3)])
    errors = {r["error"] for r in crashed["results"]}
    assert [r["status"] for r in crashed["results"]] == ["error"] * 3
    assert errors == {"the runner of DCSO TIE exited (3) before it answered"}, errors

    hung = run(host, "dcso_tie", [("FQDN", "hang.example.com"), ("FQDN", "hang2.example.com")])
    assert [r["status"] for r in hung["results"]] == ["error"] * 2
    assert {r["error"] for r in hung["results"]} == {
        "the runner of DCSO TIE said nothing for 4 s and was stopped (TQOPS_RUNNER_TIMEOUT)"
    }

    # the worker goes on: the same upload answers, and so does a built-in operation
    fine = run(host, "dcso_tie", [("FQDN", "bad.example.com")])
    assert [r["status"] for r in fine["results"]] in (["ok"], ["no_results"]), fine
    configure(host, "tego", {"hostname": tego.hostname, "license_key": TEGO_LICENSE,
                             "ca_bundle": tego.ca_pem_path})  # fmt: skip
    other = run(host, "tego", [("FQDN", "example.com")])
    assert other["status"] == "done" and other["results"][0]["status"] != "error", other


def test_a_runners_calls_keep_the_operations_rate(host, dist, tmp_path, sim):
    upload(host, variant(dist, tmp_path, version="9.0.4"))
    configure_tie(host, sim, max_requests_per_second=5)
    values = [f"r{i}.example.com" for i in range(15)]
    job = run(host, "dcso_tie", [("FQDN", v) for v in values])
    assert job["status"] == "done" and len(job["results"]) == 15
    arrivals = sorted(r.at for r in sim.requests if "value" in r.query)
    assert len(arrivals) >= 15
    busiest = max(
        sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals)
    )
    assert busiest <= 5, f"{busiest} calls in one second at 5/s"


def test_a_cancelled_upload_job_stops_in_its_runner_and_stores_no_error(host, dist, tmp_path, sim):
    upload(host, variant(dist, tmp_path, version="9.0.5"))
    configure_tie(host, sim)
    sim.latency = 0.3
    analyst = host.api(host.keys["analyst"])
    body = {
        "operation": "dcso_tie",
        "action": "search",
        "inputs": [{"type": "FQDN", "value": f"c{i}.example.com"} for i in range(200)],
    }
    job = analyst.post(f"{host.url}/api/v1/jobs", json=body).json()["id"]
    url = f"{host.url}/api/v1/jobs/{job}"
    wait_for(lambda: analyst.get(url).json()["done"] >= 5, timeout=60)
    assert analyst.post(f"{url}/cancel").status_code == 200
    view = wait_for(lambda: (v := analyst.get(url).json())["status"] == "cancelled" and v)
    sent = len([r for r in sim.requests if "value" in r.query])
    wait_for(lambda: not analyst.get(url).json().get("running"), timeout=30)
    results = analyst.get(f"{url}/results?limit=1000").json()["results"]
    assert view["done"] < 200 and len(results) < 200
    assert all(r["status"] != "error" for r in results), [r["error"] for r in results]
    # the runner stopped sending within a request or so of the cancel
    assert len([r for r in sim.requests if "value" in r.query]) <= sent + 16


def test_a_runner_runs_many_calls_at_once_within_its_memory_bound(dist, tmp_path, sim):
    """At concurrency 128, within the default address-space bound, one result per input."""
    from tqops.server.integrations import Integrations
    from tqops.server.integrations.wheel import check_wheel
    from tqops.server.runners import Runners
    from tqops.service import CancelToken, Selection

    runners = Runners()
    integrations = Integrations(tmp_path / "integrations", runners)
    wheel = variant(dist, tmp_path, version="9.0.6")
    installed, operation = integrations.activate(check_wheel(wheel), wheel)
    config = Service().resolve_config(
        "dcso_tie",
        {"hostname": sim.hostname, "access_token": TIE_TOKEN, "ca_bundle": sim.ca_pem_path},
    )
    inputs = [Selection("FQDN", f"m{i}.example.com") for i in range(300)]
    try:
        answered = list(
            runners.run(
                installed.runner_spec(operation.manifest.label), config, "search", {}, inputs,
                concurrency=128, cancel=CancelToken(),
            )
        )  # fmt: skip
    finally:
        runners.close()
    assert sorted(s.value for s, _ in answered) == sorted(s.value for s in inputs)
    assert {p["status"] for _, p in answered} <= {"ok", "no_results"}, {
        p["error"] for _, p in answered
    }


def test_a_runner_whose_worker_is_gone_removes_its_working_directory(dist, tmp_path):
    """A worker killed with kill -9 cannot clean up: its runner sees the end of its input and
    removes the working directory itself (the unpacked integration with it)."""
    from tqops.server.integrations import Integrations
    from tqops.server.integrations.wheel import check_wheel
    from tqops.server.runners import Runners

    runners = Runners()
    integrations = Integrations(tmp_path / "integrations", runners)
    wheel = variant(dist, tmp_path, version="9.0.7")
    integrations.activate(check_wheel(wheel), wheel)  # its check leaves one runner, idle
    (process,) = runners._idle
    workdir = process.workdir
    assert (workdir / "integration" / PACKAGE / "__init__.py").is_file()
    assert process.popen.stdin is not None
    process.popen.stdin.close()  # the worker's end of the pipe is gone, as at a kill -9
    assert process.popen.wait(30) == 0
    assert not workdir.exists()
    runners.close()
