"""Bulk runs: every input exactly once, pooled connections, pacing, progress."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import tqops.http.pacing as pacing
from tests.support.cli import one_input
from tests.support.vendors import TIE_TOKEN, paced
from tqops.cli import main
from tqops.cli.progress import progress_for


@pytest.fixture(scope="module", autouse=True)
def _paced_vendor(tie):
    with paced(tie, 0.02):  # answers that take time, for concurrency to show
        yield


def write_inputs(tmp_path: Any, count: int) -> str:
    rows = ["type,value"]
    for index in range(count):
        rows.append(f"FQDN,host{index}.evil-cdn.com" if index % 5 else f"MD5,{index:032x}")
    rows.insert(7, "IP Address,300.1.1.1")  # one bad input among them
    path = tmp_path / "inputs.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def run(tie: Any, path: str, fmt: str, concurrency: int, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        [
            "run",
            "dcso_tie",
            "search",
            "--input",
            path,
            "--config",
            f"hostname={tie.hostname}",
            "--config",
            f"access_token={TIE_TOKEN}",
            "--config",
            f"ca_bundle={tie.ca_pem_path}",
            "--format",
            fmt,
            "--concurrency",
            str(concurrency),
            *extra,
        ],
        out=out,
    )
    return code, out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "table"])
def test_every_input_appears_exactly_once(tie, tmp_path, fmt):
    path = write_inputs(tmp_path, 60)
    code, out = run(tie, path, fmt, 16)
    assert code == 1  # the one bad input
    expected = [line.split(",", 1)[1] for line in Path(path).read_text().splitlines()[1:]]
    if fmt == "json":
        values = [r["input"]["value"] for r in json.loads(out)["results"]]
        assert values == expected  # in input order
    elif fmt == "jsonl":
        values = [json.loads(line)["input"]["value"] for line in out.splitlines()]
        assert sorted(values) == sorted(expected) and len(values) == len(expected)
    else:
        assert "61 input(s): " in out and "1 error(s)" in out


def test_connections_are_pooled_and_reused(tie, tmp_path):
    tie.clear_requests()
    _code, _ = run(tie, write_inputs(tmp_path, 80), "json", 8)
    assert len(tie.requests) == 80
    assert tie.connections <= 8  # keep-alive: one connection per worker at most


def test_rate_limiter_spaces_calls_across_threads(monkeypatch):
    slept: list[float] = []
    lock = threading.Lock()
    now = [100.0]
    monkeypatch.setattr(pacing.time, "monotonic", lambda: now[0])

    def fake_sleep(seconds: float) -> None:
        with lock:
            slept.append(round(seconds, 6))

    monkeypatch.setattr(pacing.time, "sleep", fake_sleep)
    limiter = pacing.RateLimiter(per_second=4)
    threads = [threading.Thread(target=limiter.wait) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slept) == [0.25, 0.5, 0.75, 1.0]  # the first call goes at once


def test_rate_limit_is_an_advanced_config_field(tie, tmp_path):
    _code, out = run(
        tie, write_inputs(tmp_path, 3), "json", 2, "--config", "max_requests_per_second=50"
    )
    assert len(json.loads(out)["results"]) == 4
    out = io.StringIO()
    assert (
        main(
            [
                *one_input("dcso_tie", "FQDN", "a.com"),
                "--config",
                "access_token=x",
                "--config",
                "max_requests_per_second=0",
            ],
            out=out,
        )
        == 2
    )


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_only_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress_for(3) as progress:
        assert list(progress.track(iter([1, 2, 3]))) == [1, 2, 3]
    assert "3/3" in terminal.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    with progress_for(3) as progress:
        assert list(progress.track(iter([1, 2]))) == [1, 2]
    assert piped.getvalue() == ""
