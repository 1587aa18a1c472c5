"""Checks of selected indicator values by platform type, before anything is sent.

Each check returns the value normalised (trimmed; hashes and domains lower-cased) or raises
:class:`InputError` saying what was wrong. Vendors may add stricter checks of their own.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable
from urllib.parse import urlsplit

from .errors import InputError
from .model import Indicator, IndicatorType

__all__ = ["check_indicator", "check_value"]

MAX_LENGTH = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HEX = re.compile(r"^[0-9a-f]+$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)


def _domain(value: str, what: str = "domain name") -> str:
    name = value.lower().rstrip(".")
    if not name.isascii():
        raise ValueError(
            f"is not a valid {what}: it has non-ASCII characters (look-alikes?); "
            "give the punycode (xn--) form"
        )
    labels = name.split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(lab) for lab in labels):
        raise ValueError(f"is not a valid {what}")
    if labels[-1].isdigit():
        raise ValueError(f"is not a valid {what} (it looks like an IP address)")
    return name


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("is not a valid IPv4 address (expected a.b.c.d)") from None


def _ipv6(value: str) -> str:
    try:
        return str(ipaddress.IPv6Address(value))
    except ValueError:
        raise ValueError("is not a valid IPv6 address") from None


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError("is not a valid CIDR block (expected a.b.c.d/n)") from None


def _url(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("is not a valid URL: it contains whitespace")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if not parts.scheme or not parts.netloc or not host:
        raise ValueError("is not a valid URL (expected scheme://host/...)")
    if not value.isascii():
        raise ValueError("is not a valid URL: it has non-ASCII characters; percent-encode them")
    return value


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not _EMAIL_LOCAL.match(local) or local.startswith(".") or ".." in local:
        raise ValueError("is not a valid email address (expected name@domain)")
    try:
        return f"{local}@{_domain(domain)}"
    except ValueError:
        raise ValueError("is not a valid email address: its domain is not valid") from None


def _hash(length: int, name: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = value.lower()
        if len(text) != length or not _HEX.match(text):
            raise ValueError(f"is not a valid {name} (expected {length} hexadecimal characters)")
        return text

    return check


def _filename(value: str) -> str:
    if "/" in value or "\\" in value:
        raise ValueError("is not a file name: it contains a path separator")
    if len(value) > 255:
        raise ValueError("is not a file name: longer than 255 characters")
    return value


def _asn(value: str) -> str:
    match = _ASN.match(value)
    if not match or not 0 < int(match.group(1)) < 2**32:
        raise ValueError("is not a valid ASN (expected AS followed by 1 to 4294967295)")
    return f"AS{int(match.group(1))}"


def _fuzzy(value: str) -> str:
    if value.count(":") < 2 or any(c.isspace() for c in value):
        raise ValueError("is not a valid ssdeep fuzzy hash (expected blocksize:hash:hash)")
    return value


_CHECKS: dict[IndicatorType, Callable[[str], str]] = {
    IndicatorType.ASN: _asn,
    IndicatorType.CIDR_BLOCK: _cidr,
    IndicatorType.EMAIL_ADDRESS: _email,
    IndicatorType.FILENAME: _filename,
    IndicatorType.FQDN: _domain,
    IndicatorType.FUZZY_HASH: _fuzzy,
    IndicatorType.HOSTNAME: lambda v: _domain(v, "hostname"),
    IndicatorType.IP_ADDRESS: _ipv4,
    IndicatorType.IPV6_ADDRESS: _ipv6,
    IndicatorType.MD5: _hash(32, "MD5"),
    IndicatorType.SHA1: _hash(40, "SHA-1"),
    IndicatorType.SHA256: _hash(64, "SHA-256"),
    IndicatorType.SHA512: _hash(128, "SHA-512"),
    IndicatorType.URL: _url,
}


def _shown(value: str) -> str:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return repr(shown)


def check_value(indicator_type: IndicatorType, value: str) -> str:
    """The value, normalised, or :class:`InputError` naming the type and the problem."""
    if not isinstance(value, str):
        raise InputError(f"{indicator_type.value} value must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InputError(f"{indicator_type.value} value is empty")
    if len(text) > MAX_LENGTH:
        raise InputError(
            f"{indicator_type.value} value is {len(text)} characters long; at most {MAX_LENGTH}"
        )
    if _CONTROL.search(text):
        raise InputError(
            f"{indicator_type.value} {_shown(text)} contains a control character; remove it"
        )
    try:
        return _CHECKS[indicator_type](text)
    except ValueError as exc:
        raise InputError(f"{indicator_type.value} {_shown(text)} {exc}") from None


def check_indicator(indicator: Indicator) -> Indicator:
    """The indicator with its value checked and normalised."""
    value = check_value(indicator.type, indicator.value)
    if value == indicator.value:
        return indicator
    return Indicator(value=value, type=indicator.type)
