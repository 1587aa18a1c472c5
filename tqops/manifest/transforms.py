"""Named value transforms a mapping table may declare (``transforms: [datetime]``).

A transform takes one raw value and returns the new value, or ``None`` to drop it; a
``ValueError`` becomes a warning on the result. Operations may add their own by name.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Callable, Optional

from tqops.dates import isoformat_utc, parse_datetime

__all__ = ["BUILTIN_TRANSFORMS", "Transform", "hash_type", "ip_type"]

Transform = Callable[[Any], Any]

_HASH_PREFIX = re.compile(r"^(md5|sha1|sha-1|sha256|sha-256|sha512|sha-512):", re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PREFIX_TYPES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
_LENGTH_TYPES = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}


def to_datetime(value: Any) -> str:
    """Any vendor date form -> ISO 8601 UTC (``2020-03-16T14:56:56Z``)."""
    if type(value) is str and len(value) <= 64:
        return _text_to_datetime(value)  # responses repeat the same stamps: format each once
    return isoformat_utc(parse_datetime(value)) or ""


@functools.lru_cache(maxsize=16384)
def _text_to_datetime(value: str) -> str:
    return isoformat_utc(parse_datetime(value)) or ""


def strip_host_prefix_length(value: Any) -> Any:
    """``1.2.3.4/32`` -> ``1.2.3.4`` and ``2001:db8::1/128`` -> ``2001:db8::1``; CIDRs stay."""
    if isinstance(value, str):
        if value.endswith("/32") and ":" not in value:
            return value[:-3]
        if value.endswith("/128") and ":" in value:
            return value[:-4]
    return value


def strip_hash_prefix(value: Any) -> Any:
    """``md5:d41d...`` -> ``d41d...`` (TIE stores hashes with their algorithm)."""
    if isinstance(value, str):
        return _HASH_PREFIX.sub("", value, count=1)
    return value


def hash_type(value: Any) -> str:
    """The platform hash type of a value: from its ``md5:``-style prefix, else its hex length."""
    text = str(value).strip()
    match = _HASH_PREFIX.match(text)
    if match:
        return _PREFIX_TYPES[match.group(1).lower().replace("-", "")]
    if _HEX.match(text) and len(text) in _LENGTH_TYPES:
        return _LENGTH_TYPES[len(text)]
    raise ValueError(f"cannot tell the hash type of {text[:80]!r} (not 32, 40, 64 or 128 hex)")


def ip_type(value: Any) -> str:
    """The platform type of an address: IP Address or IPv6 Address (``/32``, ``/128`` too)."""
    text = str(strip_host_prefix_length(str(value).strip()))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text[:80]!r} is not an IPv4 or IPv6 address") from None
    return "IP Address" if address.version == 4 else "IPv6 Address"


def lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def strip(value: Any) -> Optional[Any]:
    if isinstance(value, str):
        return value.strip() or None
    return value


BUILTIN_TRANSFORMS: Mapping[str, Transform] = {
    "datetime": to_datetime,
    "strip_host_prefix_length": strip_host_prefix_length,
    "strip_hash_prefix": strip_hash_prefix,
    "hash_type": hash_type,
    "ip_type": ip_type,
    "lower": lower,
    "strip": strip,
}
