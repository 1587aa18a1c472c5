"""What went wrong, in one line with a hint: every HTTP status (:func:`error_for_status`) and
every transport failure (:func:`transport_error`) is mapped here.

Transport failures are told apart by the classes of the exceptions requests, urllib3,
http.client, ssl and socket chain together, never by their message text, which changes between
versions and platforms and may quote what a server or proxy sent.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Sequence
from typing import Optional, Union
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3

from tqops.config.values import redact
from tqops.errors import ApiError, AuthenticationError, TransportError
from tqops.http.chain import DNS_ERRORS, exception_chain, has, raised_in_tunnel
from tqops.http.pacing import RETRY_HISTORY
from tqops.http.settings import HttpSettings

__all__ = ["error_for_status", "tls_reason", "transport_error"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


try:  # urllib3's own hostname check (used instead of OpenSSL's in some set-ups)
    from urllib3.util.ssl_match_hostname import CertificateError as _HostMismatch
except ImportError:  # pragma: no cover - older urllib3
    _HostMismatch = ssl.CertificateError

_TLS = (requests.exceptions.SSLError, u3.SSLError, ssl.SSLError, _HostMismatch)
_PROXY = (requests.exceptions.ProxyError, u3.ProxyError)
#: requests and urllib3 mark a failure while connecting (NewConnectionError is filed here too)
_CONNECTING = (requests.exceptions.ConnectTimeout, u3.ConnectTimeoutError)
_TIMEOUTS = (requests.exceptions.Timeout, u3.TimeoutError, TimeoutError, socket.timeout)
_TRUNCATED = (
    requests.exceptions.ChunkedEncodingError,
    u3.IncompleteRead,
    http.client.IncompleteRead,
)
#: urllib3 raises ProtocolError("Connection aborted.", ...) when no answer came back at all
_DROPPED = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    u3.ProtocolError,
)

#: OpenSSL's X509_V_ERR_* verify codes -> what they mean for the admin
_VERIFY_REASONS = {
    9: "the certificate is not yet valid",
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the certificate is self-signed",
    20: "the certificate's issuer is not trusted",
    62: "the certificate does not match the hostname",
    64: "the certificate does not match the hostname",
}
#: OpenSSL's reasons when the peer's first bytes are not a TLS record (plain HTTP, say)
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"})

# http.client keeps a proxy's answer to CONNECT only in this message, and urllib3 (which copies
# http.client's tunnelling) passes that OSError on as it is: the one message text parsed here.
_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})\b([^'\")]*)")


def _vendor_message(response: requests.Response) -> str:
    """The vendor's own explanation from an error body, on one line (empty for HTML pages)."""
    text = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            for key in ("message", "error", "detail", "title"):
                if isinstance(body.get(key), str):
                    text = body[key]
                    break
    except ValueError:
        ctype = response.headers.get("Content-Type", "")
        if "html" not in ctype:
            text = response.text[:200]
    return _CONTROL.sub(" ", text).strip()[:200]


def error_for_status(
    response: requests.Response,
    vendor: str,
    credential: str,
    tries: int = 1,
    secrets: tuple[str, ...] = (),
    credential_field: Optional[str] = None,
) -> Optional[Union[ApiError, AuthenticationError]]:
    """The error a status means (``None`` for success): the one place statuses are mapped.

    ``credential`` names the credential in prose ("access token"); ``credential_field`` is
    the configuration field that holds it (the prose name when not given). Each of ``secrets``
    is masked wherever the vendor echoes it (its message, the path).
    """
    status = response.status_code
    if status < 400:
        return None
    path = redact(urlsplit(response.url).path or "/", secrets)
    detail = redact(_vendor_message(response), secrets)
    said = f": {detail}" if detail else ""
    after = f" after {tries} tries" if tries > 1 else ""
    if status in (401, 403):
        return AuthenticationError(
            f"{vendor} rejected the {credential} (HTTP {status}{said}) @ {path}; "
            f"check the {credential_field or credential} field",
            status=status,
        )
    if status == 429:
        return ApiError(
            f"{vendor} is rate limiting (HTTP 429{said}) @ {path}; gave up{after}",
            status=status,
            retriable=True,
            tries=tries,
        )
    if status >= 500:
        return ApiError(
            f"{vendor} failed (HTTP {status}{said}) @ {path}{after}",
            status=status,
            retriable=True,
            tries=tries,
        )
    return ApiError(
        f"{vendor} refused the request (HTTP {status}{said}) @ {path}", status=status, tries=tries
    )


def _timed_out(error: BaseException) -> bool:
    # urllib3 files NewConnectionError (any failed connect, usually a refusal) under its
    # ConnectTimeoutError, so it is not a timeout by itself
    return isinstance(error, _TIMEOUTS) and not isinstance(error, u3.NewConnectionError)


def _tries(chain: Sequence[BaseException]) -> int:
    """The tries made: the retry history our Retry put on the MaxRetryError, else one."""
    for error in chain:
        history = getattr(error, RETRY_HISTORY, None)
        if isinstance(error, u3.MaxRetryError) and history is not None:
            return max(1, len(history))
    return 1


def tls_reason(exc: BaseException) -> str:
    """Why a TLS handshake failed, in the admin's words."""
    for error in exception_chain(exc):
        if isinstance(error, ssl.SSLCertVerificationError):
            # only the ssl module's own errors are sure to carry the verify_* attributes
            code = getattr(error, "verify_code", None)
            message = getattr(error, "verify_message", None)
            if code in _VERIFY_REASONS or message:
                return _VERIFY_REASONS.get(code) or str(message)
        elif isinstance(error, _HostMismatch):
            return _VERIFY_REASONS[62]
        elif isinstance(error, ssl.SSLError) and getattr(error, "reason", None) in _NOT_TLS:
            return "the server did not answer with TLS"
    return "the TLS handshake failed"


def _proxy_detail(chain: Sequence[BaseException], settings: HttpSettings) -> str:
    for error in chain:
        if not isinstance(error, OSError) or not error.args or not isinstance(error.args[0], str):
            continue
        match = _TUNNEL_FAILED.match(error.args[0])
        if match and match.group(1) == "407" and settings.proxy_has_credentials:
            return (
                "the proxy rejected the credentials in the proxy URL (407); check its user "
                "and password"
            )
        if match and match.group(1) == "407":
            return (
                "the proxy requires authentication (407); put credentials in the proxy URL "
                "(http://user:password@host:port)"
            )
        if match:
            return f"the proxy refused the tunnel ({match.group(1)}{match.group(2).rstrip()})"
    if raised_in_tunnel(chain):
        # it answered CONNECT with something that is not HTTP, or closed the connection
        return "the proxy did not answer as an HTTP proxy (is that its address and port?)"
    return "the proxy could not be reached"


def _describe(
    chain: Sequence[BaseException], where: str, tries: int, settings: HttpSettings
) -> tuple[str, str]:
    """(cause, message) for a failed call, by the classes in its exception chain."""
    after = f" after {tries} tries" if tries > 1 else ""
    if has(chain, _TLS):
        return "tls", (
            f"TLS verification of {where} failed: {tls_reason(chain[0])}; trust the server's CA "
            f"with the {settings.field('ca_file')} field (a PEM file), or turn off "
            f"{settings.field('verify_tls')}"
        )
    if has(chain, _PROXY) or (settings.proxies and raised_in_tunnel(chain)):
        return "proxy", f"proxy failed for {where}: {_proxy_detail(chain, settings)}{after}"
    if any(_timed_out(error) for error in chain):
        if has(chain, _CONNECTING):
            return "timeout", f"connecting to {where} timed out{after}"
        return "timeout", (
            f"{where} did not answer within the timeout{after}; "
            f"raise the {settings.field('timeout')} field"
        )
    if has(chain, DNS_ERRORS):
        return "dns", f"cannot resolve {where}: check the {settings.field('host')} field"
    if has(chain, (ConnectionRefusedError,)):
        return (
            "connection",
            f"{where} refused the connection{after}; are the host and port in the "
            f"{settings.field('host')} field right?",
        )
    if has(chain, _TRUNCATED):
        return "connection", (
            f"{where} closed the connection in the middle of its answer (truncated body)"
        )
    if has(chain, _DROPPED):
        return "connection", f"{where} closed the connection without an answer{after}"
    return "connection", f"cannot reach {where}{after}: {type(chain[0]).__name__}"


def transport_error(
    exc: BaseException, where: str, settings: HttpSettings, tries: Optional[int] = None
) -> TransportError:
    """The :class:`TransportError` for a call that got no usable answer from ``where``.

    ``cause`` is ``tls``, ``proxy``, ``timeout``, ``dns`` or ``connection``; ``tries`` defaults
    to the count the retry policy recorded on the exception (one if it recorded none). Hints
    name configuration fields through ``settings.field(role)``.
    """
    chain = exception_chain(exc)
    made = _tries(chain) if tries is None else tries
    cause, message = _describe(chain, where, made, settings)
    return TransportError(message, cause=cause, tries=made)
