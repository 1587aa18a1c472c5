"""Settings the host's processes read from their environment: a number of seconds
(``TQOPS_WORKER_LEASE``, ``TQOPS_STORE_TIMEOUT``) or a whole number (the throttle's, the
limits', the runners'), each checked the same way for every variable, so that a bad value is
one line naming the variable and what it takes, never a traceback."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Optional

from tqops.errors import ConfigError

__all__ = ["seconds_setting", "whole_setting", "whole_settings"]


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


def whole_setting(
    variable: str,
    default: int,
    lowest: int,
    highest: int,
    environ: Optional[Mapping[str, str]] = None,
) -> int:
    """The whole number ``variable`` sets (unset or blank: ``default``), from ``lowest`` to
    ``highest``; anything else is a one-line :class:`ConfigError` naming the variable, its
    range and its default."""
    text = (os.environ if environ is None else environ).get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or not lowest <= int(text) <= highest:
        raise ConfigError(
            f"{variable} is a whole number from {lowest} to {highest} (default {default}), "
            f"not {text[:20]!r}"
        )
    return int(text)


def whole_settings(
    settings: Mapping[str, tuple[str, int, int, int]],
    environ: Optional[Mapping[str, str]] = None,
) -> dict[str, int]:
    """``{variable: (field, default, lowest, highest)}`` read: each field's whole number."""
    return {
        field: whole_setting(variable, default, lowest, highest, environ)
        for variable, (field, default, lowest, highest) in settings.items()
    }
