"""The transport-failure classifier: real failures provoked on loopback (a refused port, an
unresolvable name, bad certificates, a plain-HTTP port, a silent server, a truncated body,
failing proxies) and hand-built exception chains, each checked for its ``cause``, its message
and its hint, which names the manifest's field for the role. The classifier must decide by
exception class, never by message text."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Optional

import pytest
import requests
import urllib3.exceptions as u3

from simulators._server import RecordedRequest, SimulatorServer, TestCA
from tests.support.forward_proxy import ForwardProxy, dead_proxy_url
from tqops.errors import TransportError
from tqops.http import HttpClient, HttpSettings, tls_reason, transport_error
from tqops.http.auth import BearerAuth
from tqops.http.pacing import RETRY_HISTORY

#: field names unlike the standard ones, so a hint proves it went through the role
FIELDS = {
    "host": "server",
    "credential": "api_key",
    "verify_tls": "check_certificate",
    "ca_file": "trusted_ca",
    "timeout": "wait_seconds",
}
WHERE = "vendor.example:443"


class _Ok(SimulatorServer):
    """An HTTPS server answering ``{}`` to everything (faults still apply)."""

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        return self.json_response(200, {})


def settings(base_url: str, **kw: Any) -> HttpSettings:
    """Fast settings: two tries, no backoff, a short timeout, the unusual field names."""
    kw = {"max_tries": 2, "backoff": 0.0, "timeout": 2.0, "fields": FIELDS, **kw}
    return HttpSettings(base_url=base_url, **kw)


def failure(base_url: str, **kw: Any) -> TransportError:
    """The TransportError a GET of ``/`` raises."""
    client = HttpClient(settings(base_url, **kw), BearerAuth("t"), "Vendor", "API key")
    try:
        with pytest.raises(TransportError) as caught:
            client.get("/")
    finally:
        client.close()
    return caught.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tls_server(ca: TestCA) -> _Ok:
    server = _Ok(ca=ca)
    server._context = ca.server_context()
    return server


def cert_error(code: int, message: str = "") -> ssl.SSLCertVerificationError:
    """What the ssl module raises on a failed verification, built by hand."""
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code = code
    error.verify_message = message
    return error


def wrapped(reason: BaseException, outer: type[requests.RequestException]) -> BaseException:
    """``reason`` as requests hands it over: inside a MaxRetryError inside ``outer``."""
    return outer(u3.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


@pytest.fixture()
def ok_server() -> Iterator[_Ok]:
    with _Ok() as server:
        yield server


# --- real failures ---------------------------------------------------------------------------


def test_a_refused_port_is_a_connection_failure_at_the_first_try() -> None:
    """A refused connection cannot succeed when tried again at once: no retry, no backoff."""
    port = free_port()
    error = failure(f"http://127.0.0.1:{port}", max_tries=5, backoff=10.0)
    assert error.cause == "connection" and error.tries == 1
    assert str(error) == (
        f"127.0.0.1:{port} refused the connection; are the host and port in the server field right?"
    )


def test_an_unresolvable_name_is_dns_names_the_host_field_and_is_not_retried() -> None:
    error = failure("https://nonexistent.invalid", max_tries=5, backoff=10.0)
    assert error.cause == "dns" and error.tries == 1
    assert str(error) == "cannot resolve nonexistent.invalid: check the server field"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unknown-ca", "the certificate's issuer is not trusted"),
        ("expired", "the certificate has expired"),
        ("not-yet-valid", "the certificate is not yet valid"),
        ("wrong-host", "the certificate does not match the hostname"),
    ],
)
def test_bad_certificates_are_tls_failures_naming_the_cause(kind: str, reason: str) -> None:
    ca = TestCA()
    now = datetime.datetime.now(datetime.timezone.utc)
    if kind == "expired":
        ca.server_cert = ca.ca.issue_cert("127.0.0.1", not_after=now - datetime.timedelta(days=1))
    elif kind == "not-yet-valid":
        ca.server_cert = ca.ca.issue_cert(
            "127.0.0.1",
            not_before=now + datetime.timedelta(days=1),
            not_after=now + datetime.timedelta(days=2),
        )
    elif kind == "wrong-host":
        ca.server_cert = ca.ca.issue_cert("tie.example.org")
    verify = True if kind == "unknown-ca" else ca.ca_pem_path
    with tls_server(ca) as server:
        error = failure(server.base_url, verify=verify)
        assert server.requests == []
    assert error.cause == "tls" and error.tries == 1
    assert str(error) == (
        f"TLS verification of {server.hostname} failed: {reason}; trust the server's CA with "
        "the trusted_ca field (a PEM file), or turn off check_certificate"
    )


def test_a_plain_http_port_did_not_answer_with_tls() -> None:
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        error = failure(f"https://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert error.cause == "tls"
    assert "failed: the server did not answer with TLS;" in str(error)


def test_a_silent_server_is_a_read_timeout_naming_the_timeout_field() -> None:
    with socket.socket() as silent:  # the kernel accepts; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        error = failure(f"http://127.0.0.1:{port}", timeout=0.3)
    assert error.cause == "timeout" and error.tries == 2
    assert str(error) == (
        f"127.0.0.1:{port} did not answer within the timeout after 2 tries; "
        "raise the wait_seconds field"
    )


def test_a_truncated_body_and_a_dropped_connection(ok_server: _Ok) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    ok_server.enqueue_faults(("raw", head + b'{"iocs": ['))
    error = failure(ok_server.base_url, verify=ok_server.ca_pem_path)
    assert error.cause == "connection"
    assert str(error) == (
        f"{ok_server.hostname} closed the connection in the middle of its answer (truncated body)"
    )
    ok_server.enqueue_faults("drop", "drop")
    error = failure(ok_server.base_url, verify=ok_server.ca_pem_path)
    assert error.cause == "connection" and error.tries == 2
    assert (
        str(error) == f"{ok_server.hostname} closed the connection without an answer after 2 tries"
    )


@pytest.mark.parametrize(
    ("mode", "detail", "tries"),
    [
        ("dead", "the proxy could not be reached", 1),  # not retried: it cannot help
        ("refuse", "the proxy refused the tunnel (403 Forbidden)", 1),
        (
            "auth",
            "the proxy requires authentication (407); put credentials in the proxy URL "
            "(http://user:password@host:port)",
            1,
        ),
    ],
)
def test_failing_proxies(ok_server: _Ok, mode: str, detail: str, tries: int) -> None:
    with ForwardProxy(mode="open" if mode == "dead" else mode, auth="Basic eDp5") as proxy:
        url = dead_proxy_url() if mode == "dead" else proxy.url
        error = failure(ok_server.base_url, verify=ok_server.ca_pem_path, proxies={"https": url})
    assert error.cause == "proxy" and error.tries == tries
    assert str(error) == f"proxy failed for {ok_server.hostname}: {detail}"
    assert ok_server.requests == []
    if mode != "dead":  # a tunnel refused is not retried: one CONNECT, not one per try
        assert len(proxy.seen) == 1


# --- built exception chains ------------------------------------------------------------------


def classify(exc: BaseException, tries: Optional[int] = None) -> TransportError:
    return transport_error(exc, WHERE, HttpSettings(base_url="https://x", fields=FIELDS), tries)


def test_a_connect_timeout_is_told_from_a_read_timeout() -> None:
    connect = wrapped(u3.ConnectTimeoutError(None, "timed out"), requests.ConnectTimeout)
    assert str(classify(connect)) == f"connecting to {WHERE} timed out"
    # Python 3.9: the kernel's ETIMEDOUT arrives as a NewConnectionError caused by TimeoutError
    new_connection = u3.NewConnectionError(None, "failed")  # type: ignore[arg-type]
    new_connection.__cause__ = TimeoutError(110, "Connection timed out")
    assert classify(wrapped(new_connection, requests.ConnectionError)).cause == "timeout"
    read = wrapped(u3.ReadTimeoutError(None, "/", "Read timed out."), requests.ConnectionError)
    error = classify(read, tries=3)
    assert error.cause == "timeout" and error.tries == 3
    assert str(error) == (
        f"{WHERE} did not answer within the timeout after 3 tries; raise the wait_seconds field"
    )


def test_urllib3_1_dns_failure_is_a_new_connection_error_over_a_gaierror() -> None:
    new_connection = u3.NewConnectionError(None, "Failed to establish")  # type: ignore[arg-type]
    new_connection.__context__ = socket.gaierror(socket.EAI_NONAME, "Name does not resolve")
    error = classify(wrapped(new_connection, requests.ConnectionError))
    assert error.cause == "dns" and str(error) == f"cannot resolve {WHERE}: check the server field"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (18, "the certificate is self-signed"),
        (19, "the certificate is self-signed"),
        (20, "the certificate's issuer is not trusted"),
        (10, "the certificate has expired"),
        (9, "the certificate is not yet valid"),
        (62, "the certificate does not match the hostname"),
        (64, "the certificate does not match the hostname"),
        (28, "invalid CA certificate"),  # unmapped: OpenSSL's own words
    ],
)
def test_verify_codes_become_reasons(code: int, reason: str) -> None:
    exc = wrapped(
        u3.SSLError(cert_error(code, "invalid CA certificate")), requests.exceptions.SSLError
    )
    assert tls_reason(exc) == reason
    assert classify(exc).cause == "tls" and f"failed: {reason};" in str(classify(exc))


def test_a_handshake_failure_without_a_known_reason() -> None:
    exc = ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure")
    assert tls_reason(exc) == "the TLS handshake failed"
    assert classify(requests.exceptions.SSLError(exc)).cause == "tls"


def test_closed_connections_by_type() -> None:
    aborted = u3.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert "without an answer" in str(classify(wrapped(aborted, requests.ConnectionError)))
    truncated = requests.exceptions.ChunkedEncodingError(u3.ProtocolError("broken"))
    assert "truncated body" in str(classify(truncated))


def test_tries_come_from_the_retry_history_on_the_max_retry_error() -> None:
    refused = u3.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    exhausted = u3.MaxRetryError(None, "/", refused)  # type: ignore[arg-type]
    assert classify(requests.ConnectionError(exhausted)).tries == 1  # no history: one try
    setattr(exhausted, RETRY_HISTORY, ("try 1", "try 2", "try 3"))
    error = classify(requests.ConnectionError(exhausted))
    assert error.tries == 3 and "refused the connection after 3 tries" in str(error)


def test_the_classifier_ignores_message_text() -> None:
    lying = requests.ConnectionError("Connection refused")
    lying.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert classify(lying).cause == "dns"
    for text in (
        "SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
        "ProxyError: Tunnel connection failed: 407 Proxy Authentication Required",
        "Max retries exceeded (Caused by ConnectTimeoutError, NameResolutionError)",
        "Read timed out. RemoteDisconnected: Connection aborted, reset",
    ):
        error = classify(requests.ConnectionError(text))
        assert (error.cause, error.tries) == ("connection", 1), text
        assert str(error) == f"cannot reach {WHERE}: ConnectionError"
    # the tunnel status is read only from the OSError under a proxy failure
    tunnel = OSError("Tunnel connection failed: 407 Proxy Authentication Required")
    assert classify(requests.ConnectionError(tunnel)).cause == "connection"


def test_hints_fall_back_to_the_role_name() -> None:
    bare = HttpSettings(base_url="https://x")
    assert bare.field("host") == "host" and bare.field("timeout") == "timeout"
    error = transport_error(socket.gaierror(socket.EAI_NONAME, "no"), WHERE, bare)
    assert str(error) == f"cannot resolve {WHERE}: check the host field"


def test_the_credential_hint_names_the_credential_field(ok_server: _Ok) -> None:
    ok_server.enqueue_faults(401)
    client = HttpClient(
        settings(ok_server.base_url, verify=ok_server.ca_pem_path), BearerAuth("t"), "V", "API key"
    )
    with pytest.raises(Exception, match=r"rejected the API key .*; check the api_key field$"):
        client.get("/")
    client.close()
