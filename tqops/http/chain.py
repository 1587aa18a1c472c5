"""An exception and every exception it wraps, as requests, urllib3, http.client, ssl and socket
chain them; what a failure is gets decided from these classes (and, for a proxy's tunnel, from
the function that raised), never from message text."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Sequence

import urllib3.exceptions as u3

__all__ = ["DNS_ERRORS", "exception_chain", "has", "raised_in_tunnel", "retry_cannot_help"]

try:  # urllib3 >= 2; urllib3 1.26 raises a NewConnectionError caused by the gaierror
    from urllib3.exceptions import NameResolutionError

    DNS_ERRORS: tuple[type[BaseException], ...] = (socket.gaierror, NameResolutionError)
except ImportError:  # pragma: no cover - urllib3 1.26
    DNS_ERRORS = (socket.gaierror,)

_TIMEOUTS = (u3.TimeoutError, TimeoutError, socket.timeout)

#: how far to follow an exception's links (a guard against pathological cycles)
_CHAIN_LIMIT = 32
#: the function of http.client (and of urllib3's copy of it) that opens a proxy's tunnel
_TUNNEL = "_tunnel"


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps, nearest first: exceptions among its ``args``,
    ``.reason`` (MaxRetryError), ``.original_error`` (urllib3's ProxyError), ``__cause__``
    and ``__context__``."""
    found: list[BaseException] = []
    queue: list[BaseException] = [exc]
    while queue and len(found) < _CHAIN_LIMIT:
        current = queue.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        links = (
            *current.args,
            getattr(current, "reason", None),
            getattr(current, "original_error", None),
            current.__cause__,
            current.__context__,
        )
        queue.extend(link for link in links if isinstance(link, BaseException))
    return found


def has(chain: Sequence[BaseException], kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether any exception of the chain is one of ``kinds``."""
    return any(isinstance(error, kinds) for error in chain)


def raised_in_tunnel(chain: Sequence[BaseException]) -> bool:
    """Whether an exception of the chain was raised while a proxy's tunnel was being opened
    (the CONNECT exchange with the proxy, before the vendor is reached at all)."""
    for error in chain:
        frames = traceback.walk_tb(error.__traceback__)
        if any(frame.f_code.co_name == _TUNNEL for frame, _ in frames):
            return True
    return False


def retry_cannot_help(error: BaseException) -> bool:
    """Whether a failed try cannot succeed when tried again at once: the name does not
    resolve, the port refuses connections, or the proxy is dead or refuses the tunnel. A
    timeout may pass, so it is retried."""
    chain = exception_chain(error)
    if any(isinstance(e, _TIMEOUTS) and not isinstance(e, u3.NewConnectionError) for e in chain):
        return False
    return (
        has(chain, DNS_ERRORS)
        or has(chain, (ConnectionRefusedError, u3.ProxyError))
        or raised_in_tunnel(chain)
    )
