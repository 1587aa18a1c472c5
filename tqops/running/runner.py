"""A :class:`Job`: one action run over selected indicators, watched and cancellable.

At most ``concurrency`` inputs are worked on at once and only a window of inputs is held in
memory, so a run over a million rows costs what a run over a hundred does. Cancelling (the
token, :meth:`Job.cancel`, or closing the iteration, as Ctrl-C does) stops every new request:
inputs not yet started are never sent and yield no result, and an input whose pages were being
read stops before its next page, so a resumed run can do it again.
"""

from __future__ import annotations

import concurrent.futures as futures
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from tqops.running.results import (
    Cancelled,
    CancelToken,
    Progress,
    ProgressCounter,
    Result,
    Selection,
)

__all__ = ["Job", "ProgressCallback"]

ProgressCallback = Callable[[Progress], None]


class Job:
    """Iterate for results (in input order, or as they complete); :meth:`cancel` to stop."""

    def __init__(
        self,
        work: Callable[[Selection, CancelToken], Result],
        inputs: Iterable[Any],
        *,
        concurrency: int = 8,
        ordered: bool = True,
        cancel: Optional[CancelToken] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> None:
        self.token = cancel or CancelToken()
        self._work = work
        self._inputs = inputs
        self._concurrency = concurrency
        self._ordered = ordered
        self._on_progress = on_progress
        self._closers: list[Callable[[], None]] = []
        total = len(inputs) if hasattr(inputs, "__len__") else None  # type: ignore[arg-type]
        self._counter = ProgressCounter(total)
        self._started = False
        self._completed = False

    def __iter__(self) -> Iterator[Result]:
        if self._started:
            raise RuntimeError("a job's results can be iterated once")
        self._started = True
        return self._results()

    def cancel(self) -> None:
        """Stop sending: no request starts after this call."""
        self.token.cancel()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the job ends (iterated through, closed or cancelled)."""
        self._closers.append(callback)

    def close(self) -> None:
        """Cancel what is left and release what the job holds (safe to call again)."""
        if not self._completed:
            self.token.cancel()
        while self._closers:
            self._closers.pop()()

    @property
    def closed(self) -> bool:
        """True once the job has ended and released what it held."""
        return self._started and not self._closers and (self._completed or self.cancelled)

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    @property
    def progress(self) -> Progress:
        return self._counter.snapshot(self.token.cancelled)

    def _one(self, item: Any) -> Result:
        self.token.check()
        return self._work(Selection.of(item), self.token)

    def _count(self, result: Result) -> Result:
        progress = self._counter.add(result, self.token.cancelled)
        if self._on_progress is not None:
            self._on_progress(progress)
        return result

    def _results(self) -> Iterator[Result]:
        try:
            if self._concurrency == 1:
                for item in self._inputs:
                    try:
                        result = self._one(item)
                    except Cancelled:
                        return
                    yield self._count(result)
            else:
                yield from self._pooled()
            self._completed = not self.token.cancelled
        finally:
            self.close()  # whatever else ended the iteration, nothing more is sent

    def _pooled(self) -> Iterator[Result]:
        window = self._concurrency * 2
        source = iter(self._inputs)
        pool = futures.ThreadPoolExecutor(self._concurrency, thread_name_prefix="tqops")
        pending: deque[futures.Future[Result]] = deque()

        def fill() -> None:
            while len(pending) < window and not self.token.cancelled:
                try:
                    item = next(source)
                except StopIteration:
                    return
                pending.append(pool.submit(self._one, item))

        try:
            fill()
            while pending:
                if self._ordered:
                    done = [pending.popleft()]
                else:
                    finished, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                    done = [f for f in pending if f in finished]
                    for future in done:
                        pending.remove(future)
                for future in done:
                    try:
                        result = future.result()
                    except Cancelled:
                        continue
                    yield self._count(result)
                fill()
        finally:
            if pending:  # stopped early: what is queued is never sent
                self.token.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
