"""Throttling of credential checks: console logins and password changes, API keys, and the
grants of ``POST /api/token``.

Two limits, both kept in the host's memory (one process serves every listener):

- **Per account and address**: the first ``free_failures`` wrong credentials for an account
  from an address cost nothing; each one after locks that (account, address) pair for twice as
  long as the one before (1 s, 2 s, 4 s, ...), at most ``max_lock`` seconds. A success resets
  the pair; a pair with no failure for a day is forgotten.
- **Per address**: at most ``address_failures`` wrong credentials from one address (an IPv6
  address counts as its /64, what one machine is usually given) in ``window`` seconds,
  whatever the accounts; past that, every check from the address waits until the oldest
  failure leaves the window. A success does not reset it (a valid account of the attacker's
  own must not buy more guesses).

Why a lock per (account, address) and not per account: a lock an account has whatever the
address is one an attacker can keep set from anywhere, locking an admin out for as long as the
attack lasts. Keyed by the address too, an attacker locks only themselves; the admin, from
their own address, is never slowed by someone else's failures. Guesses spread over many
addresses are bounded by each address's budget and by the cost of each check (Argon2id, and
API keys of 256 random bits). A lock is refused without checking anything: 429 with
``Retry-After`` (the console: a one-line message); nobody is made to wait on an open
connection, which would hand an attacker the host's threads.

The settings are environment variables of ``tqops serve`` (see :data:`SETTINGS`); a value
that is not a whole number in its range is a one-line error when the host starts.
"""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Callable, Optional

import attrs

from tqops.server.errors import Problem
from tqops.server.settings import whole_settings

if TYPE_CHECKING:
    from fastapi import Request

__all__ = ["SETTINGS", "Limits", "Throttle", "Throttled", "client_address"]

#: environment variable -> (Limits field, default, lowest, highest): documented in the README
SETTINGS: dict[str, tuple[str, int, int, int]] = {
    "TQOPS_THROTTLE_FREE_FAILURES": ("free_failures", 5, 1, 1000),
    "TQOPS_THROTTLE_MAX_LOCK": ("max_lock", 900, 1, 86_400),
    "TQOPS_THROTTLE_ADDRESS_FAILURES": ("address_failures", 50, 1, 1_000_000),
    "TQOPS_THROTTLE_WINDOW": ("window", 3600, 1, 86_400),
}
#: seconds after its last failure that an (account, address) pair is forgotten
FORGET = 86_400
#: pairs and addresses kept at most (past that, the least recently failed are dropped first)
MAX_ENTRIES = 100_000


@attrs.frozen
class Limits:
    """The throttle's settings (see the module's docstring)."""

    free_failures: int = 5
    max_lock: int = 900
    address_failures: int = 50
    window: int = 3600

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> Limits:
        """The limits the environment sets (each variable unset: its default)."""
        return cls(**whole_settings(SETTINGS, environ))


class Throttled(Problem):
    """A credential check refused unchecked: too many failures (429, ``Retry-After``).
    ``first`` is true for the first refusal of a lock (the one the audit log records)."""

    def __init__(self, retry_after: int, address_wide: bool, first: bool) -> None:
        whose = "from this address" if address_wide else "for this account from this address"
        super().__init__(
            429,
            f"too many failed sign-ins {whose}: try again in {retry_after} s",
            {"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after
        self.first = first


@attrs.define
class _Pair:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    reported: float = 0.0  # the locked_until whose first refusal was reported


def client_address(request: Request) -> str:
    """The address a request came from, as the listener saw it."""
    return request.client.host if request.client else "unknown"


def _address_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class Throttle:
    """The failures of credential checks, per (account, address) and per address."""

    def __init__(
        self, limits: Optional[Limits] = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or Limits()
        self._clock = clock
        self._lock = threading.Lock()
        self._pairs: collections.OrderedDict[tuple[str, str], _Pair] = collections.OrderedDict()
        self._addresses: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._address_reported: dict[str, float] = {}

    @staticmethod
    def _pair_key(account: Optional[str], address: str) -> Optional[tuple[str, str]]:
        return (account.casefold()[:128], _address_key(address)) if account else None

    def before(self, account: Optional[str], address: str) -> None:
        """Raise :class:`Throttled` if a check for ``account`` (None: a credential that names
        no account, an API key) from ``address`` is locked now."""
        now = self._clock()
        where = _address_key(address)
        with self._lock:
            failures = self._addresses.get(where)
            if failures:
                while failures and failures[0] <= now - self.limits.window:
                    failures.popleft()
                if not failures:  # all out of the window: the address starts afresh
                    del self._addresses[where]
                    self._address_reported.pop(where, None)
                elif len(failures) >= self.limits.address_failures:
                    until = failures[0] + self.limits.window
                    first = self._address_reported.get(where) != until
                    self._address_reported[where] = until
                    raise Throttled(max(1, math.ceil(until - now)), True, first)
            key = self._pair_key(account, address)
            pair = self._pairs.get(key) if key else None
            if pair is not None and pair.locked_until > now:
                first = pair.reported != pair.locked_until
                pair.reported = pair.locked_until
                raise Throttled(max(1, math.ceil(pair.locked_until - now)), False, first)

    def failed(self, account: Optional[str], address: str) -> None:
        """A wrong credential for ``account`` from ``address``: count it, lock if due."""
        now = self._clock()
        where = _address_key(address)
        with self._lock:
            failures = self._addresses.pop(where, None) or collections.deque()
            failures.append(now)
            while len(failures) > self.limits.address_failures:
                failures.popleft()
            self._addresses[where] = failures  # the most recent last
            key = self._pair_key(account, address)
            if key is not None:
                pair = self._pairs.pop(key, None) or _Pair()
                if now - pair.last > FORGET:
                    pair = _Pair()
                pair.failures += 1
                pair.last = now
                beyond = pair.failures - self.limits.free_failures
                if beyond > 0:
                    lock = min(float(self.limits.max_lock), 2.0 ** min(beyond - 1, 40))
                    pair.locked_until = now + lock
                self._pairs[key] = pair
            self._prune(now)

    def passed(self, account: Optional[str], address: str) -> None:
        """A right credential: the pair starts afresh (the address's budget does not)."""
        key = self._pair_key(account, address)
        if key is not None:
            with self._lock:
                self._pairs.pop(key, None)

    def _prune(self, now: float) -> None:
        # entries are kept in the order they last failed: the oldest go first
        while self._pairs and (
            len(self._pairs) > MAX_ENTRIES or next(iter(self._pairs.values())).last < now - FORGET
        ):
            self._pairs.popitem(last=False)
        while self._addresses and (
            len(self._addresses) > MAX_ENTRIES
            or not next(iter(self._addresses.values()))
            or next(iter(self._addresses.values()))[-1] <= now - self.limits.window
        ):
            gone, _ = self._addresses.popitem(last=False)
            self._address_reported.pop(gone, None)
