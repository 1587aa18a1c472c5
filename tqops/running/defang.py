"""Defanged indicators made whole again ("refanged"), as analysts paste them from reports:
``hxxp://evil[.]com/x``, ``1.2.3[.]4``, ``evil[dot]com``, ``billing[@]x[.]com``, ``2001:db8[:]:1``.

A small function rather than ioc-fanger, the library for this: it needs Python 3.10 while tqops
runs on 3.9, it would bring click into the platform runtime, and it rewrites free text broadly
(any ``DOT`` or ``AT`` between words), where a single indicator value needs only the bracketed
forms below. Only the network types are refanged; a file name or a hash is taken as given.
"""

from __future__ import annotations

import re

from tqops.model import IndicatorType

__all__ = ["REFANGED_TYPES", "refang"]

#: the types whose values may come defanged (a file name like ``a[.]b`` is taken as given)
REFANGED_TYPES = frozenset(
    {
        IndicatorType.CIDR_BLOCK,
        IndicatorType.EMAIL_ADDRESS,
        IndicatorType.FQDN,
        IndicatorType.HOSTNAME,
        IndicatorType.IP_ADDRESS,
        IndicatorType.IPV6_ADDRESS,
        IndicatorType.URL,
    }
)

_OPEN, _CLOSE = r"[\[\(\{]", r"[\]\)\}]"
#: hxxp://, hXXps://, h**p://, fxp:// and a bracketed scheme: [https]://
_SCHEME = re.compile(
    r"^(?:\[(?P<plain>[a-z]+)\]|h(?:xx|\*\*)p(?P<s>s?)|(?P<fxp>fxp))(?=\[?:)", re.IGNORECASE
)


def _scheme(match: re.Match[str]) -> str:
    if match.group("plain"):
        return match.group("plain")
    return "ftp" if match.group("fxp") else "http" + match.group("s").lower()


_BRACKETED = re.compile(r"\[(:?//?|:)\]")  # [://] [:] [//] [/]
_DOT = re.compile(rf"\s*{_OPEN}\s*(?:\.|dot)\s*{_CLOSE}\s*|\\\.", re.IGNORECASE)  # [.] (dot) \.
_AT = re.compile(rf"\s*{_OPEN}\s*(?:@|at)\s*{_CLOSE}\s*", re.IGNORECASE)  # [@] [at] (at)


def refang(kind: IndicatorType, value: str) -> str:
    """``value`` with the defanged forms of its type made whole (unchanged if there are none).

    Every network type takes the bracketed dots (``[.]``, ``(.)``, ``{.}``, ``[dot]``) and
    ``\\.``; URLs also a defanged scheme (``hxxp``, ``h**p``, ``fxp``, ``[https]``) and
    bracketed ``[:]``, ``[://]``, ``[/]``; IPv6 addresses ``[:]``; email addresses ``[@]`` and
    ``[at]`` (only there: ``(at)`` may be real text in a URL)."""
    if kind not in REFANGED_TYPES:
        return value
    if kind is IndicatorType.URL:
        value = _SCHEME.sub(_scheme, value)
    if kind in (IndicatorType.URL, IndicatorType.IPV6_ADDRESS):
        value = _BRACKETED.sub(lambda m: m.group(1), value)
    if kind is IndicatorType.EMAIL_ADDRESS:
        value = _AT.sub("@", value)
    return _DOT.sub(".", value)
