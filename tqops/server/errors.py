"""What an error answers over HTTP: the one mapping from the errors of tqops and of the host to
a status and a one-line message.

The native REST API answers it as ``{"error": message}``, each protocol in its own body shape
(ThreatQ's ``{"errors": [...]}``, Cortex's ``{"type", "message"}``, MISP's ``{"error"}``), the
console as a page; the status is the same everywhere.
"""

from __future__ import annotations

import re
from typing import Optional

import attrs
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from tqops.errors import (
    ApiError,
    ConfigError,
    InputError,
    ManifestError,
    OperationError,
    TransportError,
)
from tqops.server.integrations.wheel import IntegrationError
from tqops.server.store import StoreBusy

__all__ = ["STATUSES", "Answer", "Problem", "answer_of", "readable", "status_of"]

#: where a problem is (`` @ $.config.access_token``): for the API; a page says it in labels
_LOCATION = re.compile(r"\s*@ \$\.[\w.\[\]-]*")


class Problem(Exception):
    """An answer with a status and a one-line message (``{"error": message}``)."""

    def __init__(self, status: int, message: str, headers: Optional[dict[str, str]] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


#: (error class, status): the first class an error is an instance of gives its status; an
#: error none of them names is a bug (500). Order matters: ApiError before the ValueErrors.
STATUSES: tuple[tuple[type[BaseException], int], ...] = (
    # the vendor answered with an error, or refused the operation's own credential
    # (AuthenticationError, with the vendor's 401 or 403): a bad gateway, never the caller's
    # 401; the vendor's status is in the message, not in ours
    (ApiError, 502),
    (TransportError, 502),  # the vendor could not be reached
    (ManifestError, 400),
    (ConfigError, 400),
    (InputError, 400),
    (LookupError, 404),  # the host's "no job 7", "no indicator with id 3"
    (StoreBusy, 503),  # the store stayed locked past its timeout: try again
    # a number too large for the store (an id or count over 64 bits the edge let through,
    # as text in a body): the caller's value, never a bug of the host
    (OverflowError, 422),
    (OperationError, 502),
)


def status_of(exc: BaseException) -> int:
    """The HTTP status ``exc`` answers with (500 for what is no error of tqops: a bug)."""
    if isinstance(exc, Problem):
        return exc.status
    if isinstance(exc, IntegrationError):
        return exc.status  # an upload's refusal names its own: 400, 409 (forceable), 413, 507
    if isinstance(exc, HTTPException):
        return exc.status_code
    return next((status for kind, status in STATUSES if isinstance(exc, kind)), 500)


@attrs.frozen
class Answer:
    """What an error answers: its status, one line of text, and headers (``WWW-Authenticate``)."""

    status: int
    message: str
    headers: Optional[dict[str, str]] = None


def answer_of(exc: BaseException, *, invalid_status: int = 422) -> Answer:
    """The answer to ``exc``; a request that does not fit its route's parameters answers
    ``invalid_status`` (the REST API's 422; the protocols answer 400 as their servers do)."""
    headers: Optional[dict[str, str]] = None
    status = status_of(exc)
    if isinstance(exc, Problem):
        message, headers = exc.message, exc.headers
    elif isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        status = invalid_status
        message = f"{first.get('msg', 'invalid request')} @ {where or 'body'}"
    elif isinstance(exc, HTTPException):
        message = str(exc.detail)
    elif isinstance(exc, LookupError):
        message = str(exc.args[0]) if exc.args else "not found"
    elif isinstance(exc, OperationError):
        message = str(exc)
    elif isinstance(exc, OverflowError):  # its own text may quote the value, or say "SQLite"
        message = "a number in the request is out of range (64-bit integers at most)"
    else:  # a bug: its text may hold anything, so only its kind is told
        status, message = 500, f"internal error (a bug): {type(exc).__name__}"
    return Answer(status, " ".join(message.split()), headers)


def readable(exc: BaseException) -> tuple[str, ...]:
    """Each problem of ``exc`` as a person reads it: the manifest's labels its message names
    already, without the ``@ $.config.<field>`` location that follows them (the REST API's
    answer keeps it)."""
    listed = getattr(exc, "problems", None) or (str(exc),)
    return tuple(_LOCATION.sub("", str(problem)).strip() for problem in listed)
