"""Checks of single values by format: host names, files, ranges, dates, lists and booleans.

Each check returns the normalised value or raises ``ValueError`` saying what was expected.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Optional

import attrs

__all__ = [
    "Range",
    "check_at_least",
    "check_file",
    "check_hostname",
    "check_list",
    "check_range",
    "parse_bool",
]

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@attrs.frozen
class Range:
    """A TIE-style range: ``N`` or ``N-`` (N and above), ``N-M`` inclusive, ``-M`` (at most M)."""

    low: Optional[int]
    high: Optional[int]
    text: str

    def to_param(self) -> str:
        """The range as the user wrote it, without spaces (``2-4``, ``60``, ``-3``)."""
        return self.text

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, (int, float)):
            return False
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )


def parse_bool(text: Any) -> bool:
    """true/false/yes/no/on/off/1/0 (any case) as a bool; ``ValueError`` otherwise."""
    if isinstance(text, bool):
        return text
    if isinstance(text, int) and text in (0, 1):
        return bool(text)
    word = str(text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected true/false, yes/no or 1/0, got {str(text)[:40]!r}")


# --- value checks by format --------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_hostname(text: str) -> str:
    """``host`` or ``host:port``; no scheme, path, credentials, spaces. Returns it normalised."""
    value = text.strip()
    if not value:
        raise ValueError("expected a hostname such as tie.dcso.de or 127.0.0.1:8443, got ''")
    if "://" in value:
        raise ValueError(f"expected a hostname without a scheme (https is implied), got {value!r}")
    if any(c in value for c in "/?#"):
        raise ValueError(f"expected a hostname without a path or query, got {value!r}")
    if "@" in value:
        raise ValueError("expected a hostname without credentials (user@ or user:pass@)")
    if CONTROL.search(value) or " " in value or "\t" in value:
        raise ValueError(f"expected a hostname without spaces or control characters, got {value!r}")
    host, port = value, None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in IPv6 hostname {value!r}")
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected [IPv6]:port, got {value!r}")
            port = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        if value.count(":") > 1:
            raise ValueError(f"write an IPv6 address in brackets, like [::1]:8443; got {value!r}")
        if ":" in value:
            host, port = value.split(":", 1)
        labels = host.rstrip(".").split(".")
        if not host or len(host) > 253 or not all(_HOST_LABEL.match(lab) for lab in labels):
            raise ValueError(f"{host!r} is not a valid hostname or IP address")
    if port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535):
        raise ValueError(f"port must be a number from 1 to 65535, got {port!r}")
    return value.lower()


def check_file(text: str) -> str:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {text!r}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file is not readable: {text!r}")
    return str(path)


_RANGE = re.compile(r"^(\d{1,6})?(-)?(\d{1,6})?$")


def check_range(text: str, low_bound: float, high_bound: float) -> Range:
    value = re.sub(r"\s*-\s*", "-", text.strip())
    match = _RANGE.match(value)
    if not match or value in ("", "-"):
        raise ValueError(
            f"expected a number or range such as 2, 2-, 2-4 or -4 within "
            f"{low_bound:g}-{high_bound:g}, got {text[:40]!r}"
        )
    first, dash, second = match.groups()
    if second is not None and not dash:  # unreachable by the regex, kept for clarity
        raise ValueError(f"expected a number or range, got {text[:40]!r}")
    low = int(first) if first is not None else None
    high = int(second) if second is not None else None
    for bound in (low, high):
        if bound is not None and not low_bound <= bound <= high_bound:
            raise ValueError(f"{bound} is outside {low_bound:g}-{high_bound:g}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"range {value!r} is reversed (expected low-high)")
    return Range(low, high, value)


def check_at_least(text: str, low_bound: float, high_bound: float) -> Range:
    """``N`` or ``N-`` (N and above) within the bounds, for an API that takes a minimum only;
    sent as ``N``. A range with an upper end is refused rather than silently widened."""
    checked = check_range(text, low_bound, high_bound)
    if checked.low is None or checked.high is not None:
        raise ValueError(
            f"expected N or N- (N and above) within {low_bound:g}-{high_bound:g}; this takes a "
            f"minimum only, got {text[:40]!r}"
        )
    return Range(checked.low, None, str(checked.low))


def check_list(text: str) -> tuple[str, ...]:
    items = [item.strip() for item in text.split(",")]
    for position, item in enumerate(items, 1):
        if not item or item == "!":
            raise ValueError(f"item {position} of {text[:60]!r} is empty; remove the extra comma")
        if CONTROL.search(item):
            raise ValueError(f"item {position} contains a control character")
    return tuple(items)
