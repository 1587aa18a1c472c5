"""The record shapes of TIE's API generations, made from the simulator's v1 IOCs (with their
observations), deterministically:

- :func:`legacy_record`: a legacy ``/api/v1/iocs`` record (2018): no observations, but their
  aggregates (``min_/max_severity``, ``first_seen``, ``source_pseudonyms``, ``n_occurrences``,
  attributes as ``"key:value"`` strings), dates in TIE's default form with a local offset.
- :func:`v2_record`: a record of DCSO's 2023 TI engine (``/tie/v1/iocs``): the aggregates,
  ``source``, ``event_attributes``, RFC 3339 dates.
- :func:`v3_record`: a TIE v3 record (``/tie/v3/iocs``): ``ioc``/``iocType``, confidence
  0-100, ``tlpLevel``, MITRE and target lists, ``lastFeedOccurence`` (sic).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

__all__ = ["V3_TYPES", "legacy_record", "v2_record", "v3_record", "v3_value"]

#: TIE v1 data_type -> v3 iocType (hashes by their prefix); others are not served by v3
V3_TYPES = {
    "DomainName": "domain",
    "IPv4": "ip",
    "IPv6": "ip",
    "URLVerbatim": "url",
    "EMail": "emailAddress",
    "FileName": "filename",
    "SSDEEP": "ssdeep",
}
_LOCAL = timezone(timedelta(hours=2))
_TLP = ["clear", "green", "green", "green", "amber", "amber+strict", "red"]
_FEEDS = ["DCSO-Data Feed", "ThreatFox-Recent additions", "URLhaus-Recent Payloads"]
_TECHNIQUES = ["T1071", "T1105", "T1566", "T1583", "T1204.002", "T1059.001"]
_COUNTRIES = ["Germany", "United States", "Israel", "Poland", "France"]


def _moment(text: Any) -> Optional[datetime]:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _legacy_date(moment: Optional[datetime]) -> Optional[str]:
    """TIE's default form with a local offset; the hour unpadded, as DCSO's data shows it."""
    if moment is None:
        return None
    local = moment.astimezone(_LOCAL)
    return f"{local:%Y-%m-%d} {local.hour}:{local:%M:%S}.{local.microsecond:06d}+02:00"


def _rfc3339(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _aggregates(ioc: dict[str, Any], kept: list[dict[str, Any]]) -> dict[str, Any]:
    def values(name: str) -> list[Any]:
        return [o[name] for o in kept if o.get(name) is not None]

    def union(name: str) -> list[str]:
        return sorted({item for o in kept for item in o.get(name) or []})

    firsts = [m for m in (_moment(o.get("first_seen")) for o in kept) if m]
    lasts = [m for m in (_moment(o.get("last_seen")) for o in kept) if m]
    return {
        "min_severity": min(values("severity"), default=None),
        "max_severity": max(values("severity"), default=None),
        "min_confidence": min(values("confidence"), default=None),
        "max_confidence": max(values("confidence"), default=None),
        "first": min(firsts, default=None),
        "last": max(lasts, default=None),
        "categories": union("categories"),
        "families": union("families"),
        "actors": union("actors"),
        "event_ids": sorted({o["event"]["id"] for o in kept}),
        "info": [
            f"{a['name']}:{a['value']}" for o in kept for a in o["event"].get("attributes", [])
        ],
    }


def legacy_record(ioc: dict[str, Any], kept: list[dict[str, Any]]) -> dict[str, Any]:
    """The IOC as the legacy ``/api/v1/iocs`` returned it (aggregates, no observations)."""
    agg = _aggregates(ioc, kept)
    seqs = [o["seq"] for o in kept]
    out = {k: v for k, v in ioc.items() if k != "observations"}
    for name in ("created_at", "updated_at", "enriched_at"):
        out[name] = _legacy_date(_moment(ioc.get(name)))
    out.update(
        {
            "first_seen": _legacy_date(agg["first"]),
            "last_seen": _legacy_date(agg["last"]),
            "min_severity": agg["min_severity"],
            "max_severity": agg["max_severity"],
            "min_confidence": agg["min_confidence"],
            "max_confidence": agg["max_confidence"],
            "min_seq": min(seqs),
            "max_seq": max(seqs),
            "n_occurrences": len(kept),
            "categories": agg["categories"],
            "families": agg["families"],
            "actors": agg["actors"],
            "source_pseudonyms": sorted({o["event"]["source"]["pseudonym"] for o in kept}),
            "entity_ids": [],
            "event_ids": agg["event_ids"],
            "ioc_attributes": [],
            "event_attributes": agg["info"],
            "observation_attributes": sorted(
                {f"{a['name']}:{a['value']}" for o in kept for a in o.get("attributes", [])}
            ),
        }
    )
    return out


def v2_record(ioc: dict[str, Any], kept: list[dict[str, Any]]) -> dict[str, Any]:
    """The IOC as DCSO's 2023 TI engine returns it."""
    agg = _aggregates(ioc, kept)
    return {
        "data_type": ioc["data_type"],
        "value": ioc["value"],
        "id": agg["event_ids"][0],
        "event_ids": agg["event_ids"],
        "event_attributes": agg["info"],
        "min_confidence": agg["min_confidence"],
        "max_confidence": agg["max_confidence"],
        "min_severity": agg["min_severity"],
        "max_severity": agg["max_severity"],
        "source": random.Random(ioc["id"]).choice([["threatfox"], ["urlhaus"], ["dcso", "misp"]]),
        "created_at": _rfc3339(_moment(ioc.get("created_at"))),
        "updated_at": _rfc3339(_moment(ioc.get("updated_at"))),
        "categories": agg["categories"],
        "actors": agg["actors"],
        "families": agg["families"],
    }


def v3_value(ioc: dict[str, Any]) -> Optional[tuple[str, str]]:
    """The v3 ``ioc`` and ``iocType`` of a v1 IOC; None for types v3 does not serve."""
    value, data_type = str(ioc["value"]), ioc["data_type"]
    if data_type == "ExactHash":
        algorithm, _, digest = value.partition(":")
        return digest, algorithm
    if data_type not in V3_TYPES:
        return None
    for suffix in ("/32", "/128"):
        value = value[: -len(suffix)] if value.endswith(suffix) else value
    return value, V3_TYPES[data_type]


def v3_record(ioc: dict[str, Any], kept: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The IOC as TIE v3 returns it (None: a type v3 does not serve)."""
    found = v3_value(ioc)
    if found is None:
        return None
    rng = random.Random(ioc["id"])
    agg = _aggregates(ioc, kept)
    record: dict[str, Any] = {
        "created": _rfc3339(_moment(ioc.get("created_at"))),
        "modified": _rfc3339(_moment(ioc.get("updated_at"))),
        "lastFeedOccurence": _rfc3339(agg["last"] or _moment(ioc.get("updated_at"))),
        "ioc": found[0],
        "iocType": found[1],
        "tlpLevel": rng.choice(_TLP),
        "iocFeedSources": sorted(set(rng.sample(_FEEDS, rng.randint(1, 2)))),
        "confidence": agg["max_confidence"] if rng.random() < 0.9 else None,
        "tags": [],
        "eventIDs": agg["event_ids"],
        "state": rng.choice(["NEW", "NEW", "APPROVED", "TO_APPROVE"]),
        "ignore": False,
        "mitreTactics": [],
        "mitreTechniques": rng.sample(_TECHNIQUES, rng.randint(0, 3)),
        "mitreSoftware": [],
        "threatActors": agg["actors"],
        "targetIndustries": [],
        "targetCountries": rng.sample(_COUNTRIES, rng.randint(0, 2)),
        "targetCampaigns": [],
        "malpedia": [family.title() for family in agg["families"]],
        "admiraltyScale": None,
        "decayScore": None,
        "severity": None,
    }
    if rng.random() < 0.5:  # present on some records only, as Tenzir's reader expects
        record["firstSeen"] = _rfc3339(agg["first"])
        record["lastSeen"] = _rfc3339(agg["last"])
    return record
