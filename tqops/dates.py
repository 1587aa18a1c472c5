"""Date parsing and rendering: every vendor form in, ISO 8601 UTC out."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timezone
from typing import Any, Optional

__all__ = ["isoformat_utc", "parse_date_option", "parse_datetime", "platform_format"]

# Python 3.9/3.10's fromisoformat is strict; normalise the forms vendors send first. TIE's own
# data shows an unpadded hour ("2019-08-21 8:38:40.383226+02:00"), so the hour may be one digit.
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_datetime(value: Any) -> datetime:
    """Parse TIE's ``2020-05-26 02:37:55+00:00``, RFC 3339 and dates into an aware UTC datetime.

    Naive values are taken as UTC. Raises ``ValueError`` naming the value when it is not a date.
    """
    if isinstance(value, str) and len(value) <= 64:
        return _parse_text(value)  # responses repeat the same stamps: parse each once
    return _parse(value)


@functools.lru_cache(maxsize=16384)
def _parse_text(value: str) -> datetime:
    return _parse(value)


def _parse(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(float(value), tz=timezone.utc)
    elif isinstance(value, str):
        match = _ISO.match(value.strip())
        if not match:
            raise ValueError(f"not a date or time: {value[:60]!r}")
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        tz = timezone.utc
        if zone and zone not in ("Z", "z", "UTC"):
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            if hours > 23 or minutes > 59:
                raise ValueError(f"not a valid UTC offset in {value[:60]!r}")
            from datetime import timedelta

            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    else:
        raise ValueError(f"not a date or time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def isoformat_utc(moment: Optional[datetime]) -> Optional[str]:
    """``2020-03-16T14:56:56Z`` (microseconds dropped: the platform stores seconds)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def platform_format(moment: Optional[datetime]) -> Optional[str]:
    """ThreatQ's consume format, ``%Y-%m-%d %H:%M:%S`` in UTC."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parse_date_option(text: str) -> str:
    """Check a ``YYYY-MM-DD`` (or ``YYYY-MM-DDTHH:MM:SSZ``) option is a real date; return it.

    Raises ``ValueError`` with what was expected.
    """
    text = text.strip()
    if _DAY.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a real calendar date (expected YYYY-MM-DD)"
            ) from None
        return text
    if _MOMENT.match(text):
        try:
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ValueError(f"{text!r} is not a real date and time") from None
        return text
    raise ValueError(f"expected a date as YYYY-MM-DD, got {text[:40]!r}")
