"""Logging for the command line: a stderr handler whose filter scrubs the secrets it learns.

Only the application's ``main()`` installs it, and takes it away again when it returns:
importing tqops changes no process-wide logging.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqops.config.values import redact

__all__ = ["RedactingFilter", "stderr_logging"]


class RedactingFilter(logging.Filter):
    """Scrubs secret values from every log line (belt and braces: none should get there)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def learn(self, secrets: Iterable[str]) -> None:
        """Scrub these values too from now on."""
        self.secrets = tuple(dict.fromkeys((*self.secrets, *secrets)))

    def scrub(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = ()
            if record.exc_text:
                record.exc_text = self.scrub(record.exc_text)
        return True


@contextmanager
def stderr_logging(verbosity: int, redactor: RedactingFilter) -> Iterator[None]:
    """Log to stderr at WARNING (-v INFO, -vv DEBUG: each request's method, path and query)
    for the length of the block; urllib3's retry warnings only from -v."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(redactor)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    urllib3 = logging.getLogger("urllib3")
    saved = (root.level, urllib3.level)
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 warns "Retrying (...)" on every retried try: that is -v detail, not a warning
    # (a call that finally fails says so in its result, with the tries it made)
    urllib3.setLevel(logging.ERROR if verbosity <= 0 else max(level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        urllib3.setLevel(saved[1])
