"""When to send: client-side pacing (:class:`RateLimiter`) and the retry policy (urllib3's
``Retry`` with a ``Retry-After`` cap, jitter, and the tries it made kept on its final error),
chosen per call by :class:`RetryAdapter`: a call that may be sent twice is retried on a
transient status or a failed read, any other call only when it never reached the server."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Callable, Optional, Protocol

from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import RequestHistory, Retry

from tqops.http.chain import retry_cannot_help
from tqops.http.settings import HttpSettings

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRY_HISTORY",
    "RETRY_STATUSES",
    "Pacer",
    "RateLimiter",
    "RetryAdapter",
    "pacer_for",
    "share_pacing",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: the methods RFC 9110 calls idempotent: sending one twice has the effect of sending it once
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: the attribute of a ``MaxRetryError`` raised by :class:`_Retry` holding every try it made
RETRY_HISTORY = "tqops_history"


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


class Pacer(Protocol):
    """What paces a vendor's calls: :meth:`wait` blocks until the next call may go."""

    def wait(self) -> float: ...


#: makes the pacer of a vendor (its ``host:port``) at a rate, when something wider than this
#: process paces calls (a host's workers share one rate through their store); None: each
#: HTTP client paces its own calls
_shared: Optional[Callable[[str, float], Pacer]] = None


def share_pacing(factory: Optional[Callable[[str, float], Pacer]]) -> None:
    """Pace every HTTP client of this process made from now on with ``factory``'s pacers
    (a worker process: its vendor calls and other workers' keep one rate together)."""
    global _shared
    _shared = factory


def pacer_for(where: str, per_second: float) -> Pacer:
    """The pacer of the calls to ``where`` at ``per_second``: shared when a factory is set."""
    return _shared(where, per_second) if _shared is not None else RateLimiter(per_second)


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

    def increment(
        self,
        method: Optional[str] = None,
        url: Optional[str] = None,
        response: Optional[Any] = None,
        error: Optional[Exception] = None,
        _pool: Optional[Any] = None,
        _stacktrace: Optional[TracebackType] = None,
    ) -> Retry:
        """Count a failed try; when retries run out, the ``MaxRetryError`` carries the history
        of every try (urllib3 drops the exhausted ``Retry``, so messages could not count)."""
        if error is not None and retry_cannot_help(error):
            # a refused port, a name that does not resolve, a dead proxy: fail now, not after
            # every backoff (a bulk run would spend ~10 s per input learning nothing)
            exhausted = MaxRetryError(_pool, url, error)  # type: ignore[arg-type]
            setattr(
                exhausted,
                RETRY_HISTORY,
                (*self.history, RequestHistory(method, url, error, None, None)),
            )
            raise exhausted from error
        try:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            status = getattr(response, "status", None)
            last = RequestHistory(method, url, error, status, None)
            setattr(exc, RETRY_HISTORY, (*self.history, last))
            raise


def _make_retry(settings: HttpSettings, idempotent: bool = True) -> _Retry:
    """The retry policy: transient statuses and connect/read failures for a call that may be
    sent twice (``idempotent``); for any other call, only a failed connect (it never left)."""
    retries = max(0, settings.max_tries - 1)
    # a POST that is not idempotent may have been acted on when its answer failed or said 503
    again = retries if idempotent else 0
    retry = _Retry(
        total=retries,
        connect=retries,
        read=again,
        status=again,
        other=0,  # TLS failures and the like are not transient
        allowed_methods=None,  # which calls may be sent again is ``idempotent``'s to say
        status_forcelist=RETRY_STATUSES if idempotent else frozenset(),
        backoff_factor=settings.backoff,
        respect_retry_after_header=idempotent,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    retry.max_retry_after = settings.max_retry_after
    return retry


class RetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose retry policy is chosen per call (:meth:`retrying`).

    requests reads the policy from the adapter's ``max_retries``, which every thread of a bulk
    run shares; the policy chosen here holds for the calling thread only.
    """

    def __init__(self, settings: HttpSettings, **kw: Any) -> None:
        self._policies = {again: _make_retry(settings, again) for again in (True, False)}
        self._chosen = threading.local()
        super().__init__(max_retries=self._policies[True], **kw)

    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        """The policy of the call this thread is sending (the idempotent one by default)."""
        chosen = getattr(self._chosen, "retry", None)
        return self._default if chosen is None else chosen

    @max_retries.setter
    def max_retries(self, retry: Retry) -> None:
        self._default = retry

    @contextlib.contextmanager
    def retrying(self, idempotent: bool) -> Iterator[None]:
        """Send this thread's calls in the block with the policy for ``idempotent`` calls."""
        self._chosen.retry = self._policies[idempotent]
        try:
            yield
        finally:
            self._chosen.retry = None
