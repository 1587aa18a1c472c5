"""The platform's object model: frozen attrs value objects with threatqsdk's names.

``Indicator``, ``Attribute`` and ``Source`` render ThreatQ's consume payload
(:meth:`Indicator.to_threatq`) and the CLI's JSON contract (:meth:`Indicator.to_dict`);
:class:`Verdict` is a result's answer to "how bad is it, and how sure are we".
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

import attrs

from tqops.dates import isoformat_utc, platform_format
from tqops.errors import InputError

__all__ = ["LEVELS", "MATCHES", "Attribute", "Indicator", "IndicatorType", "Source", "Verdict"]

#: a verdict's levels, from the least to the most alarming
LEVELS = ("unknown", "benign", "suspicious", "malicious")
#: how a found indicator relates to the searched one: its very value, or another one the
#: vendor returned for it (a substring or wildcard hit, a URL found for a domain)
MATCHES = ("exact", "related")


class TextEnum(str, enum.Enum):
    """An enum whose members are their text (``str(member) == member.value``), as the
    platform and the JSON contract write them."""

    def __str__(self) -> str:
        return self.value


class IndicatorType(TextEnum):
    """The platform's indicator type names (those the operations read or write)."""

    ASN = "ASN"
    CIDR_BLOCK = "CIDR Block"
    EMAIL_ADDRESS = "Email Address"
    EMAIL_SUBJECT = "Email Subject"
    FILE_PATH = "File Path"
    FILENAME = "Filename"
    FQDN = "FQDN"
    FUZZY_HASH = "Fuzzy Hash"
    HOSTNAME = "Hostname"
    IP_ADDRESS = "IP Address"
    IPV6_ADDRESS = "IPv6 Address"
    MD5 = "MD5"
    MUTEX = "Mutex"
    REGISTRY_KEY = "Registry Key"
    SHA1 = "SHA-1"
    SHA256 = "SHA-256"
    SHA512 = "SHA-512"
    URL = "URL"
    USER_AGENT = "User-agent"

    @classmethod
    def from_name(cls, name: str) -> IndicatorType:
        """The type named ``name``, case-insensitively (the guide writes "Ip Address")."""
        wanted = " ".join(str(name).split()).casefold()
        for member in cls:
            if member.value.casefold() == wanted:
                return member
        names = ", ".join(m.value for m in cls)
        raise InputError(f"unknown indicator type {str(name)[:40]!r}; expected one of: {names}")


@attrs.frozen
class Source:
    """Where an object came from, with its TLP."""

    name: str
    tlp: Optional[str] = None

    def to_threatq(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": self.name}
        if self.tlp:
            payload["tlp"] = {"name": self.tlp}
        return payload


@attrs.frozen
class Attribute:
    """A name/value pair on an indicator; values are strings, as the platform stores them."""

    name: str
    value: str
    published_at: Optional[datetime] = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "published_at": isoformat_utc(self.published_at),
        }

    def to_threatq(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.published_at is not None:
            payload["published_at"] = platform_format(self.published_at)
        return payload


def _as_type(value: Any) -> IndicatorType:
    return value if isinstance(value, IndicatorType) else IndicatorType.from_name(value)


@attrs.frozen
class Indicator:
    """An indicator of compromise: a typed value with attributes and sources."""

    value: str
    type: IndicatorType = attrs.field(converter=_as_type)
    status: str = "Active"
    published_at: Optional[datetime] = None
    attributes: tuple[Attribute, ...] = attrs.field(default=(), converter=tuple)
    sources: tuple[Source, ...] = attrs.field(default=(), converter=tuple)
    #: "exact" or "related" (see :data:`MATCHES`); None where no input was searched (offline
    #: mapping of a saved response)
    match: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON form (times ISO 8601 UTC)."""
        return {
            "value": self.value,
            "type": self.type.value,
            "match": self.match,
            "published_at": isoformat_utc(self.published_at),
            "attributes": [a.to_dict() for a in self.attributes],
            "sources": [s.to_threatq() for s in self.sources],
        }

    def to_threatq(self) -> dict[str, Any]:
        """ThreatQ's consume payload: type and status by name, dates ``%Y-%m-%d %H:%M:%S`` UTC."""
        payload: dict[str, Any] = {
            "value": self.value,
            "type": {"name": self.type.value},
            "status": {"name": self.status},
            "attributes": [a.to_threatq() for a in self.attributes],
            "sources": [s.to_threatq() for s in self.sources],
        }
        if self.published_at is not None:
            payload["published_at"] = platform_format(self.published_at)
        return payload


@attrs.frozen
class Verdict:
    """How bad a searched indicator is, how sure the vendor is, and why: one of
    :data:`LEVELS`, a score from 0 to 100 (None when the evidence has none) and one line per
    reason, naming the evidence in the vendor's own terms."""

    level: str
    score: Optional[int] = None
    reasons: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @classmethod
    def unknown(cls, reason: str) -> Verdict:
        return cls("unknown", None, (reason,))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "score": self.score, "reasons": list(self.reasons)}
