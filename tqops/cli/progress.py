"""A progress bar on stderr (done, failed, skipped, rate, time left) when stderr is a terminal.

It uses rich, the field's well-kept choice, when it is installed (the ``cli`` extra); without a
terminal or without rich, tracking is a no-op, so pipes and logs stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

__all__ = ["progress_for"]


class _Silent:
    def track(self, results: Iterable[Any]) -> Iterator[Any]:
        yield from results


class _Rich:
    def __init__(self, progress: Any, total: Optional[int]) -> None:
        self._progress = progress
        self._task = progress.add_task("running", total=total, failed=0, skipped=0)

    def track(self, results: Iterable[Any]) -> Iterator[Any]:
        failed = skipped = 0
        for result in results:
            status = getattr(result, "status", None)
            failed += status == "error"
            skipped += status == "skipped"  # policy kept it from the vendor: not a failure
            self._progress.update(self._task, advance=1, failed=failed, skipped=skipped)
            yield result


@contextmanager
def progress_for(total: Optional[int], enabled: bool = True) -> Iterator[Any]:
    """A tracker whose ``track(results)`` passes results through, drawing progress if it can."""
    if not enabled or not sys.stderr.isatty():
        yield _Silent()
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        yield _Silent()
        return
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.1f}/s" if task.speed else "-/s")

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("[yellow]{task.fields[skipped]} skipped"),
        RateColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _Rich(progress, total)
