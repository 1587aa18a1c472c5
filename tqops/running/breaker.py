"""The circuit breaker of a run: when going on can only do harm or waste time, stop sending.

- A rejected credential (401/403) stops the run at once: sending it again for every input can
  lock the account. Until one call has been answered, calls go out one at a time, so a wrong
  credential costs exactly one request whatever the concurrency.
- :data:`MAX_CONNECTION_FAILURES` calls in a row that got no answer at all (refused, no DNS,
  dead proxy, TLS refused, timed out) stop it too.

Every input left is still reported, as an ``error`` result saying ``not sent: <reason>``, so
a run's output keeps one result per input.
"""

from __future__ import annotations

import threading
from typing import Optional

from tqops.errors import ApiError, AuthenticationError, TransportError
from tqops.running.results import CancelToken

__all__ = ["MAX_CONNECTION_FAILURES", "NOT_SENT", "CircuitBreaker"]

#: consecutive calls without any answer that stop a run
MAX_CONNECTION_FAILURES = 5
#: how the error of an input the breaker kept from being sent begins
NOT_SENT = "not sent: "
#: how often a call waiting for the first answer looks at the run's cancel token (seconds)
_POLL = 0.1


class CircuitBreaker:
    """One run's breaker (thread-safe): :meth:`admit` before an input's calls, :meth:`record`
    after them."""

    def __init__(
        self, max_connection_failures: int = MAX_CONNECTION_FAILURES, *, answered: bool = False
    ) -> None:
        """``answered``: the vendor has answered this credential already (an earlier run on
        the same connection pool), so calls need not wait for a first answer."""
        self.max_connection_failures = max(1, max_connection_failures)
        self._state = threading.Condition()
        self._reason: Optional[str] = None
        self._answered = answered
        self._probe: Optional[int] = None
        self._failures = 0

    @property
    def answered(self) -> bool:
        """Whether the vendor has answered a call (the credential and route work)."""
        return self._answered

    @property
    def reason(self) -> Optional[str]:
        """Why the run stopped sending (None while it goes on)."""
        return self._reason

    def admit(self, token: CancelToken) -> Optional[str]:
        """Wait for this input's turn; the reason it must not be sent, or None to send.

        Until a call has been answered, one input at a time is let through (the probe) and
        the others wait here; the wait ends on the answer, on a stop, or on a cancel."""
        with self._state:
            while True:
                token.check()
                if self._reason is not None:
                    return self._reason
                if self._answered:
                    return None
                if self._probe is None:
                    self._probe = threading.get_ident()
                    return None
                self._state.wait(_POLL)

    def record(self, error: Optional[BaseException]) -> None:
        """What this input's calls came to: None (answered), or the error that ended them."""
        with self._state:
            if isinstance(error, AuthenticationError):
                if self._reason is None:
                    self._reason = " ".join(str(error).split())
            elif isinstance(error, TransportError):
                self._failures += 1
                if self._failures >= self.max_connection_failures and self._reason is None:
                    self._reason = (
                        f"{self._failures} calls in a row got no answer; the last: "
                        + " ".join(str(error).split())
                    )
            elif error is None or isinstance(error, ApiError):
                self._answered = True  # the vendor answered: the credential and route work
                self._failures = 0
            # anything else (a value refused before sending, a bug) says nothing of the vendor
            if self._probe == threading.get_ident():
                self._probe = None
            self._state.notify_all()
