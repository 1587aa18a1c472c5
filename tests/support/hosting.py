"""A real host for the tests: `tqops serve` in a process of its own, on loopback over TLS with a
certificate from the simulators' test CA, and users made with `tqops users add`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import requests

from simulators import default_ca

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tls_files(folder: Path) -> tuple[str, str, str]:
    """(certificate, key, CA bundle) for 127.0.0.1 from the test CA."""
    ca = default_ca()
    cert, key = folder / "host-cert.pem", folder / "host-key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in ca.server_cert.cert_chain_pems))
    ca.server_cert.private_key_pem.write_to_path(str(key))
    return str(cert), str(key), ca.ca_pem_path


def tqops(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tqops.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def add_user(data: Path, name: str, role: str) -> dict[str, Any]:
    done = tqops("users", "add", name, "--role", role, "--data", str(data), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class RunningHost:
    """`tqops serve` over TLS; ``api(key)`` is a session that sends that key."""

    def __init__(
        self, data: Path, env: Optional[dict[str, str]] = None, args: tuple[str, ...] = ()
    ) -> None:
        self.data = data
        self.args = args  # more `tqops serve` arguments (--misp-modules ADDRESS:PORT)
        self.cert, self.key, self.ca = tls_files(data.parent)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.env = env or {}
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> RunningHost:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tqops.cli",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                "--tls-cert",
                self.cert,
                "--tls-key",
                self.key,
                *self.args,
            ],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tqops serve ended: {self.process.stderr.read()}")
            try:
                self.api().get(f"{self.url}/api/v1/me", timeout=1)
                return self
            except requests.exceptions.SSLError:
                self.kill()
                raise
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
                time.sleep(0.1)
        self.kill()  # never left behind by a start that gave up
        raise RuntimeError("tqops serve did not start within 30 s")

    def api(self, key: Optional[str] = None) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = self.ca
        if key:
            session.headers["Authorization"] = f"Bearer {key}"
        return session

    def kill(self) -> None:
        """``kill -9``: nothing runs on the way out."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 40) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def __enter__(self) -> RunningHost:
        try:
            return self.start()
        except BaseException:  # a host that did not come up is not left running
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def wait_for(check: Any, timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``check()`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s")


@contextlib.contextmanager
def api_client(host: Any, user: str) -> Iterator[Any]:
    """A FastAPI TestClient of ``host``'s app, authenticated with a new API key of ``user``."""
    from fastapi.testclient import TestClient

    from tqops.server.app import create_app

    key = host.users.new_key(user).api_key
    with TestClient(create_app(host), base_url="http://127.0.0.1") as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client
