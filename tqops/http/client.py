"""HttpClient: one pooled, authenticated Session per vendor host, for calls of any method.

``trust_env`` is off: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` would silently override the
TLS settings, and ``~/.netrc`` could add credentials. The platform proxy is read from the
environment (honouring ``NO_PROXY``) by :class:`HttpSettings` only when the proxy field is on,
and ``verify`` and ``proxies`` are passed explicitly on every request. Retries are urllib3's
``Retry``, chosen per call by :class:`~tqops.http.pacing.RetryAdapter`.
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any, Optional
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import requests
from requests.auth import AuthBase

from tqops.config.values import MASK, redact
from tqops.errors import ApiError
from tqops.http.failures import error_for_status, transport_error
from tqops.http.pacing import IDEMPOTENT_METHODS, RetryAdapter, pacer_for
from tqops.http.redaction import declared_values, may_hold, scrub, wire_forms
from tqops.http.settings import HttpSettings

__all__ = ["MAX_BODY_BYTES", "USER_AGENT", "HttpClient"]

log = logging.getLogger("tqops.http")

USER_AGENT = "tqops/1.0 (+threat-intelligence enrichment operations)"
MAX_BODY_BYTES = 64 * 1024 * 1024


class HttpClient:
    """One pooled, authenticated Session to one vendor host; returns parsed JSON.

    :meth:`request` sends a call of any method (:meth:`get` is its short form;
    :meth:`request_json`, :meth:`get_json` and :meth:`post_json` parse the answer), each
    paced, capped at :data:`MAX_BODY_BYTES`, kept to the vendor's origin, logged at debug
    level without a secret, and failed with an error that names the configuration field to
    change.

    Retries: a call that may be sent twice is retried on a transient status (429, 5xx, with
    ``Retry-After`` honoured) or a failed read; any other call only when it could not connect
    (it never reached the server). Whether a call may be sent twice is its ``idempotent``
    argument, or else whether its method is in ``idempotent_methods`` (RFC 9110's idempotent
    methods by default: a POST is not). A vendor whose POST calls are look-ups declares them
    with ``idempotent=True`` on each call, or ``"POST"`` in ``idempotent_methods``.

    Secrets: ``secrets`` (every password field of the configuration), the header values
    ``auth`` adds, and the values a call sends under a parameter in
    ``settings.secret_parameters`` are masked in errors, in the debug log and in the
    documents :meth:`request_json` returns, wherever a vendor echoes them (the raw body of a
    response is left as it came: a next-page link may need the credential it carries).

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
        *,
        idempotent_methods: Collection[str] = IDEMPOTENT_METHODS,
    ) -> None:
        self.settings = settings
        self.vendor = vendor
        self.credential = credential
        self.credential_field = settings.field("credential")
        self.idempotent_methods = frozenset(method.upper() for method in idempotent_methods)
        self._secrets = tuple(dict.fromkeys((*secrets, *wire_forms(auth, settings.base_url))))
        self._origin = urlsplit(settings.base_url)
        session = requests.Session()
        session.trust_env = False
        session.auth = auth
        session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self._adapter = RetryAdapter(
            settings, pool_connections=1, pool_maxsize=settings.pool_size, pool_block=True
        )
        session.mount("https://", self._adapter)
        session.mount("http://", self._adapter)
        self.session = session
        if settings.verify is False:
            log.warning(
                "TLS certificate verification is OFF for %s (%s=false)",
                self.where,
                settings.field("verify_tls"),
            )
        self._limiter = (
            pacer_for(self._origin.netloc, settings.max_requests_per_second)
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

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        data: Optional[Mapping[str, Any]] = None,
        json: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotent: Optional[bool] = None,
    ) -> requests.Response:
        """Send ``method`` to a path (or a same-origin absolute URL, e.g. a next-page link).

        ``params`` go in the query, ``data`` as a form body, ``json`` as a JSON body (not both
        bodies); ``headers`` are added to the session's. ``idempotent`` says whether the call
        may be sent twice (None: by its method, see the class). The body is read once, under
        the size cap; a redirect or an error status raises, mapped.
        """
        method = method.upper()
        if data is not None and json is not None:
            raise ValueError("a call sends a form body (data) or a JSON body (json), not both")
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc.lower()) != (self._origin.scheme, self._origin.netloc):
            raise ApiError(
                f"{self.vendor} sent a link to another origin ({parts.scheme}://{parts.hostname}); "
                "not followed, so the credential stays with its host"
            )
        secrets = self._secrets_of(params, data, json)
        # the debug log's form of the call, built only when that log is on (it parses and
        # re-encodes the query: a cost on every call of a bulk run otherwise)
        debug = log.isEnabledFor(logging.DEBUG)
        shown = self._shown(method, parts, params, data, json, secrets) if debug else ""
        path = redact(parts.path or "/", secrets)
        again = method in self.idempotent_methods if idempotent is None else idempotent
        if self._limiter is not None:
            self._limiter.wait()
        started = time.monotonic()
        timeout = (min(10.0, self.settings.timeout), self.settings.timeout)
        try:
            with self._adapter.retrying(again):
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json,
                    headers=headers,
                    timeout=timeout,
                    verify=self.settings.verify,
                    proxies=dict(self.settings.proxies),
                    allow_redirects=False,
                    stream=True,
                )
        except requests.RequestException as exc:
            error = transport_error(exc, self.where, self.settings)
            if debug:
                log.debug("%s failed: %s", shown, error)
            raise error from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        tries = len(history) + 1
        try:
            body = self._read_body(response, path)
        except requests.RequestException as exc:
            raise transport_error(exc, self.where, self.settings, tries) from None
        if debug:
            log.debug(
                "%s -> %s in %.3fs (%d %s)",
                shown,
                response.status_code,
                time.monotonic() - started,
                tries,
                "try" if tries == 1 else "tries",
            )
        response._content = body  # the body is read once, under a size cap
        if 300 <= response.status_code < 400:
            raise ApiError(
                f"{self.vendor} answered with a redirect (HTTP {response.status_code}) @ "
                f"{path}; check the {self.settings.field('host')} field",
                status=response.status_code,
            )
        error = error_for_status(
            response, self.vendor, self.credential, tries, secrets, self.credential_field
        )
        if error is not None:
            raise error
        return response

    def get(
        self,
        path_or_url: str,
        params: Optional[Mapping[str, Any]] = None,
        *,
        idempotent: Optional[bool] = None,
    ) -> requests.Response:
        """GET a path (or a same-origin absolute URL); see :meth:`request`."""
        return self.request("GET", path_or_url, params=params, idempotent=idempotent)

    def request_json(
        self, method: str, path_or_url: str, **call: Any
    ) -> tuple[Any, requests.Response]:
        """:meth:`request`, and its body parsed as JSON (``None`` for an empty body) with every
        secret masked; a body that is not JSON is an :class:`ApiError`."""
        response = self.request(method, path_or_url, **call)
        if not response.content.strip():
            return None, response
        try:
            document = jsonlib.loads(response.content)
        except (ValueError, RecursionError):
            ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ApiError(
                f"{self.vendor} answered with a body that is not JSON ({ctype}, "
                f"{len(response.content)} bytes) @ {self._path(response)}",
                status=response.status_code,
            ) from None
        secrets = self._secrets_of(call.get("params"), call.get("data"), call.get("json"))
        if may_hold(response.content, secrets):
            document = scrub(document, secrets)
        return document, response

    def get_json(
        self,
        path_or_url: str,
        params: Optional[Mapping[str, Any]] = None,
        *,
        idempotent: Optional[bool] = None,
    ) -> tuple[Any, requests.Response]:
        """GET and parse JSON; see :meth:`request_json`."""
        return self.request_json("GET", path_or_url, params=params, idempotent=idempotent)

    def post_json(self, path_or_url: str, **call: Any) -> tuple[Any, requests.Response]:
        """POST and parse JSON; the keywords of :meth:`request` (``data`` for a form, ``json``
        for a JSON body, ``params``, ``headers``, ``idempotent``); see :meth:`request_json`."""
        return self.request_json("POST", path_or_url, **call)

    def _secrets_of(self, *parts: Any) -> tuple[str, ...]:
        """The secrets of a call: the client's, and the values it sends under a parameter
        declared secret (in its query, form or JSON body)."""
        return (*self._secrets, *declared_values(self.settings.secret_parameters, *parts))

    def _path(self, response: requests.Response) -> str:
        return redact(urlsplit(response.url).path or "/", self._secrets)

    def _shown(
        self,
        method: str,
        parts: SplitResult,
        params: Optional[Mapping[str, Any]],
        data: Optional[Mapping[str, Any]],
        json: Any,
        secrets: tuple[str, ...],
    ) -> str:
        """A call as the debug log shows it: the method, the path and query (the values of
        parameters declared secret masked), the names of a body's fields (never their values),
        and any secret value scrubbed."""
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        pairs += [(str(k), str(v)) for k, v in (params or {}).items() if v is not None]
        hidden = self.settings.secret_parameters
        query = urlencode([(k, MASK if k in hidden else v) for k, v in pairs], safe=",:%*!")
        shown = f"{method} {parts.path}" + (f"?{query}" if query else "")
        for kind, body in (("form", data), ("json", json)):
            if isinstance(body, Mapping):
                shown += f" [{kind}: {', '.join(map(str, body))}]"
            elif body is not None:  # a list, or raw text: its content is never shown
                shown += f" [{kind}]"
        return redact(shown, secrets)

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
