"""Settings the host's processes read from their environment: a number of seconds, checked
the same way for each variable (``TQOPS_WORKER_LEASE``, ``TQOPS_STORE_TIMEOUT``), so that a bad
value is one line naming the variable and what it takes, never a traceback."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Optional

from tqops.errors import ConfigError

__all__ = ["seconds_setting"]


def seconds_setting(
    variable: str,
    default: float,
    lowest: float,
    highest: float,
    *,
    above: bool = False,
    hint: str,
    environ: Optional[Mapping[str, str]] = None,
) -> float:
    """The seconds ``variable`` sets (unset or blank: ``default``): a number from ``lowest``
    (excluded when ``above``) to ``highest``. Anything else is a one-line
    :class:`ConfigError` naming the variable, its range and ``hint`` (``default 30``)."""
    text = (os.environ if environ is None else environ).get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan  # in no range
    if not ((lowest < seconds) if above else (lowest <= seconds)) or not seconds <= highest:
        raise ConfigError(
            f"{variable} is seconds from {lowest:g} to {highest:g} ({hint}), not {text[:20]!r}"
        )
    return seconds
