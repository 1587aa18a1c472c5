"""HttpClient: one pooled, authenticated Session per vendor host.

``trust_env`` is off: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` would silently override the
TLS settings, and ``~/.netrc`` could add credentials. The platform proxy is read from the
environment (honouring ``NO_PROXY``) by :class:`HttpSettings` only when the proxy field is on,
and ``verify`` and ``proxies`` are passed explicitly on every request. Retries are urllib3's
``Retry``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from tqops.config.values import MASK, redact
from tqops.errors import ApiError
from tqops.http.failures import error_for_status, transport_error
from tqops.http.pacing import RateLimiter, _make_retry
from tqops.http.settings import HttpSettings

__all__ = ["MAX_BODY_BYTES", "USER_AGENT", "HttpClient"]

log = logging.getLogger("tqops.http")

USER_AGENT = "tqops/1.0 (+threat-intelligence enrichment operations)"
MAX_BODY_BYTES = 64 * 1024 * 1024


class HttpClient:
    """One pooled, authenticated Session to one vendor host; returns parsed JSON.

    ``credential`` names the credential in messages ("access token"); the field that holds it
    is ``settings.field("credential")``.
    """

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
        self.credential_field = settings.field("credential")
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
            log.warning(
                "TLS certificate verification is OFF for %s (%s=false)",
                self.where,
                settings.field("verify_tls"),
            )
        self._limiter = (
            RateLimiter(settings.max_requests_per_second)
            if settings.max_requests_per_second
            else None
        )

    def __repr__(self) -> str:
        return f"HttpClient({self.settings.base_url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    @property
    def where(self) -> str:
        """The vendor's ``host[:port]``, as messages name it."""
        return self._origin.netloc

    def url(self, path: str) -> str:
        """The absolute URL of a path on the vendor's host."""
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
            error = transport_error(exc, self.where, self.settings)
            log.debug("GET %s failed: %s", self._shown(parts, params), error)
            raise error from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        tries = len(history) + 1
        try:
            body = self._read_body(response, parts.path)
        except requests.RequestException as exc:
            raise transport_error(exc, self.where, self.settings, tries) from None
        log.debug(
            "GET %s -> %s in %.3fs (%d %s)",
            self._shown(parts, params),
            response.status_code,
            time.monotonic() - started,
            tries,
            "try" if tries == 1 else "tries",
        )
        response._content = body  # the body is read once, under a size cap
        if 300 <= response.status_code < 400:
            raise ApiError(
                f"{self.vendor} answered with a redirect (HTTP {response.status_code}) @ "
                f"{parts.path}; check the {self.settings.field('host')} field",
                status=response.status_code,
            )
        error = error_for_status(
            response, self.vendor, self.credential, tries, self._secrets, self.credential_field
        )
        if error is not None:
            raise error
        return response

    def _shown(self, parts: SplitResult, params: Optional[Mapping[str, Any]]) -> str:
        """The path and query of a call as the debug log shows it: the values of parameters
        declared secret masked, and any secret value scrubbed."""
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        pairs += [(str(k), str(v)) for k, v in (params or {}).items() if v is not None]
        hidden = self.settings.secret_parameters
        query = urlencode([(k, MASK if k in hidden else v) for k, v in pairs], safe=",:%*!")
        return redact(parts.path + (f"?{query}" if query else ""), self._secrets)

    def _read_body(self, response: requests.Response, path: str) -> bytes:
        """The body, read in chunks; an :class:`ApiError` past :data:`MAX_BODY_BYTES`."""
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
