"""The HTTP session factory: one Session per client, and every status mapped to an error here.

``trust_env`` is off: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` would silently override
``verify_ssl`` and ``ca_bundle``, and ``~/.netrc`` could add credentials. The platform proxy is
read from the environment (honouring ``NO_PROXY``) only when ``use_proxy`` is on, and ``verify``
and ``proxies`` are passed explicitly on every request. Retries are urllib3's ``Retry``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional, Union
from urllib.parse import urlsplit

import attrs
import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from .config import Config, redact
from .errors import ApiError, AuthenticationError, ConfigError, TransportError

__all__ = [
    "BearerAuth",
    "HeaderAuth",
    "HttpClient",
    "HttpSettings",
    "RateLimiter",
    "error_for_status",
]

log = logging.getLogger("tqops.http")

USER_AGENT = "tqops/1.0 (+threat-intelligence enrichment operations)"
MAX_BODY_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth('********')"


class HeaderAuth(AuthBase):
    """A credential in a custom header (Tego's ``license``)."""

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self._value
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({self.header!r}, '********')"


def _mask_proxy(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        return url.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2])
    return url


def _check_proxy(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"proxy {_mask_proxy(url)!r} is not an http:// or https:// proxy URL @ --proxy"
        )
    return parts.geturl()


@attrs.frozen
class HttpSettings:
    """How to reach one vendor: base URL, TLS, proxies, timeouts, retries, pool size."""

    base_url: str
    verify: Union[bool, str] = True
    timeout: float = 30.0
    proxies: Mapping[str, str] = attrs.field(
        factory=dict, repr=lambda p: repr({k: _mask_proxy(v) for k, v in p.items()})
    )
    max_tries: int = 5
    backoff: float = 0.5
    max_retry_after: float = 60.0
    pool_size: int = 8
    #: pace calls to at most this many per second (None: no pacing)
    max_requests_per_second: Optional[float] = None

    @classmethod
    def from_config(
        cls, config: Config, proxy: Optional[str] = None, pool_size: int = 8
    ) -> HttpSettings:
        """Settings from the standard config fields (hostname, verify_ssl, ca_bundle, ...)."""
        base_url = f"https://{config['hostname']}"
        verify: Union[bool, str] = bool(config.get("verify_ssl", True))
        if verify and config.get("ca_bundle"):
            verify = str(config["ca_bundle"])
        proxies: dict[str, str] = {}
        if config.get("use_proxy"):
            if proxy:
                if not requests.utils.should_bypass_proxies(base_url, no_proxy=None):
                    checked = _check_proxy(proxy)
                    proxies = {"https": checked, "http": checked}
            else:
                found = requests.utils.get_environ_proxies(base_url, no_proxy=None)
                proxies = {k: v for k, v in found.items() if k in ("https", "http", "all")}
                for value in proxies.values():
                    _check_proxy(value)
        return cls(
            base_url=base_url,
            verify=verify,
            timeout=float(config.get("timeout") or 30.0),
            proxies=proxies,
            pool_size=max(1, pool_size),
            max_requests_per_second=config.get("max_requests_per_second") or None,
        )


class RateLimiter:
    """Spaces calls at least ``1 / per_second`` apart across threads, so a bulk run paces
    itself before the vendor has to throttle it (429s still back off on top)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until this call's slot; return the seconds waited."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)
        return max(0.0, delay)


class _Retry(Retry):
    """urllib3's Retry with a cap on ``Retry-After`` and jitter on the backoff."""

    max_retry_after: float = 60.0

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        return max(0.0, min(seconds, self.max_retry_after))

    def get_backoff_time(self) -> float:
        base = super().get_backoff_time()
        return base + random.uniform(0, base / 2) if base else 0.0

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)
        retry.max_retry_after = self.max_retry_after
        return retry


def _make_retry(settings: HttpSettings) -> _Retry:
    retries = max(0, settings.max_tries - 1)
    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,  # TLS failures and the like are not transient
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    retry.max_retry_after = settings.max_retry_after
    return retry


def _vendor_message(response: requests.Response) -> str:
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
) -> Optional[Union[ApiError, AuthenticationError]]:
    """The error a status means (``None`` for success): the one place statuses are mapped."""
    status = response.status_code
    if status < 400:
        return None
    path = urlsplit(response.url).path or "/"
    detail = redact(_vendor_message(response), secrets)
    said = f": {detail}" if detail else ""
    after = f" after {tries} tries" if tries > 1 else ""
    if status in (401, 403):
        return AuthenticationError(
            f"{vendor} rejected the {credential} (HTTP {status}{said}) @ {path}; "
            f"check the {credential.replace(' ', '_')} field",
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


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    for pattern, reason in (
        (r"self[- ]signed certificate", "the certificate is self-signed"),
        (r"unable to get local issuer", "the certificate's issuer is not trusted"),
        (r"certificate has expired", "the certificate has expired"),
        (r"not yet valid", "the certificate is not yet valid"),
        (
            r"[Hh]ostname mismatch|IP address mismatch|doesn't match",
            "the certificate does not match the hostname",
        ),
        (r"WRONG_VERSION_NUMBER|wrong version number", "the server did not answer with TLS"),
    ):
        if re.search(pattern, text):
            return reason
    match = re.search(r"certificate verify failed: ([^(')]+)", text)
    if match:
        return match.group(1).strip()
    return "the TLS handshake failed"


def _transport_error(exc: requests.RequestException, where: str, tries: int) -> TransportError:
    text = str(exc)
    chain: list[BaseException] = []
    cursor: Optional[BaseException] = exc
    while cursor is not None and cursor not in chain:
        chain.append(cursor)
        reason = getattr(cursor, "reason", None)
        cursor = reason if isinstance(reason, BaseException) else cursor.__context__
    names = " ".join(type(e).__name__ for e in chain) + " " + text
    after = f" after {tries} tries" if tries > 1 else ""
    if isinstance(exc, requests.exceptions.SSLError) or "SSLError" in names:
        return TransportError(
            f"TLS verification of {where} failed: {_tls_reason(exc)}; trust the server's CA "
            "with the ca_bundle field (a PEM file), or turn off verify_ssl",
            cause="tls",
        )
    if isinstance(exc, requests.exceptions.ProxyError) or "ProxyError" in names:
        status = re.search(r"Tunnel connection failed: (\d{3}[^'\")]*)", text)
        if status and status.group(1).startswith("407"):
            detail = "the proxy requires authentication (407); put credentials in the proxy URL"
        elif status:
            detail = f"the proxy refused the tunnel ({status.group(1).strip()})"
        else:
            detail = "the proxy could not be reached"
        return TransportError(
            f"proxy failed for {where}: {detail}{after}", cause="proxy", tries=tries
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout) or "ConnectTimeout" in names:
        return TransportError(
            f"connecting to {where} timed out{after}", cause="timeout", tries=tries
        )
    if isinstance(exc, requests.exceptions.ReadTimeout) or "ReadTimeout" in names:
        return TransportError(
            f"{where} did not answer within the timeout{after}; raise the timeout field",
            cause="timeout",
            tries=tries,
        )
    if "NameResolution" in names or "Name or service not known" in text or "getaddrinfo" in text:
        return TransportError(f"cannot resolve {where}: check the hostname field", cause="dns")
    if "Connection refused" in text or "ConnectionRefused" in names:
        return TransportError(
            f"{where} refused the connection{after}; is the hostname and port right?",
            cause="connection",
            tries=tries,
        )
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in names:
        return TransportError(
            f"{where} closed the connection in the middle of its answer (truncated body)",
            cause="connection",
            tries=tries,
        )
    if "RemoteDisconnected" in names or "Connection aborted" in text or "reset" in text.lower():
        return TransportError(
            f"{where} closed the connection without an answer{after}",
            cause="connection",
            tries=tries,
        )
    return TransportError(
        f"cannot reach {where}{after}: {type(exc).__name__}", cause="connection", tries=tries
    )


class HttpClient:
    """One pooled, authenticated Session to one vendor host; returns parsed JSON."""

    def __init__(
        self,
        settings: HttpSettings,
        auth: AuthBase,
        vendor: str,
        credential: str,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.vendor = vendor
        self.credential = credential
        self._secrets = secrets
        self._origin = urlsplit(settings.base_url)
        session = requests.Session()
        session.trust_env = False
        session.auth = auth
        session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        adapter = HTTPAdapter(
            max_retries=_make_retry(settings),
            pool_connections=1,
            pool_maxsize=settings.pool_size,
            pool_block=True,
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self.session = session
        if settings.verify is False:
            log.warning("TLS certificate verification is OFF for %s (verify_ssl=false)", self.where)
        self._limiter = (
            RateLimiter(settings.max_requests_per_second)
            if settings.max_requests_per_second
            else None
        )

    def __repr__(self) -> str:
        return f"HttpClient({self.settings.base_url!r})"

    def close(self) -> None:
        self.session.close()

    @property
    def where(self) -> str:
        return self._origin.netloc

    def url(self, path: str) -> str:
        return self.settings.base_url + path

    def get(
        self, path_or_url: str, params: Optional[Mapping[str, Any]] = None
    ) -> requests.Response:
        """GET a path (or a same-origin absolute URL, e.g. a next-page link); errors mapped."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc.lower()) != (self._origin.scheme, self._origin.netloc):
            raise ApiError(
                f"{self.vendor} sent a link to another origin ({parts.scheme}://{parts.hostname}); "
                "not followed, so the credential stays with its host"
            )
        if self._limiter is not None:
            self._limiter.wait()
        started = time.monotonic()
        timeout = (min(10.0, self.settings.timeout), self.settings.timeout)
        try:
            response = self.session.get(
                url,
                params=params,
                timeout=timeout,
                verify=self.settings.verify,
                proxies=dict(self.settings.proxies),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            tries = self.settings.max_tries if "Max retries" in str(exc) else 1
            error = _transport_error(exc, self.where, tries)
            log.debug("GET %s failed: %s", parts.path, error)
            raise error from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        tries = len(history) + 1
        try:
            body = self._read_body(response, parts.path)
        except requests.RequestException as exc:
            raise _transport_error(exc, self.where, tries) from None
        log.debug(
            "GET %s -> %s in %.3fs (%d %s)",
            parts.path,
            response.status_code,
            time.monotonic() - started,
            tries,
            "try" if tries == 1 else "tries",
        )
        response._content = body  # the body is read once, under a size cap
        if 300 <= response.status_code < 400:
            raise ApiError(
                f"{self.vendor} answered with a redirect (HTTP {response.status_code}) @ "
                f"{parts.path}; check the hostname field",
                status=response.status_code,
            )
        error = error_for_status(response, self.vendor, self.credential, tries, self._secrets)
        if error is not None:
            raise error
        return response

    def _read_body(self, response: requests.Response, path: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            response.close()
            raise ApiError(
                f"{self.vendor} answered with {int(declared)} bytes @ {path}; more than the "
                f"{MAX_BODY_BYTES // 2**20} MB limit"
            )
        chunks, size = [], 0
        for chunk in response.iter_content(256 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                response.close()
                raise ApiError(
                    f"{self.vendor} answered with more than {MAX_BODY_BYTES // 2**20} MB @ {path}"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def get_json(
        self, path_or_url: str, params: Optional[Mapping[str, Any]] = None
    ) -> tuple[Any, requests.Response]:
        """GET and parse JSON; ``None`` for an empty body. Not-JSON is an :class:`ApiError`."""
        response = self.get(path_or_url, params)
        path = urlsplit(response.url).path
        if not response.content.strip():
            return None, response
        try:
            return json.loads(response.content), response
        except (ValueError, RecursionError):
            ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ApiError(
                f"{self.vendor} answered with a body that is not JSON ({ctype}, "
                f"{len(response.content)} bytes) @ {path}",
                status=response.status_code,
            ) from None
