"""Test Connection, step by step: configuration, proxy, DNS and TCP, TLS, authentication and a
sample query, each reported on its own line with the hint for the step that failed.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from collections.abc import Iterator
from typing import Optional
from urllib.parse import unquote, urlsplit

import attrs

from tqops.config.values import Config, redact
from tqops.errors import AuthenticationError, OperationError, TransportError
from tqops.http import transport_error
from tqops.operations.operation import Operation
from tqops.operations.vendor import settings_for

__all__ = ["Step", "diagnose"]


@attrs.frozen
class Step:
    """One checked step: ``ok``, ``failed``, ``skipped`` or ``not used``."""

    name: str
    status: str
    detail: str
    hint: str = ""

    def __str__(self) -> str:
        line = f"{self.status.upper():<8} {self.name:<16} {self.detail}"
        return f"{line} (hint: {self.hint})" if self.hint else line


def _split(netloc: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(f"//{netloc}")
    return parts.hostname or netloc, parts.port or default_port


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def _open_tunnel(proxy_url: str, host: str, port: int, timeout: float) -> Optional[Exception]:
    """Ask the proxy for a tunnel to ``host:port`` (CONNECT, with the proxy URL's
    credentials); the error when it gives none, None when it does."""
    parts = urlsplit(proxy_url)
    headers = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        token = base64.b64encode(pair.encode("latin-1", "replace")).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {token}"
    p_host, p_port = _split(parts.netloc.rpartition("@")[2], 8080)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(p_host, p_port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(p_host, p_port, timeout=timeout)
    connection.set_tunnel(host, port, headers)
    try:
        connection.connect()
    except (OSError, http.client.HTTPException) as exc:
        return exc  # told apart by transport_error, as in a run
    finally:
        connection.close()
    return None


def _field(config: Config, role: str) -> str:
    """The name of the field that plays ``role``, for hints."""
    field = config.manifest.field_for_role(role)
    return field.name if field is not None else role


def diagnose(operation: Operation, config: Config, proxy: Optional[str] = None) -> Iterator[Step]:
    """Yield each step's outcome; stop checking after the first failure."""
    label = operation.manifest.label
    secrets = config.secrets()
    yield Step("configuration", "ok", f"{len(config)} fields valid")
    settings = settings_for(config, proxy, pool_size=1)
    host, port = _split(urlsplit(settings.base_url).netloc, 443)
    timeout = min(settings.timeout, 10.0)
    proxy_url = settings.proxies.get("https") or settings.proxies.get("all")
    if proxy_url:
        p_host, p_port = _split(urlsplit(proxy_url).netloc, 8080)
        try:
            _connect(p_host, p_port, timeout).close()
        except OSError as exc:
            yield Step(
                "proxy",
                "failed",
                f"cannot connect to the proxy {p_host}:{p_port} "
                f"({exc.strerror or type(exc).__name__})",
                f"check HTTPS_PROXY/--proxy, or turn off {_field(config, 'proxy')}",
            )
            yield Step("authentication", "skipped", "")
            return
        failure = _open_tunnel(proxy_url, host, port, timeout)
        if failure is not None:  # the proxy answered, but gave no way through
            error = transport_error(failure, f"{host}:{port}", settings)
            yield Step(
                "proxy",
                "failed",
                redact(str(error), secrets),
                f"check HTTPS_PROXY/--proxy, or turn off {_field(config, 'proxy')}",
            )
            yield Step("authentication", "skipped", "")
            return
        yield Step("proxy", "ok", f"{p_host}:{p_port} opened a tunnel to {host}:{port}")
    else:
        use_proxy = _field(config, "proxy")
        reason = f"{use_proxy} is off" if not config.by_role("proxy") else "no proxy applies"
        yield Step("proxy", "not used", reason)
        try:
            addresses = {
                info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            }
        except OSError:
            hint = f"check the {_field(config, 'host')} field"
            yield Step("dns", "failed", f"cannot resolve {host}", hint)
            return
        yield Step("dns", "ok", f"{host} -> {', '.join(sorted(addresses))}")
        try:
            raw = _connect(host, port, timeout)
        except OSError as exc:
            yield Step(
                "tcp",
                "failed",
                f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})",
                f"check the {_field(config, 'host')} and port, and any firewall",
            )
            return
        yield Step("tcp", "ok", f"connected to {host}:{port}")
        context = ssl.create_default_context()
        if settings.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif isinstance(settings.verify, str):
            context = ssl.create_default_context(cafile=settings.verify)
        try:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            yield Step(
                "tls",
                "failed",
                f"certificate of {host} not trusted: {exc.verify_message or exc.reason}",
                f"set {_field(config, 'ca_file')} to the PEM of the CA that signed it, or "
                f"turn off {_field(config, 'verify_tls')}",
            )
            return
        except (ssl.SSLError, OSError) as exc:
            yield Step(
                "tls",
                "failed",
                f"TLS handshake with {host}:{port} failed "
                f"({getattr(exc, 'reason', None) or type(exc).__name__})",
                "is this an HTTPS port?",
            )
            return
        finally:
            raw.close()
        checked = (
            "verified"
            if settings.verify is not False
            else f"NOT verified ({_field(config, 'verify_tls')} off)"
        )
        yield Step("tls", "ok", f"{version}, certificate {checked}")
    try:
        with operation.configure(config, proxy=proxy, pool_size=1) as configured:
            message = configured.test_connection()
    except AuthenticationError as exc:
        yield Step("authentication", "failed", redact(str(exc), secrets))
        return
    except TransportError as exc:
        yield Step("connection", "failed", redact(str(exc), secrets))
        return
    except OperationError as exc:
        yield Step("sample query", "failed", redact(str(exc), secrets))
        return
    yield Step("authentication", "ok", f"{label} accepted the credential")
    yield Step("sample query", "ok", redact(message, secrets))
