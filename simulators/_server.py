"""The simulators' shared base: a threaded HTTPS server on loopback, made to never be the
bottleneck (listen backlog far above the default 5, TCP_NODELAY, one write per response,
keep-alive, TLS handshakes in the worker thread), with a request log and fault injection.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional, Union
from urllib.parse import parse_qs, urlsplit

import trustme

__all__ = ["RecordedRequest", "SimulatorServer", "TestCA", "default_ca"]

Fault = Union[int, tuple, str]


class TestCA:
    """A test certificate authority (trustme) and a server certificate for loopback."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.server_cert = self.ca.issue_cert("127.0.0.1", "localhost", "::1")
        self._dir = tempfile.mkdtemp(prefix="tqops-ca-")
        self.ca_pem_path = str(Path(self._dir) / "test-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem_path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_cert.configure_cert(context)
        return context


@functools.lru_cache(maxsize=1)
def default_ca() -> TestCA:
    """One CA for every simulator in the process, so one ca_bundle trusts them all."""
    return TestCA()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)
    #: when it arrived (time.monotonic()): a rate is checked over any one-second window
    at: float = field(default_factory=time.monotonic, compare=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = RecordedRequest(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
        )
        self.server.record(request)
        fault = self.server.next_fault()
        if fault is not None and self._apply_fault(fault):
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        status, headers, body = self.server.respond(request)
        self.send_bytes(status, headers, body)

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the request is answered (or dropped) by it."""
        if fault == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if (
            isinstance(fault, tuple) and fault and fault[0] == "raw"
        ):  # bytes as they are, then close
            self.close_connection = True
            self.wfile.write(fault[1])
            self.wfile.flush()
            return True
        if isinstance(fault, tuple) and fault and fault[0] == "delay":
            time.sleep(float(fault[1]))
            return False
        status, headers = (fault, {}) if isinstance(fault, int) else (fault[0], dict(fault[1]))
        body = json.dumps({"message": f"simulated fault {status}"}).encode()
        if isinstance(fault, tuple) and len(fault) > 2:  # (status, headers, raw body)
            body = fault[2] if isinstance(fault[2], bytes) else str(fault[2]).encode()
        self.send_bytes(status, {"Content-Type": "application/json", **headers}, body)
        return True

    def send_bytes(self, status: int, headers: dict[str, str], body: bytes) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Length: {len(body)}",
            "Server: tqops-simulator",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)  # one write: no delayed-ACK stall between head and body
        self.wfile.flush()
        # written by hand, not by send_response, so the request is logged here (--verbose)
        self.log_request(status, len(body))

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_DELETE = _handle


class SimulatorServer(ThreadingHTTPServer):
    """A vendor simulator over HTTPS on 127.0.0.1 (port 0: the OS picks a free one)."""

    request_queue_size = 512
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        port: int = 0,
        latency: float = 0.0,
        verbose: bool = False,
        ca: Optional[TestCA] = None,
    ) -> None:
        self.ca = ca or default_ca()
        self.latency = latency
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        #: TCP connections accepted (keep-alive reuse shows as fewer connections than calls)
        self.connections = 0
        #: TLS handshakes completed (one per pooled client connection)
        self.handshakes = 0
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._context = self.ca.server_context()
        self._thread: Optional[threading.Thread] = None
        super().__init__(("127.0.0.1", port), _Handler)

    # TLS per connection, in the worker thread: a slow client never blocks accept()
    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections += 1
        try:
            request.settimeout(30)
            tls = self._context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._lock:
            self.handshakes += 1
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)

    # -- what subclasses provide ------------------------------------------------------------

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def json_response(
        status: int, document: Any, headers: Optional[dict[str, str]] = None
    ) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(document).encode()
        return status, {"Content-Type": "application/json", **(headers or {})}, body

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0
            self.handshakes = 0

    def enqueue_faults(self, *faults: Fault) -> None:
        """Apply each fault to the next request, in order: a status, (status, headers),
        (status, headers, body), ("raw", bytes) written as they are, "drop" (close without
        answering) or ("delay", seconds)."""
        with self._lock:
            self._faults.extend(faults)

    def next_fault(self) -> Optional[Fault]:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def hostname(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.hostname}"

    @property
    def ca_pem_path(self) -> str:
        return self.ca.ca_pem_path

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=type(self).__name__,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
