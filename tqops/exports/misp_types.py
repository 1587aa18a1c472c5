"""MISP's attribute types as MISP itself checks them, so that no value is handed to MISP under a
type it would refuse: the one place both the MISP event export (:mod:`.misp`) and the host's
MISP modules listener decide a value's MISP type.

The rules are those of MISP's ``AttributeValidationTool`` (``modifyBeforeValidation``, then
``validate``), for the types the platform's indicator types are (:data:`MISP_TYPES`): a value
is trimmed (MISP's ``Trim`` behaviour), normalised as MISP normalises it before saving (hashes
and host names in lower case, a domain without its outer dots and in punycode, an IPv6 address
compressed, an ``AS`` number without its ``AS`` prefix), and then checked:

- ``domain``, ``hostname``: letters, digits, ``.``, ``-``, ``_``, then a dot and a last label of
  at least two letters, digits or hyphens (no ``/``, no ``:``, no ``*``);
- ``ip-src``, ``ip-dst``: an IPv4 or IPv6 address, or one in CIDR notation (a ``/32`` or ``/128``
  is the bare address);
- ``md5``, ``sha1``, ``sha224``, ``sha256``, ``sha384``, ``sha512``: that many hexadecimal digits;
- ``email``, ``email-src``, ``email-dst``: a character, then no white space up to an ``@``, and a
  dot after it;
- ``AS``: a whole number from 0 to 4294967295 (``AS15169`` and asdot ``1.10`` read as numbers);
- ``ssdeep``: ``blocksize:hash:hash``;
- ``url``, ``filename``, ``user-agent``, ``regkey``, ``email-subject``: any single line;
- ``text``, ``mutex``: anything.

:func:`misp_value` gives a value as MISP would store it under a type (None: MISP refuses it),
:func:`misp_types_for` the types among candidates whose format a value passes, and
:func:`attribute_types` the types a found indicator of the platform is offered under.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import string
from collections.abc import Iterable, Mapping
from typing import Callable, Optional

__all__ = [
    "MISP_CATEGORIES",
    "MISP_TYPES",
    "attribute_types",
    "misp_types_for",
    "misp_value",
]

#: the platform's indicator types and the MISP attribute types they are (first: the one used
#: when only one is)
MISP_TYPES: Mapping[str, tuple[str, ...]] = {
    "IP Address": ("ip-dst", "ip-src"),
    "IPv6 Address": ("ip-dst", "ip-src"),
    "FQDN": ("domain", "hostname"),
    "Hostname": ("hostname", "domain"),
    "URL": ("url",),
    "Email Address": ("email", "email-src", "email-dst"),
    "MD5": ("md5",),
    "SHA-1": ("sha1",),
    "SHA-256": ("sha256",),
    "SHA-512": ("sha512",),
    "Filename": ("filename",),
    "ASN": ("AS",),
    "User-agent": ("user-agent",),
    "Registry Key": ("regkey",),
    "Email Subject": ("email-subject",),
    "Mutex": ("mutex",),
    "Fuzzy Hash": ("ssdeep",),
}
#: each type's default category (MISP's describeTypes ``sane_defaults``), the one MISP and
#: pymisp give an attribute that names none
MISP_CATEGORIES: Mapping[str, str] = {
    "AS": "Network activity",
    "domain": "Network activity",
    "email": "Social network",
    "email-dst": "Network activity",
    "email-src": "Payload delivery",
    "email-subject": "Payload delivery",
    "filename": "Payload delivery",
    "hostname": "Network activity",
    "ip-dst": "Network activity",
    "ip-src": "Network activity",
    "md5": "Payload delivery",
    "mutex": "Artifacts dropped",
    "regkey": "Persistence mechanism",
    "sha1": "Payload delivery",
    "sha224": "Payload delivery",
    "sha256": "Payload delivery",
    "sha384": "Payload delivery",
    "sha512": "Payload delivery",
    "ssdeep": "Payload delivery",
    "text": "Other",
    "url": "Network activity",
    "user-agent": "Network activity",
}

_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
_DOMAIN = re.compile(r"[A-Z0-9.\-_]+\.[A-Z0-9\-]{2,}", re.IGNORECASE)
# "." matches no line break, as in MISP's PCRE pattern
_EMAIL = re.compile(r".[^\s]*@.*\..*", re.IGNORECASE)
_SSDEEP = re.compile(r"[0-9]+:[0-9a-zA-Z/+]*:[0-9a-zA-Z/+]*")
_IPV4_OCTETS = re.compile(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}")
_AS_MAX = 4294967295
#: the platform's host name types, whose value may be a host with a path (then a ``url``)
_HOST_TYPES = ("FQDN", "Hostname")


def _lower(value: str) -> Optional[str]:
    return value.lower()


def _same(value: str) -> Optional[str]:
    return value


def _domain(value: str) -> Optional[str]:
    text = value.lower().strip(".")
    if not _DOMAIN.fullmatch(text) and not text.isascii():
        # MISP tries punycode for a name that is not valid as it is
        with contextlib.suppress(UnicodeError):
            text = text.encode("idna").decode("ascii")
    return text


def _address(text: str) -> Optional[str]:
    """An IP address as MISP writes it (IPv6 compressed), None when it is none."""
    if "%" in text or (":" not in text and not _IPV4_OCTETS.fullmatch(text)):
        return None  # no zone index, no leading zeros: PHP's FILTER_VALIDATE_IP takes neither
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"  # inet_ntop's form, on every Python
    return str(address)


def _ip(value: str) -> Optional[str]:
    if "/" not in value:
        return _address(value)
    ip, _, prefix = value.partition("/")
    address = _address(ip)
    if address is None or not prefix.isdigit() or not prefix.isascii():
        return None
    limit = 128 if ":" in address else 32
    if int(prefix) > limit:
        return None
    return address if int(prefix) == limit else f"{address}/{prefix}"


def _as_number(value: str) -> Optional[str]:
    text = value[2:] if value[:2].upper() == "AS" else value
    high, dot, low = text.partition(".")
    if dot and _digits(high) and _digits(low):  # asdot notation: 1.10 is 65546
        text = str(int(high) * 65536 + int(low))
    return text if _digits(text) and int(text) <= _AS_MAX else None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _hash(misp_type: str) -> Callable[[str], Optional[str]]:
    def check(value: str) -> Optional[str]:
        text = value.lower()
        hexadecimal = all(c in string.hexdigits for c in text)
        return text if len(text) == _HASH_LENGTHS[misp_type] and hexadecimal else None

    return check


def _matching(
    pattern: re.Pattern[str], normalise: Callable[[str], Optional[str]]
) -> Callable[[str], Optional[str]]:
    def check(value: str) -> Optional[str]:
        text = normalise(value)
        return text if text is not None and pattern.fullmatch(text) else None

    return check


def _one_line(value: str) -> Optional[str]:
    return None if "\n" in value else value


#: each type's check: the value as MISP stores it, or None when MISP refuses it
_CHECKS: Mapping[str, Callable[[str], Optional[str]]] = {
    **{name: _hash(name) for name in _HASH_LENGTHS},
    "ip-src": _ip,
    "ip-dst": _ip,
    "domain": _matching(_DOMAIN, _domain),
    "hostname": _matching(_DOMAIN, _lower),
    "email": _matching(_EMAIL, _lower),
    "email-src": _matching(_EMAIL, _lower),
    "email-dst": _matching(_EMAIL, _lower),
    "AS": _as_number,
    "ssdeep": _matching(_SSDEEP, _same),
    **{name: _one_line for name in ("url", "filename", "user-agent", "regkey", "email-subject")},
    "text": _same,
    "mutex": _same,
}


def misp_value(misp_type: str, value: str) -> Optional[str]:
    """``value`` as MISP stores it under ``misp_type`` (trimmed and normalised: ``domain``
    ``Evil.COM.`` is ``evil.com``, ``AS`` ``AS15169`` is ``15169``), or None when MISP would
    refuse it under that type, an empty value or a type this module does not check included."""
    check = _CHECKS.get(misp_type)
    text = value.strip() if isinstance(value, str) else ""
    return check(text) if check is not None and text else None


def misp_types_for(value: str, candidates: Iterable[str]) -> list[str]:
    """The MISP types among ``candidates``, in their order and once each, whose format
    ``value`` passes as MISP checks it (:func:`misp_value`): ``misp_types_for("8.8.8.8",
    ["domain", "ip-src"])`` is ``["ip-src"]``. A value fit for none gives ``[]``."""
    return [t for t in dict.fromkeys(candidates) if misp_value(t, value) is not None]


def attribute_types(platform_type: str, value: str, prefer: Optional[str] = None) -> list[str]:
    """The MISP types a found indicator (``platform_type``, ``value``) is offered under, the
    first being the one to use when only one is: the platform type's MISP types that ``value``
    passes, ``prefer`` (the queried attribute's type) first when it is one of them; a host name
    with a path (``www.example.com/download.cam``) only as a ``url``; ``[]`` when the value fits
    no MISP type (it is then left out, and said so)."""
    candidates = list(MISP_TYPES.get(platform_type, ("text",)))
    if prefer in candidates:
        candidates.remove(prefer)
        candidates.insert(0, prefer)
    fit = misp_types_for(value, candidates)
    if not fit and platform_type in _HOST_TYPES and _host_with_path(value):
        fit = misp_types_for(value, ["url"])
    return fit


def _host_with_path(value: str) -> bool:
    """Whether ``value`` is a host name or address followed by a path (a scheme allowed)."""
    text = value.strip()
    text = text.partition("://")[2] if "://" in text else text
    host, slash, _ = text.partition("/")
    name = host.rpartition("@")[2]
    found = misp_value("hostname", name) or misp_value("ip-dst", name.strip("[]"))
    return bool(slash) and found is not None
