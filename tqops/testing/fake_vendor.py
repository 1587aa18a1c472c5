"""A loopback fake vendor for an operation's tests: canned JSON per method and path.

It serves HTTPS on ``127.0.0.1`` (port 0: the OS picks a free one) with a certificate from a
throw-away test CA, because an operation always speaks https to its host. The CA comes from
``trustme`` (in tqops' ``test`` extra), imported only when a fake vendor starts. Give the
operation :attr:`FakeVendor.hostname` as its host and :attr:`FakeVendor.ca_file` as its CA file
(:meth:`FakeVendor.config` does both, by the fields' roles)::

    with FakeVendor({("GET", "/api/lookup"): {"results": [...]}}) as vendor:
        config = {**vendor.config(OPERATION.manifest), "api_key": "test-key"}
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import attrs

from tqops.manifest.document import Manifest

__all__ = ["FakeVendor", "Reply", "SeenRequest"]

#: a request body larger than this is not read (the fake answers 413)
MAX_BODY = 1_000_000


@attrs.frozen
class Reply:
    """A canned answer: a status, a JSON document (None: an empty body) and headers."""

    document: Any = None
    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class SeenRequest:
    """A request the fake vendor received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(default=b"", repr=False)

    def form(self) -> dict[str, list[str]]:
        """The body read as an HTML form (``application/x-www-form-urlencoded``)."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def json(self) -> Any:
        """The body read as JSON."""
        return json.loads(self.body or b"null")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is its own."""

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= MAX_BODY else b""
        seen = SeenRequest(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        reply = self.server.vendor.reply_to(seen)
        if length > MAX_BODY:
            reply = Reply({"error": "request body too large"}, 413)
        data = b"" if reply.document is None else json.dumps(reply.document).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, vendor: FakeVendor, context: ssl.SSLContext) -> None:
        self.vendor = vendor
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS in the worker thread, so a client that never handshakes blocks no one
        try:
            request.settimeout(10)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is no error of the test's."""


def _test_ca() -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 and the PEM file of the CA that signed it."""
    try:
        import trustme
    except ImportError:
        raise ImportError(
            "tqops.testing.fake_vendor needs trustme for its test CA: "
            "pip install trustme (or tqops[test])"
        ) from None
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    pem = Path(tempfile.mkdtemp(prefix="tqops-fake-vendor-")) / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return context, str(pem)


class FakeVendor:
    """A vendor on loopback HTTPS that answers each ``(METHOD, path)`` with a canned
    :class:`Reply` (or a JSON document, answered 200); anything else is a 404. Every request
    is kept in :attr:`requests`."""

    def __init__(self, routes: Optional[Mapping[tuple[str, str], Any]] = None) -> None:
        self.routes: dict[tuple[str, str], Reply] = {}
        for (method, path), answer in (routes or {}).items():
            self.add(method, path, answer)
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.ca_file = ""

    def add(self, method: str, path: str, answer: Any) -> None:
        """Answer ``method path`` with ``answer`` (a :class:`Reply` or a JSON document)."""
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        self.routes[(method.upper(), path)] = reply

    def reply_to(self, request: SeenRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        found = self.routes.get((request.method, request.path))
        return found or Reply({"error": f"no route for {request.method} {request.path}"}, 404)

    @property
    def hostname(self) -> str:
        """``127.0.0.1:PORT``: the value of the operation's field with role ``host``."""
        if self._server is None:
            raise RuntimeError("the fake vendor is not started")
        return f"127.0.0.1:{self._server.server_address[1]}"

    def config(self, manifest: Manifest) -> dict[str, str]:
        """The configuration values that point ``manifest``'s operation here: its ``host``
        field and its ``ca_file`` field (found by role, never by name)."""
        values = {}
        for role, value in (("host", self.hostname), ("ca_file", self.ca_file)):
            field = manifest.field_for_role(role)
            if field is None:
                raise AssertionError(f"{manifest.name} has no config field with role {role!r}")
            values[field.name] = value
        return values

    def start(self) -> FakeVendor:
        context, self.ca_file = _test_ca()
        self._server = _Server(self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tqops-fake-vendor", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        if self.ca_file:
            shutil.rmtree(Path(self.ca_file).parent, ignore_errors=True)
        self._server = self._thread = None

    def __enter__(self) -> FakeVendor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m tqops.testing.fake_vendor --get PATH=FILE.json [--post PATH=FILE.json]``:
    a fake vendor to try an operation by hand; it prints its host and CA file, and serves until
    Ctrl-C."""
    import argparse
    import signal
    import sys
    import time

    parser = argparse.ArgumentParser(
        prog="python -m tqops.testing.fake_vendor",
        description="Serve canned JSON on loopback HTTPS, as a vendor would.",
    )
    for method in ("get", "post"):
        parser.add_argument(
            f"--{method}",
            action="append",
            default=[],
            metavar="PATH=FILE",
            help=f"answer {method.upper()} PATH with the JSON document in FILE (repeatable)",
        )
    args = parser.parse_args(argv)
    vendor = FakeVendor()
    for method in ("get", "post"):
        for route in getattr(args, method):
            path, _, file = route.partition("=")
            if not path.startswith("/") or not file:
                parser.error(f"--{method} takes PATH=FILE (PATH starting with /)")
            try:
                vendor.add(method, path, json.loads(Path(file).read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                parser.error(f"cannot read {file} as JSON: {exc}")
    # SIGTERM ends it as Ctrl-C does: the server stops and its test CA is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with vendor:
        sys.stdout.write(f"host {vendor.hostname}\nCA file {vendor.ca_file}\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
