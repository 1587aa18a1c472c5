"""The newcomer's path: `make demo` (``python -m simulators demo``) ends by saying how to see the
same in the browser, and `tqops serve --demo` keeps its data apart from the host's own, prints a
working login for each role at every start, and leaves no simulator behind when it stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import requests

from tests.support.hosting import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow

LOGIN = re.compile(r"^login (\w+) \((\w+)\): password (\S+) api key (\S+)$", re.MULTILINE)


def test_the_demo_ends_by_saying_how_to_see_the_same_in_the_browser():
    done = subprocess.run(
        [sys.executable, "-m", "simulators", "demo"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    last = done.stdout.rstrip().splitlines()[-3:]
    assert any(".venv/bin/tqops serve --demo" in line for line in last), last
    assert any("http://127.0.0.1:8600/console/" in line for line in last), last


class Demo:
    """`tqops serve --demo` in a process of its own, read up to its "tqops host on" line."""

    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[str] = []

    def started(self) -> Demo:
        while not self.lines or not self.lines[-1].startswith("tqops host on"):
            line = self.process.stdout.readline()
            assert line, self.process.stderr.read()
            self.lines.append(line.rstrip("\n"))
        assert wait_for(lambda: _answers(f"{self.url}/console/login"))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logins(self) -> dict[str, tuple[str, str, str]]:
        """name: (role, password, API key)."""
        found = LOGIN.findall("\n".join(self.lines))
        return {name: (role, password, key) for name, role, password, key in found}

    @property
    def data(self) -> Path:
        (where,) = re.findall(r"\(data in (\S+?)[,)]", self.lines[-1])
        return Path(where)


@contextmanager
def serve_demo(
    tmp: Path, *args: str, env: Optional[dict[str, str]] = None, sigint_ignored: bool = False
) -> Iterator[Demo]:
    """The demo, its temporary directories under ``tmp`` (kill -9 leaves its own behind);
    ``sigint_ignored``: started as a script's background job is, SIGINT ignored."""
    port = free_port()
    ignore = signal.SIG_IGN if sigint_ignored else signal.SIG_DFL
    process = subprocess.Popen(
        [sys.executable, "-m", "tqops.cli", "serve", "--demo", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp), **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, ignore),
    )  # fmt: skip
    try:
        yield Demo(process, port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        process.stdout.close()
        process.stderr.close()


def _answers(url: str, key: str = "") -> bool:
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        return session.get(url, headers=headers, timeout=10).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # not up yet
        return False


def _password_works(demo: Demo, name: str, password: str) -> bool:
    """ThreatQ's password grant: the user's password, checked by the host."""
    session = requests.Session()
    session.trust_env = False
    answer = session.post(
        f"{demo.url}/api/token?grant_type=password&client_id=demo-test",
        json={"email": name, "password": password},
        timeout=10,
    )
    return answer.status_code == 200


def _children(pid: int) -> list[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return sorted(found)


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _simulators_and_workers(pid: int) -> list[int]:
    """The demo's children once they are its two simulators and the host's worker(s) (the
    processes that run its jobs), else none."""
    children = _children(pid)
    simulators = [p for p in children if b"simulators" in _command_line(p)]
    workers = [p for p in children if b"worker" in _command_line(p)]
    return children if len(simulators) == 2 and workers else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_second_start_prints_new_logins_for_each_role_and_the_first_ones_stop(tmp_path):
    data = tmp_path / "demo-data"
    with serve_demo(tmp_path, "--data", str(data)) as first:
        first.started()
        before = first.logins
        assert {name: login[0] for name, login in before.items()} == {
            "admin": "admin", "analyst": "analyst", "viewer": "viewer",
        }  # fmt: skip
        assert f"console: {first.url}/console/" in "\n".join(first.lines)
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(30) == 0
    with serve_demo(tmp_path, "--data", str(data)) as second:
        second.started()
        after = second.logins
        assert set(after) == {"admin", "analyst", "viewer"}
        for name, (role, password, key) in after.items():
            assert role == name  # each demo user is named after its role
            old_password, old_key = before[name][1:]
            assert password != old_password and key != old_key
            assert _password_works(second, name, password), name
            assert not _password_works(second, name, old_password), name
            assert _answers(f"{second.url}/api/v1/me", key)
            assert not _answers(f"{second.url}/api/v1/me", old_key)
        # the operations are configured against this start's simulators
        admin_key = after["admin"][2]
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {admin_key}"
        for name in ("dcso_tie", "tego"):
            steps = session.post(f"{second.url}/api/v1/operations/{name}/test-connection")
            assert steps.json()["ok"] is True, steps.text


def test_without_data_the_demo_keeps_its_data_in_a_temporary_directory(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "share")}
    env["TQOPS_DATA"] = str(tmp_path / "the-real-one")  # the host's own, were it not the demo
    with serve_demo(tmp_path, env=env) as demo:
        demo.started()
        where = demo.data
        assert where.is_dir() and (where / "tqops.db").is_file()
        assert where.name.startswith("tqops-demo-") and where.parent == tmp_path
        demo.process.send_signal(signal.SIGTERM)
        assert demo.process.wait(30) == 0
    assert not where.exists()  # removed when the host stopped
    assert not (tmp_path / "the-real-one").exists() and not (home / "share").exists()


def test_the_demo_refuses_the_default_data_directory(tmp_path):
    real = tmp_path / "real"
    done = subprocess.run(
        [sys.executable, "-m", "tqops.cli", "serve", "--demo", "--data", str(real)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "TQOPS_DATA": str(real)},
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "--demo keeps its data apart" in line and not real.exists()


@pytest.mark.parametrize(
    "stop",
    [
        "SIGTERM, try 1",
        "SIGTERM, try 2",
        "SIGTERM, try 3",
        "SIGINT",
        "SIGINT, ignored when it started",
        "SIGTERM while starting",
    ],
)
def test_a_signal_stops_the_demo_and_its_simulators(tmp_path, stop):
    sent = signal.SIGINT if stop.startswith("SIGINT") else signal.SIGTERM
    with serve_demo(tmp_path, sigint_ignored="ignored" in stop) as demo:
        if stop == "SIGTERM while starting":
            # the first simulator is up; the second one starting
            first = demo.process.stdout.readline()
            assert "simulator on" in first, demo.process.stderr.read()
            simulators = wait_for(lambda: _children(demo.process.pid))
        else:
            demo.started()
            simulators = wait_for(lambda: _simulators_and_workers(demo.process.pid))
        demo.process.send_signal(sent)
        code = demo.process.wait(30)
        assert code == (130 if sent == signal.SIGINT else 0), demo.process.stderr.read()
    # the simulators (and workers) end with the host, not merely orphaned: none is left
    assert wait_for(lambda: not [p for p in simulators if _alive(p)], timeout=15)


def test_kill_9_stops_the_simulators_too(tmp_path):
    with serve_demo(tmp_path) as demo:
        demo.started()
        simulators = wait_for(lambda: _simulators_and_workers(demo.process.pid))
        demo.process.kill()
        demo.process.wait(30)
    # their standard input ends with the host, however it ends
    assert wait_for(lambda: not [p for p in simulators if _alive(p)], timeout=15)
