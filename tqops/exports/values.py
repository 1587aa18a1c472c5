"""What the STIX and MISP exports share: an exported result with its input's TLP
(:class:`Exported`), the head of an export (:class:`ExportHead`), the kind of observable a
value is, and text made safe to hand on.

Values come from vendors and are hostile until checked: a ``domain`` may hold a path, an
``ASN`` a name, a hash a sentence, any text megabytes or lone surrogates. :func:`value_kind`
says what a value *is* by its form, not by the type it was given, and None when it is no
observable we can state; :func:`clean` bounds text and makes it encodable.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import quote

import attrs

from tqops.config.values import scrub
from tqops.dates import isoformat_utc, parse_datetime
from tqops.model import LEVELS
from tqops.tlp import DEFAULT, Tlp

__all__ = [
    "KINDS",
    "ExportHead",
    "Exported",
    "asn_number",
    "clean",
    "exported",
    "first_seen",
    "indicators_of",
    "observable_value",
    "value_kind",
    "verdict_of",
]

#: the kinds of observable a value can be, and the platform types that may hold each
KINDS: Mapping[str, tuple[str, ...]] = {
    "domain": ("FQDN", "Hostname"),
    "ipv4": ("IP Address",),
    "ipv6": ("IPv6 Address", "IP Address"),
    "url": ("URL",),
    "email": ("Email Address",),
    "md5": ("MD5",),
    "sha1": ("SHA-1",),
    "sha256": ("SHA-256",),
    "sha512": ("SHA-512",),
    "filename": ("Filename",),
    "asn": ("ASN",),
}
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# a host name's label (IDNA's rules, which STIX's validator applies): letters of any script
# and digits, '-' inside, 63 at most; no '_' (``_dmarc`` names a record, not a host)
_LABEL = re.compile(r"^[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?$")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@([^@\s]+)$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s/?#@]+(?:[/?#]\S*)?$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
#: the characters a URI may hold as they are (RFC 3986's reserved ones, and escapes)
_URI_SAFE = ":/?#[]@!$&'()*+,;=%"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: the longest value stated as an observable (a longer "URL" is a vendor's blob, not a URL)
MAX_VALUE = 8192
#: C0 controls but tab and newline, and DEL: nothing a reader of a value or a note wants
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@attrs.frozen
class ExportHead:
    """What an export says about where its results come from: the operation (its name and
    label), the action, and the moment of the export (every object's creation time)."""

    operation: str
    label: str
    action: str
    created: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))

    @property
    def timestamp(self) -> str:
        """The moment as STIX and MISP write it: RFC 3339 UTC, milliseconds."""
        moment = self.created.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@attrs.frozen
class Exported:
    """One result to export, in the JSON contract of ``tqops run --format json``, with its
    input's TLP (which marks everything the export says about that input)."""

    result: Mapping[str, Any]
    tlp: Tlp = DEFAULT


def exported(result: Mapping[str, Any], tlp: Any, secrets: Sequence[str] = ()) -> Exported:
    """A result made ready to export: every configured secret a vendor echoed masked (the run
    masks them already; this holds for a result from anywhere), its TLP read (none or blank:
    AMBER, the level an indicator gets when none is given)."""
    document = scrub(_copied(result), secrets) if secrets else result
    return Exported(document, Tlp.parse(tlp))


def _copied(document: Any) -> Any:
    """A copy of a JSON document's containers (so masking leaves the caller's alone)."""
    if isinstance(document, Mapping):
        return {key: _copied(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_copied(item) for item in document]
    return document


def clean(value: Any, limit: int = 4096) -> str:
    """``value`` as text that any reader takes: lone surrogates (a vendor's broken JSON)
    replaced, control characters but tab and newline dropped, at most ``limit`` characters
    (an ellipsis says it was cut)."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return _CONTROLS.sub("", text)


def _is_domain(value: str) -> bool:
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or "." not in name or _ip_kind(name):
        return False
    # a label in another script is lower case (IDNA has no upper-case form of it)
    return all(
        _LABEL.match(label) and (label.isascii() or label == label.lower())
        for label in name.split(".")
    )


def _ip_kind(value: str) -> Optional[str]:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return "ipv4" if address.version == 4 else "ipv6"


def value_kind(kind: str, value: Any) -> Optional[str]:
    """What observable ``value``, given as the platform type ``kind``, is: one of
    :data:`KINDS`, or None when its form is not that of its type (a domain with a path, a
    hash of the wrong length, an address that is not one) or the type has no observable."""
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        return None
    if value != value.strip() or _CONTROLS.search(value):
        return None
    if kind in ("IP Address", "IPv6 Address"):
        return _ip_kind(value)
    if kind in KINDS["domain"]:
        return "domain" if _is_domain(value) else None
    if kind == "URL":
        return "url" if _URL.match(value) and _is_host(value) else None
    if kind == "Email Address":
        match = _EMAIL.match(value)
        return "email" if match and len(value) <= 254 and _is_domain(match.group(1)) else None
    for name, length in _HASH_LENGTHS.items():
        if kind in KINDS[name]:
            return name if len(value) == length and _HEX.match(value) else None
    if kind == "Filename":
        return "filename" if len(value) <= 1024 and "\n" not in value else None
    if kind == "ASN":
        return "asn" if asn_number(value) is not None else None
    return None


def _is_host(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if host.startswith("["):  # an IPv6 address, perhaps with a port
        inside, _, port = host[1:].partition("]")
        return _ip_kind(inside) == "ipv6" and (
            not port or re.match(r"^:\d{1,5}$", port) is not None
        )
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # a port
    return _ip_kind(host) == "ipv4" or _is_domain(host) or host == "localhost"


def observable_value(kind: str, value: str) -> str:
    """``value`` as an observable of ``kind`` states it: an IPv6 address that embeds an IPv4
    one (``::ffff:1.2.3.4``) in its eight groups, which every reader (and Python version)
    writes alike; a URL as a URI (``<`` as ``%3C``, as a browser sends it); every other value
    as it is."""
    if kind == "ipv6" and "." in value:
        packed = ipaddress.IPv6Address(value).packed
        return ":".join(f"{int.from_bytes(packed[i : i + 2], 'big'):x}" for i in range(0, 16, 2))
    if kind == "url":  # what RFC 3986 does not allow in a URI (<, space, non-ASCII) escaped
        return quote(_STRAY_PERCENT.sub("%25", value), safe=_URI_SAFE)
    return value


def asn_number(value: str) -> Optional[int]:
    """The number of ``AS13335`` or ``13335``; None when it is no AS number."""
    match = _ASN.match(value.strip())
    number = int(match.group(1)) if match else -1
    return number if 0 <= number <= 0xFFFFFFFF else None


def verdict_of(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result's verdict: ``level``, ``score`` (an int from 0 to 100, or None) and
    ``reasons`` (text); unknown for a result stored before verdicts, or an odd one."""
    verdict = result.get("verdict")
    if not isinstance(verdict, Mapping) or verdict.get("level") not in LEVELS:
        return {"level": "unknown", "score": None, "reasons": []}
    score = verdict.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
        score = None
    reasons = verdict.get("reasons")
    reasons = [clean(r, 1000) for r in reasons] if isinstance(reasons, list) else []
    level, score = verdict["level"], None if score is None else int(score)
    return {"level": level, "score": score, "reasons": reasons}


def indicators_of(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The result's found indicators that are well-formed (a mapping with a text value)."""
    found = result.get("indicators")
    if not isinstance(found, list):
        return []
    return [i for i in found if isinstance(i, Mapping) and isinstance(i.get("value"), str)]


def _moments(texts: Iterable[Any]) -> Iterable[datetime]:
    for text in texts:
        if text:
            try:
                yield parse_datetime(text)
            except (ValueError, OverflowError):
                continue  # a vendor's odd date says nothing of when a value was first seen


def first_seen(result: Mapping[str, Any]) -> Optional[str]:
    """The earliest date the vendor gave for the input's own value (its exact matches and
    their attributes), ISO 8601 UTC; None when it gave none."""
    texts: list[Any] = []
    for indicator in indicators_of(result):
        if indicator.get("match", "exact") != "exact":
            continue
        texts.append(indicator.get("published_at"))
        attributes = indicator.get("attributes")
        if isinstance(attributes, list):
            texts += [a.get("published_at") for a in attributes if isinstance(a, Mapping)]
    return isoformat_utc(min(_moments(texts), default=None))
