"""Dead vendors, rejected credentials, broken proxies and Ctrl-C (issue 12): a run stops
sending when going on can only do harm, says why for every input it did not send, keeps its
output whole, and shows retry noise and request detail only when asked (-v, -vv)."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3.util.connection as u3_connection

from simulators import SimulatorServer, TieSimulator
from tests.support.cli import cli, flags, one_input
from tests.support.forward_proxy import ForwardProxy
from tests.support.vendors import TIE_TOKEN
from tqops.cli import main
from tqops.http import HttpClient, HttpSettings
from tqops.http.auth import BearerAuth
from tqops.running.breaker import MAX_CONNECTION_FAILURES, CircuitBreaker
from tqops.service import CancelToken, Service, Status

ROOT = Path(__file__).resolve().parent.parent


def config(hostname: str, ca: str, token: str = TIE_TOKEN) -> list[str]:
    return flags("--config", {"hostname": hostname, "access_token": token, "ca_bundle": ca})


def through_proxy(sim: Any, url: str) -> list[str]:
    """The configuration against ``sim`` with the proxy on, and the proxy at ``url``."""
    return [*config(sim.hostname, sim.ca_pem_path), "--config", "use_proxy=true", "--proxy", url]


def inputs(tmp_path: Path, count: int) -> str:
    path = tmp_path / "inputs.csv"
    rows = (f"FQDN,host{i}.evil-cdn.com\n" for i in range(count))
    path.write_text("type,value\n" + "".join(rows))
    return str(path)


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 10. the circuit breaker, fast failures and retry noise --------------------------------


def test_a_bulk_run_against_a_refused_port_stops_after_a_few_attempts(
    sim, capsys, tmp_path, monkeypatch
):
    attempts = []
    real = u3_connection.create_connection

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(u3_connection, "create_connection", counted)
    started = time.monotonic()
    code, out, err = cli(
        "run",
        "dcso_tie",
        "search",
        "--input",
        inputs(tmp_path, 10_000),
        *config(f"127.0.0.1:{refused_port()}", sim.ca_pem_path),
        "--format",
        "jsonl",
        capsys=capsys,
    )
    elapsed = time.monotonic() - started
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(results) == 10_000
    assert len(attempts) == MAX_CONNECTION_FAILURES  # one try each, then the breaker
    assert elapsed < 30, elapsed
    stopped = [r for r in results if r["error"].startswith("not sent: ")]
    assert len(stopped) == 10_000 - MAX_CONNECTION_FAILURES
    assert f"{MAX_CONNECTION_FAILURES} calls in a row got no answer" in stopped[0]["error"]
    assert "refused the connection" in stopped[0]["error"]
    assert "Retrying" not in err and "WARNING" not in err


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_credential_is_sent_exactly_once_in_a_bulk_run(sim, capsys, tmp_path, status):
    if status == 403:
        sim.enqueue_faults(403)
    code, out, _ = cli(
        "run",
        "dcso_tie",
        "search",
        "--input",
        inputs(tmp_path, 200),
        *config(sim.hostname, sim.ca_pem_path, "wrong" if status == 401 else TIE_TOKEN),
        "--concurrency",
        "16",
        "--format",
        "json",
        capsys=capsys,
    )
    results = json.loads(out)["results"]
    assert code == 1 and len(results) == 200
    assert len(sim.requests) == 1
    assert f"rejected the access token (HTTP {status}" in results[0]["error"]
    assert all(r["error"].startswith("not sent: DCSO TIE rejected") for r in results[1:])


def test_retry_warnings_show_at_v_only(sim, capsys):
    args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "www.microsoft.com"]
    args += [*config(sim.hostname, sim.ca_pem_path), "--format", "json"]
    sim.enqueue_faults("drop")  # a connection dropped: urllib3 warns as it retries
    code, _, err = cli(*args, capsys=capsys)
    assert code == 0 and "Retrying" not in err
    sim.enqueue_faults("drop")
    code, _, err = cli("-v", *args, capsys=capsys)
    assert code == 0 and "Retrying" in err


def test_vv_logs_each_request_with_its_query_and_never_a_secret(sim, capsys, caplog):
    args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "www.microsoft.com"]
    code, _, err = cli("-vv", *args, *config(sim.hostname, sim.ca_pem_path), capsys=capsys)
    assert code == 0
    assert "GET /api/v1/iocs-with-context?value=www.microsoft.com&exact=false" in err
    assert TIE_TOKEN not in err


def test_parameters_declared_secret_are_masked_in_the_debug_log(sim, caplog):
    settings = HttpSettings(
        base_url=sim.base_url, verify=sim.ca_pem_path, secret_parameters=frozenset({"value"})
    )
    client = HttpClient(settings, BearerAuth(TIE_TOKEN), "DCSO TIE", "access token")
    with caplog.at_level(logging.DEBUG, logger="tqops.http"):
        client.get("/api/v1/iocs-with-context", {"value": "hidden-option-value", "limit": "1"})
    client.close()
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "GET /api/v1/iocs-with-context?value=********&limit=1" in logged
    assert "hidden-option-value" not in logged


# --- 9. proxy messages -----------------------------------------------------------------------


def _not_http_proxy() -> tuple[socket.socket, str]:
    """A port that answers like anything but an HTTP proxy."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_407_with_credentials_in_the_url_says_they_were_rejected(sim, capsys):
    with ForwardProxy(mode="auth", auth="Basic eDp5") as proxy:
        url = proxy.url.replace("http://", "http://alice:wrong-pass@")
        args = [*one_input("dcso_tie", "FQDN", "a.com"), *through_proxy(sim, url)]
        code, out, err = cli(*args, "--format", "json", capsys=capsys)
        (result,) = json.loads(out)["results"]
        assert "rejected the credentials in the proxy URL (407)" in result["error"]
        assert "tries" not in result["error"] and "wrong-pass" not in out + err
        assert len(proxy.seen) == 1
        connection = ["test-connection", "dcso_tie", *through_proxy(sim, url)]
        code, out, _ = cli(*connection, "--steps", capsys=capsys)
    assert code == 1 and "reached through" not in out
    assert "FAILED   proxy" in out and "rejected the credentials in the proxy URL" in out
    assert sim.requests == []


def test_a_proxy_that_does_not_speak_http_is_named_not_the_vendor(sim, capsys):
    server, url = _not_http_proxy()
    with server:
        args = [*one_input("dcso_tie", "FQDN", "a.com"), *through_proxy(sim, url)]
        started = time.monotonic()
        code, out, _ = cli(*args, "--format", "json", capsys=capsys)
        (result,) = json.loads(out)["results"]
        assert time.monotonic() - started < 5  # not retried: it cannot help
        assert "the proxy did not answer as an HTTP proxy" in result["error"]
        assert "closed the connection" not in result["error"]
        connection = ["test-connection", "dcso_tie", *through_proxy(sim, url)]
        code, out, _ = cli(*connection, capsys=capsys)
    assert code == 1 and "did not answer as an HTTP proxy" in out


# --- 12. a CA file that is not PEM -----------------------------------------------------------


def test_a_ca_bundle_that_is_not_pem_is_a_configuration_error(sim, capsys, tmp_path):
    not_pem = tmp_path / "passwd"
    not_pem.write_text("root:x:0:0:root:/root:/bin/bash\n")
    args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "a.com", "--format", "json"]
    code, out, err = cli(*args, *config(sim.hostname, str(not_pem)), capsys=capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "ca_bundle is not a PEM file of CA certificates" in err
    assert sim.requests == []


# --- 7. Ctrl-C -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_ctrl_c_during_a_run_closes_the_output_and_exits_130(sim, capsys, tmp_path, fmt, request):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT reaches the main thread only")
    # Ctrl-C as at a terminal: a shell without job control starts a background job (`make
    # test &`) with SIGINT ignored, and Python keeps it so; the test puts Python's own back
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, before))
    sim.latency = 0.02

    def interrupt() -> None:
        deadline = time.monotonic() + 20
        while len(sim.requests) < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    out = io.StringIO()
    args = ["run", "dcso_tie", "search", "--input", inputs(tmp_path, 2000)]
    code = main([*args, *config(sim.hostname, sim.ca_pem_path), "--format", fmt], out=out)
    err = capsys.readouterr().err
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert len(sim.requests) < 2000
    if fmt == "json":
        results = json.loads(out.getvalue())["results"]
        assert 0 < len(results) < 2000
    else:
        assert out.getvalue().splitlines()[-1].endswith("error(s)")


class _InterruptedOut(io.StringIO):
    """A stdout on which the Nth write is interrupted (Ctrl-C while printing)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.writes, self.at = 0, at

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes == self.at:
            raise KeyboardInterrupt
        return super().write(text)


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_ctrl_c_while_writing_still_closes_the_document(sim, capsys, tmp_path, fmt):
    out = _InterruptedOut(at=4)
    args = ["run", "dcso_tie", "search", "--input", inputs(tmp_path, 50), "--concurrency", "2"]
    code = main([*args, *config(sim.hostname, sim.ca_pem_path), "--format", fmt], out=out)
    assert code == 130
    if fmt == "json":
        assert len(json.loads(out.getvalue())["results"]) < 50
    else:
        assert out.getvalue().splitlines()[-1].endswith("error(s)")


# --- 8. output sized to the terminal --------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("command", ["run", "describe"])
def test_tables_fit_the_terminal_and_are_unchanged_without_one(sim, capsys, monkeypatch, command):
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((80, 24)))
    args = ["describe", "dcso_tie"]
    if command == "run":
        args = ["run", "dcso_tie", "search", "--type", "FQDN", "--value", "microsoft.com"]
        args += config(sim.hostname, sim.ca_pem_path)
    terminal, pipe = _Terminal(), io.StringIO()
    assert main(args, out=terminal) == 0 and main(args, out=pipe) == 0
    capsys.readouterr()
    assert max(len(line) for line in terminal.getvalue().splitlines()) <= 80
    assert max(len(line) for line in pipe.getvalue().splitlines()) > 120


# --- also: the simulators ------------------------------------------------------------------


def test_the_simulators_verbose_flag_logs_each_request(capfd):
    with TieSimulator(token=TIE_TOKEN, verbose=True) as verbose:
        settings = HttpSettings(base_url=verbose.base_url, verify=verbose.ca_pem_path)
        client = HttpClient(settings, BearerAuth(TIE_TOKEN), "DCSO TIE", "access token")
        client.get("/api/v1/iocs-with-context", {"value": "x", "limit": "1"})
        client.close()
    assert '"GET /api/v1/iocs-with-context?value=x&limit=1 HTTP/1.1" 200' in capfd.readouterr().err


def test_python_m_simulators_says_what_to_install_when_it_lacks_the_test_extra():
    # -S: no site-packages, as a system Python without the test extra
    done = subprocess.run(
        [sys.executable, "-S", "-m", "simulators", "tie"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "lacks trustme" in done.stderr
    assert "pip install -e '.[test]'" in done.stderr


def test_the_simulators_package_imports_nothing_until_asked():
    probe = (
        "import sys, simulators; assert 'trustme' not in sys.modules; "
        "print(simulators.TieSimulator)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert SimulatorServer.__name__ == "SimulatorServer"


def test_a_pool_whose_vendor_answered_does_not_wait_for_a_first_answer_again(sim):
    """A run on a configured operation whose vendor answered before lets every call go at
    once; a credential the vendor then rejects still stops the run at its first answer."""
    breaker = CircuitBreaker(answered=True)
    admitted = []
    threads = [
        threading.Thread(target=lambda: admitted.append(breaker.admit(CancelToken())))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert admitted == [None] * 8  # none waited for a probe's answer
    fresh = CircuitBreaker()
    assert fresh.admit(CancelToken()) is None and not fresh.answered

    values = {"hostname": sim.hostname, "access_token": TIE_TOKEN, "ca_bundle": sim.ca_pem_path}
    with Service().configure("dcso_tie", values, pool_size=4) as configured:
        assert configured._proven is False
        with configured.run("search", {}, [("FQDN", "first.example.com")]) as job:
            assert [r.status for r in job] in ([Status.OK], [Status.NO_RESULTS])
        assert configured._proven is True
        sim.clear_requests()
        sim.enqueue_faults(401)
        with configured.run(
            "search", {}, [("FQDN", f"r{i}.example.com") for i in range(40)], concurrency=4
        ) as job:
            results = list(job)
    assert len(results) == 40 and len(sim.requests) <= 4 + 1  # the calls already in flight
    assert sum(1 for r in results if (r.error or "").startswith("not sent:")) >= 40 - 5
