"""What a run gives back: one :class:`Result` per selected indicator, with a :class:`Status`,
and the :class:`Progress` of the run; and the :class:`CancelToken` that stops it."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional, Union

import attrs

from tqops.model import Indicator, TextEnum, Verdict

__all__ = [
    "CancelToken",
    "Cancelled",
    "Notice",
    "Progress",
    "Result",
    "Selection",
    "Status",
    "Summariser",
    "indicator_dict",
]


class Status(TextEnum):
    """A result's status, as the JSON contract writes it."""

    OK = "ok"
    NO_RESULTS = "no_results"
    #: policy kept the input from the vendor (its ``reason`` says which); nothing was sent
    SKIPPED = "skipped"
    ERROR = "error"


@attrs.frozen
class Notice:
    """Something an action tells the user about a result (e.g. a page cap reached).

    Action functions may yield notices among their responses; they become the result's
    warnings.
    """

    message: str


@attrs.frozen
class Selection:
    """A selected indicator as given (type name and value), before any check."""

    type: str
    value: str
    #: why the input could not be read as given (a row of a file that is not UTF-8, or too
    #: long): such an input is reported as an ``error`` result and never sent
    unreadable: Optional[str] = None
    #: its TLP as given (a CSV's ``tlp`` column), checked against a run's maximum
    tlp: Optional[str] = None

    @classmethod
    def of(cls, item: Union[Selection, Indicator, tuple[str, str]]) -> Selection:
        if isinstance(item, Selection):
            return item
        if isinstance(item, Indicator):
            return cls(item.type.value, item.value)
        return cls(str(item[0]), str(item[1]))


#: what the JSON contract's ``summary`` of a found indicator is made by (a run's reader)
Summariser = Callable[[Indicator], list[dict[str, Any]]]

#: the verdict of an input the vendor gave no answer for (an error, nothing sent)
NOT_JUDGED = Verdict.unknown("not judged: the vendor gave no answer for this input")


@attrs.frozen
class Result:
    """The outcome for one selected indicator."""

    input: Selection
    status: Status
    indicators: tuple[Indicator, ...] = ()
    error: Optional[str] = None
    warnings: tuple[str, ...] = ()
    #: why a ``skipped`` input was kept from the vendor, in one line (None otherwise)
    reason: Optional[str] = None
    #: the answer for the input; None until judged (an input the vendor gave no answer for)
    verdict: Optional[Verdict] = None

    def to_dict(self, summarise: Optional[Summariser] = None) -> dict[str, Any]:
        """The result in the JSON contract of ``tqops run --format json``; with
        ``summarise``, each found indicator also has its ``summary`` (before its flat
        ``attributes``, which stay as the platform stores them)."""
        return {
            "input": {"type": self.input.type, "value": self.input.value},
            "status": Status(self.status).value,
            "error": self.error,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "verdict": (self.verdict or NOT_JUDGED).to_dict(),
            "indicators": [indicator_dict(i, summarise) for i in self.indicators],
        }


def indicator_dict(indicator: Indicator, summarise: Optional[Summariser] = None) -> dict[str, Any]:
    """A found indicator in the JSON contract, with its ``summary`` when ``summarise`` is given."""
    found = indicator.to_dict()
    if summarise is None:
        return found
    head = {k: v for k, v in found.items() if k not in ("attributes", "sources")}
    return {
        **head,
        "summary": summarise(indicator),
        "attributes": found["attributes"],
        "sources": found["sources"],
    }


class Cancelled(Exception):
    """Raised inside a run when its token was cancelled; never reaches a caller."""


class CancelToken:
    """Set once to stop a run: no request is sent after it is set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` when the token is set (called before each request)."""
        if self._event.is_set():
            raise Cancelled()


@attrs.frozen
class Progress:
    """How far a run is: inputs done (of ``total`` when known), failed (``error``), skipped
    (kept from the vendor by policy: not a failure), rate and time left."""

    done: int
    failed: int
    total: Optional[int]
    elapsed: float
    cancelled: bool = False
    skipped: int = 0

    @property
    def rate(self) -> float:
        """Inputs per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining_seconds(self) -> Optional[float]:
        if self.total is None or not self.rate:
            return None
        return max(0, self.total - self.done) / self.rate


class ProgressCounter:
    """Counts results as they complete (thread-safe) and makes :class:`Progress` snapshots."""

    def __init__(self, total: Optional[int]) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def add(self, result: Result, cancelled: bool = False) -> Progress:
        with self._lock:
            self.done += 1
            self.failed += result.status is Status.ERROR
            self.skipped += result.status is Status.SKIPPED
            return self.snapshot(cancelled)

    def snapshot(self, cancelled: bool = False) -> Progress:
        elapsed = time.monotonic() - self._started
        return Progress(self.done, self.failed, self.total, elapsed, cancelled, self.skipped)
