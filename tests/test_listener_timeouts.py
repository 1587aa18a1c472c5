"""Both listeners of a real `tqops serve` (the host's, over TLS, and MISP's modules, plain HTTP
on loopback) hold a client that sends half a request, a slow body or nothing at all for no
longer than their settings: raw sockets, the server's own close observed (EOF), never a
clock. Before these deadlines, the half-sent requests of issue 19 stayed open for good."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.support.hosting import RunningHost, free_port, wait_for
from tqops.server.limits import HostLimits
from tqops.server.serve import listener_settings

pytestmark = pytest.mark.slow

#: how long a socket read waits for the server at most: far past every deadline set here, so
#: a server that never closes fails the test instead of passing it
READ = 60
ENV = {"TQOPS_HEADER_TIMEOUT": "1", "TQOPS_BODY_TIMEOUT": "2", "TQOPS_IDLE_TIMEOUT": "1"}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    port = free_port()
    args = ("--misp-modules", f"127.0.0.1:{port}", "--workers", "0")
    with RunningHost(tmp_path_factory.mktemp("timeouts") / "data", env=ENV, args=args) as running:
        running.misp_port = port
        wait_for(lambda: _answers(port))
        yield running


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def main_listener(host) -> socket.socket:
    """A TLS connection to the host's own listener."""
    context = ssl.create_default_context(cafile=host.ca)
    raw = socket.create_connection(("127.0.0.1", host.port), timeout=READ)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def misp_listener(host) -> socket.socket:
    return socket.create_connection(("127.0.0.1", host.misp_port), timeout=READ)


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a read that waits past
    :data:`READ` raises: the server kept it open)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            return received
        if not chunk:
            return received
        received += chunk


@pytest.mark.parametrize("listener", [main_listener, misp_listener])
def test_half_a_request_line_is_answered_408_and_closed(host, listener):
    with listener(host) as sock:
        sock.sendall(b"GET /api/v1/me HT")
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"headers took over 1 s" in answer


@pytest.mark.parametrize("listener", [main_listener, misp_listener])
def test_headers_that_never_end_are_answered_408_and_closed(host, listener):
    with listener(host) as sock:
        sock.sendall(b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
        assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


@pytest.mark.parametrize("listener", [main_listener, misp_listener])
def test_a_connection_that_sends_nothing_is_closed(host, listener):
    with listener(host) as sock:
        assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_a_body_slower_than_its_deadline_is_cut_off(host):
    with misp_listener(host) as sock:
        head = b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Content-Length: 1000\r\n\r\n" + b'{"module": ')
        answer = until_closed(sock)
    assert b"HTTP/1.1 200" not in answer  # no query was answered: the connection was closed


def test_an_idle_keep_alive_connection_is_closed_after_its_answer(host):
    with misp_listener(host) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":true}')


def test_a_whole_request_sent_in_pieces_within_the_deadlines_is_served(host):
    with main_listener(host) as sock:
        for piece in (b"GET /api/v1/me HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(piece)
        answer = until_closed(sock)  # answered, then closed as idle
    assert answer.startswith(b"HTTP/1.1 401 ")  # no key: refused by the route, not the clock
    assert b"408" not in answer.split(b"\r\n")[0]


def test_the_listener_settings_are_what_uvicorn_is_given():
    limits = HostLimits(header_timeout=3, body_timeout=4, idle_timeout=7, connections=50)
    given = listener_settings(limits)
    assert given["timeout_keep_alive"] == 7 and given["limit_concurrency"] == 50
    assert given["http"].__name__.startswith("Guarded")


def test_connections_over_the_limit_are_answered_503_until_some_close(tmp_path):
    env = {"TQOPS_MAX_CONNECTIONS": "3"}
    with RunningHost(tmp_path / "data", env=env, args=("--workers", "0")) as running:
        holders = [main_listener(running) for _ in range(3)]  # each sends nothing (yet)

        def status() -> int:
            with main_listener(running) as sock:
                sock.sendall(
                    b"GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                return int(until_closed(sock).split(b" ", 2)[1])

        try:
            wait_for(lambda: status() == 503)
        finally:
            for sock in holders:
                sock.close()
        wait_for(lambda: status() == 401)  # served again: refused only for want of a key
