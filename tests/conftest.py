"""The fixtures the tests share: the vendor simulators over real TLS on loopback, a running
`tqops serve` configured against one, and the console tests' browser. The simulators and the
hosts take their certificates from one test CA (``simulators.default_ca()``, one per process),
whose PEM is each simulator's ``ca_pem_path``.

A simulator lives for the whole session (one per xdist worker): it only answers, and the
function-scoped fixtures (``sim``, ``tego_sim``) give each test an empty request log and take
back what a test changed (latency, faults it did not use). Tests that need a vendor with other
data or credentials start their own simulator.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

from simulators import SimulatorServer, TegoSimulator, TieSimulator
from tests.support import runner_python
from tests.support.hosting import RunningHost
from tests.support.postgres import postgres  # noqa: F401 - the session's PostgreSQL
from tests.support.protocols import protocol_host
from tests.support.vendors import TEGO_LICENSE, TIE_KEY, TIE_TOKEN, TIE_USER

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.support.browser import Screenshots

Server = TypeVar("Server", bound=SimulatorServer)


@pytest.fixture(scope="session", autouse=True)
def runner_interpreter() -> Iterator[None]:
    """As root, runners run as ``nobody``, who cannot run this virtualenv's Python: the tests
    set ``TQOPS_RUNNER_PYTHON`` to one that user can run, as the README tells an admin to."""
    if not runner_python.needed() or os.environ.get("TQOPS_RUNNER_PYTHON"):
        yield
        return
    script = runner_python.build()
    os.environ["TQOPS_RUNNER_PYTHON"] = str(script)
    try:
        yield
    finally:
        os.environ.pop("TQOPS_RUNNER_PYTHON", None)
        shutil.rmtree(script.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def tie() -> Iterator[TieSimulator]:
    """DCSO TIE: v1 takes TIE_TOKEN, v2 and v3 TIE_USER and TIE_KEY."""
    with TieSimulator(token=TIE_TOKEN, api_user=TIE_USER, api_key=TIE_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def tego() -> Iterator[TegoSimulator]:
    """Tego: takes TEGO_LICENSE."""
    with TegoSimulator(token=TEGO_LICENSE) as server:
        yield server


def _fresh(server: Server) -> Iterator[Server]:
    server.clear_requests()
    latency = server.latency
    yield server
    server.latency = latency
    while server.next_fault() is not None:  # a fault left unused must not fail the next test
        pass


@pytest.fixture()
def sim(tie: TieSimulator) -> Iterator[TieSimulator]:
    """The TIE simulator with an empty request log; its latency and unused faults are undone
    after the test."""
    yield from _fresh(tie)


@pytest.fixture()
def tego_sim(tego: TegoSimulator) -> Iterator[TegoSimulator]:
    """The Tego simulator with an empty request log; its latency and unused faults are undone
    after the test."""
    yield from _fresh(tego)


@pytest.fixture(scope="module")
def tie_host(tmp_path_factory: pytest.TempPathFactory, tie: TieSimulator) -> Iterator[RunningHost]:
    """`tqops serve` for one test module, with an admin, an analyst and a viewer, and DCSO TIE
    configured against ``tie``. Per module: a test's jobs and stored results stay in its module
    (a host looks a repeated indicator up once)."""
    with protocol_host(tmp_path_factory.mktemp("host") / "data", tie) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Chromium trusting the test CA, for one module of the console's tests."""
    from tests.support.browser import chromium  # Playwright: only where a browser is driven

    with chromium(tmp_path_factory.mktemp("chromium")) as found:
        yield found


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    """Where the console's screenshots go (one folder for the run, printed once)."""
    from tests.support.browser import Screenshots

    return Screenshots(tmp_path_factory.getbasetemp() / "console-screenshots")
