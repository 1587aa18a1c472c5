"""Checks of selected indicator values by platform type, before anything is sent.

Each check returns the value normalised (trimmed; hashes and domains lower-cased) or raises
:class:`InputError` saying what was wrong. Vendors may add stricter checks of their own.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

import attrs

from tqops.errors import InputError
from tqops.model import Indicator, IndicatorType
from tqops.running.defang import refang

__all__ = ["CheckedIndicator", "check_indicator", "check_value", "checked_indicator"]

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


def _text(value: str) -> str:
    """Free text (a mutex, a path, a subject): checked only for length and control characters."""
    return value


_CHECKS: dict[IndicatorType, Callable[[str], str]] = {
    IndicatorType.EMAIL_SUBJECT: _text,
    IndicatorType.FILE_PATH: _text,
    IndicatorType.MUTEX: _text,
    IndicatorType.REGISTRY_KEY: _text,
    IndicatorType.USER_AGENT: _text,
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


@attrs.frozen
class CheckedIndicator:
    """A selected indicator as it will be sent, and the notes on what was done to it (a
    defanged value refanged, credentials taken out of a URL, an IPv4-mapped address)."""

    indicator: Indicator
    notes: tuple[str, ...] = ()


def _mapped_ipv4(value: str) -> Optional[str]:
    """The IPv4 address an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) carries, else None."""
    try:
        mapped = ipaddress.IPv6Address(value).ipv4_mapped
    except ValueError:
        return None
    return str(mapped) if mapped is not None else None


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def checked_indicator(indicator: Indicator) -> CheckedIndicator:
    """The indicator as it is sent, checked and normalised, with notes for the user.

    A pure function (the CLI and the host share it): defanged values are refanged
    (:func:`tqops.running.defang.refang`); a URL's ``user:password@`` is taken out; an IPv4-mapped
    IPv6 address is searched as the IPv4 address it carries (one form on every Python: 3.13
    writes ``::ffff:203.0.113.7``, earlier versions ``::ffff:cb00:7107``)."""
    kind, value = indicator.type, indicator.value
    notes = []
    if isinstance(value, str) and (whole := refang(kind, value.strip())) != value.strip():
        value = whole
        notes.append(f"defanged value refanged: searched as {_shown(whole)}")
    value = check_value(kind, value)
    if kind is IndicatorType.URL and "@" in urlsplit(value).netloc:
        value = _without_credentials(value)
        notes.append("the URL's credentials (user:password@) were taken out before sending")
    elif kind is IndicatorType.IPV6_ADDRESS and (ipv4 := _mapped_ipv4(value)) is not None:
        kind, value = IndicatorType.IP_ADDRESS, ipv4
        notes.append(f"IPv4-mapped IPv6 address: searched as IP Address {ipv4}")
    if (kind, value) == (indicator.type, indicator.value):
        return CheckedIndicator(indicator, tuple(notes))
    return CheckedIndicator(Indicator(value=value, type=kind), tuple(notes))


def check_indicator(indicator: Indicator) -> Indicator:
    """The indicator with its value checked and normalised (as sent; see
    :func:`checked_indicator` for the notes on what was changed)."""
    return checked_indicator(indicator).indicator
