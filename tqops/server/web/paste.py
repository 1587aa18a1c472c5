"""Indicators pasted as an analyst has them: one per line, either ``type,value`` or a bare
value whose type is recognised (defanged values included: the host refangs them and says so).
"""

from __future__ import annotations

from typing import Any, Optional

from tqops.errors import InputError
from tqops.model import Indicator, IndicatorType
from tqops.service import Service

__all__ = ["MAX_LINES", "items_from_paste", "recognise"]

MAX_LINES = 10_000
#: the types a bare value is tried as, most particular first: a value that reads as a URL is
#: a URL before it is a host name, a 32-digit hex string an MD5 before anything else
RECOGNISED = (
    IndicatorType.URL,
    IndicatorType.EMAIL_ADDRESS,
    IndicatorType.IP_ADDRESS,
    IndicatorType.IPV6_ADDRESS,
    IndicatorType.CIDR_BLOCK,
    IndicatorType.MD5,
    IndicatorType.SHA1,
    IndicatorType.SHA256,
    IndicatorType.SHA512,
    IndicatorType.ASN,
    IndicatorType.FQDN,
)


def recognise(value: str) -> Optional[IndicatorType]:
    """The type a bare value reads as (None when it reads as none of :data:`RECOGNISED`)."""
    for kind in RECOGNISED:
        try:
            Service.check_indicator(Indicator(value=value, type=kind))
        except InputError:
            continue
        return kind
    return None


def _typed(line: str) -> Optional[tuple[str, str]]:
    """``(type, value)`` when the line starts with a type name and a comma."""
    head, comma, rest = line.partition(",")
    if not comma:
        return None
    try:
        return IndicatorType.from_name(head.strip()).value, rest.strip()
    except InputError:
        return None


def items_from_paste(text: str, tlp: Optional[str]) -> list[dict[str, Any]]:
    """One indicator item per non-blank line (``#`` starts a comment line); a line that
    cannot be read is an item with its one-line ``error``, naming the line."""
    items: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(items) >= MAX_LINES:
            items.append({"error": f"only the first {MAX_LINES} lines are read"})
            break
        typed = _typed(line)
        if typed is not None:
            items.append({"type": typed[0], "value": typed[1], "tlp": tlp, "line": number})
            continue
        kind = recognise(line)
        if kind is None:
            shown = line if len(line) <= 80 else line[:77] + "..."
            items.append(
                {
                    "error": f"the type of {shown!r} is not recognised; "
                    "write it as type,value (for example Filename,invoice.pdf.exe)",
                    "line": number,
                }
            )
            continue
        items.append({"type": kind.value, "value": line, "tlp": tlp, "line": number})
    return items
