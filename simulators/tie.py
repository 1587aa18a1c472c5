"""A loopback fake of DCSO TIE's three API generations, each with its own authentication:

- v1 (Bearer): ``/api/v1/iocs-with-context`` (observations) and the legacy ``/api/v1/iocs``
  (their aggregates); value matching (substring, exact and ``%`` wildcards), the range, list
  and date filters with the server's defaults, paging with ``has_more`` and an RFC 5988
  ``Link``, and both date forms (``date_format=rfc3339``).
- v2, DCSO's 2023 TI engine (HTTP Basic): ``/tie/v1/iocs``, the v1 parameter family without
  last_seen_since, family and actor (refused with 400), the same paging, RFC 3339 dates.
- v3 (HTTP Basic): ``/tie/v3/iocs``, ``ioc`` (substring), ``minConfidence``, ``limit`` and a
  ``next`` cursor while ``hasMore``; any other parameter is refused with 400.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import urlencode

from ._server import RecordedRequest, SimulatorServer
from .tie_data import DATA_FILE, DEMO_VALUES
from .tie_shapes import legacy_record, v2_record, v3_record

__all__ = ["TIE_DEMO_VALUES", "TieSimulator"]

TIE_DEMO_VALUES = dict(DEMO_VALUES)
V1_PATHS = ("/api/v1/iocs-with-context", "/api/v1/iocs")
V2_PATH, V3_PATH = "/tie/v1/iocs", "/tie/v3/iocs"
PATHS = (*V1_PATHS, V2_PATH, V3_PATH)
#: the parameters the newer generations take (anything else is a 400, as a strict server's)
V2_PARAMETERS = frozenset(
    {"value", "ivalue", "exact", "data_type", "category", "source", "severity", "confidence"}
    | {"offset", "limit", "no_defaults", "filter", "order_by", "direction", "updated_at_since"}
)
V3_PARAMETERS = frozenset({"ioc", "limit", "next", "minConfidence", "ignore", "iocFeedSources"})
DATA_TYPES = {
    "DomainName",
    "IPv4",
    "IPv6",
    "URLVerbatim",
    "ExactHash",
    "EMail",
    "FileName",
    "SSDEEP",
    "PEHash",
    "IMPHash",
}
DEFAULTS = {
    "severity": "1-",
    "confidence": "60-",
    "category": "!parking,!sinkhole,!deleted,!potential-false-positive",
}
BOUNDS = {"severity": (0, 6), "confidence": (0, 100)}
DATE_FIELDS = ("first_seen", "last_seen", "created_at", "updated_at", "enriched_at")
_RANGE = re.compile(r"^(\d+)?(-)?(\d+)?$")


class BadParameter(ValueError):
    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"invalid parameter {name}: {why}")
        self.name = name


def _parse_time(text: Any) -> Optional[datetime]:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _range(name: str, text: str) -> tuple[Optional[int], Optional[int]]:
    match = _RANGE.match(text)
    if not text or not match or text == "-":
        raise BadParameter(name, f"{text!r} is not N, N-, N-M or -M")
    first, _dash, second = match.groups()
    low = int(first) if first is not None else None
    high = int(second) if second is not None else None
    lo_bound, hi_bound = BOUNDS[name]
    for value in (low, high):
        if value is not None and not lo_bound <= value <= hi_bound:
            raise BadParameter(name, f"{value} is outside {lo_bound}..{hi_bound}")
    if low is not None and high is not None and low > high:
        raise BadParameter(name, "range is reversed")
    return low, high


def _in_range(value: Any, bounds: tuple[Optional[int], Optional[int]]) -> bool:
    if not isinstance(value, (int, float)):
        return False
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def _list(text: str) -> tuple[set[str], set[str]]:
    wanted, negated = set(), set()
    for item in (part.strip().lower() for part in text.split(",")):
        if not item:
            continue
        (negated if item.startswith("!") else wanted).add(item.lstrip("!"))
    return wanted, negated


def _like(pattern: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in pattern.lower().split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.DOTALL)


def _contained_in(needle: str) -> Any:
    return lambda haystack: needle in haystack


def _rfc3339(text: Any) -> Any:
    moment = _parse_time(text)
    if moment is None:
        return text
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


class TieSimulator(SimulatorServer):
    """DCSO TIE on loopback over HTTPS: v1 takes ``Bearer {token}``, v2 and v3 take HTTP Basic
    ``{api_user}:{api_key}``."""

    def __init__(
        self,
        token: str = "demo-token",
        latency: float = 0.0,
        iocs: Optional[list[dict[str, Any]]] = None,
        verbose: bool = False,
        port: int = 0,
        api_user: str = "demo-user",
        api_key: str = "demo-key",
    ) -> None:
        self.token = token
        self.api_user = api_user
        self.api_key = api_key
        if iocs is None:
            iocs = json.loads(DATA_FILE.read_text(encoding="utf-8"))
        self.iocs = iocs
        super().__init__(port=port, latency=latency, verbose=verbose)

    def _authorised(self, request: RecordedRequest) -> bool:
        given = request.headers.get("authorization", "")
        if request.path in V1_PATHS:
            return given == f"Bearer {self.token}"
        pair = f"{self.api_user}:{self.api_key}".encode()
        return given == "Basic " + base64.b64encode(pair).decode()

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.path not in PATHS:
            return self.json_response(404, {"message": "not found"})
        if request.method != "GET":
            return self.json_response(405, {"message": "method not allowed"})
        if not self._authorised(request):
            return self.json_response(401, {"message": "invalid or missing credentials"})
        query = {k: v[-1] for k, v in request.query.items()}
        allowed = {V2_PATH: V2_PARAMETERS, V3_PATH: V3_PARAMETERS}.get(request.path)
        try:
            for name in query:
                if allowed is not None and name not in allowed:
                    raise BadParameter(name, "unknown parameter")
            if request.path == V3_PATH:
                return self._search_v3(query)
            return self._search(request.path, query)
        except BadParameter as exc:
            return self.json_response(400, {"message": str(exc), "errors": {exc.name: str(exc)}})

    def _search_v3(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        try:
            limit = int(query.get("limit", "1000"))
            offset = int(base64.urlsafe_b64decode(query["next"]).decode()) if "next" in query else 0
        except ValueError:
            raise BadParameter("next", "limit and next must be a number and a cursor") from None
        if not 1 <= limit <= 1000:
            raise BadParameter("limit", "must be 1..1000")
        minimum = None
        if "minConfidence" in query:
            if not query["minConfidence"].isdigit() or int(query["minConfidence"]) > 100:
                raise BadParameter("minConfidence", "must be a number 0..100")
            minimum = int(query["minConfidence"])
        wanted = query.get("ioc", "").lower()
        found = []
        for ioc in self.iocs:
            record = v3_record(ioc, ioc.get("observations") or [])
            if record is None or wanted not in record["ioc"].lower():
                continue
            if minimum is not None and (record["confidence"] or -1) < minimum:
                continue
            found.append(record)
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
        return self.json_response(200, {"results": page, "hasMore": more, "next": cursor})

    def _search(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        no_defaults = query.get("no_defaults", "false").lower() in ("true", "1")
        effective = dict(query)
        if not no_defaults:
            for name, value in DEFAULTS.items():
                effective.setdefault(name, value)
        exact = effective.get("exact", "false").lower()
        if exact not in ("true", "false", "1", "0"):
            raise BadParameter("exact", f"{exact!r} is not a boolean")
        data_type = effective.get("data_type")
        if data_type and data_type not in DATA_TYPES:
            raise BadParameter("data_type", f"unknown data type {data_type!r}")
        ranges = {n: _range(n, effective[n]) for n in BOUNDS if effective.get(n)}
        lists = {n: _list(effective[n]) for n in ("category", "family", "actor") if n in effective}
        if path == V2_PATH:
            effective.setdefault("date_format", "rfc3339")
        since = None
        if effective.get("last_seen_since"):
            text = effective["last_seen_since"]
            try:
                since = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise BadParameter("last_seen_since", f"{text!r} is not a date") from None
            since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        try:
            limit = int(effective.get("limit", "50"))
            offset = int(effective.get("offset", "0"))
        except ValueError:
            raise BadParameter("limit", "limit and offset must be integers") from None
        if not 1 <= limit <= 1000:
            raise BadParameter("limit", "must be 1..1000")
        if offset < 0:
            raise BadParameter("offset", "must be >= 0")
        value = effective.get("value")
        matcher = None
        if value:
            if "%" in value:
                matcher = _like(value).match
            elif exact in ("true", "1"):
                matcher = value.lower().__eq__
            else:
                matcher = _contained_in(value.lower())

        def observation_passes(obs: dict[str, Any]) -> bool:
            for name, bounds in ranges.items():
                if not _in_range(obs.get(name), bounds):
                    return False
            for name, (wanted, negated) in lists.items():
                have = {
                    str(x).lower()
                    for x in obs.get(
                        {"category": "categories", "family": "families", "actor": "actors"}[name]
                    )
                    or []
                }
                if (wanted and not have & wanted) or have & negated:
                    return False
            if since is not None:
                last = _parse_time(obs.get("last_seen"))
                if last is None or last < since:
                    return False
            return True

        found = []
        for ioc in self.iocs:
            if data_type and ioc.get("data_type") != data_type:
                continue
            if matcher and not matcher(str(ioc.get("value", "")).lower()):
                continue
            kept = [o for o in ioc.get("observations") or [] if observation_passes(o)]
            if not kept:
                continue
            found.append((ioc, kept))

        def latest(item: tuple[dict[str, Any], list[dict[str, Any]]]) -> tuple[float, str]:
            moments = [_parse_time(o.get("last_seen")) for o in item[1]]
            stamp = max((m.timestamp() for m in moments if m), default=0.0)
            return (-stamp, item[0]["id"])

        found.sort(key=latest)
        page = found[offset : offset + limit]
        has_more = offset + limit < len(found)
        rfc = effective.get("date_format") == "rfc3339"
        iocs = []
        for ioc, kept in page:
            if path == V2_PATH:
                iocs.append(v2_record(ioc, kept))
                continue
            if path == "/api/v1/iocs":
                iocs.append(legacy_record(ioc, kept))
                continue
            out = copy.deepcopy(ioc)
            out["observations"] = copy.deepcopy(kept)
            if rfc:
                for record in [out, *out.get("observations", [])]:
                    for name in DATE_FIELDS:
                        if name in record:
                            record[name] = _rfc3339(record[name])
            iocs.append(out)
        params = {
            **effective,
            "exact": exact in ("true", "1"),
            "limit": limit,
            "offset": offset,
            "no_defaults": no_defaults,
            "date_format": effective.get("date_format", "default"),
        }
        headers = {}
        if has_more:
            following = {**query, "offset": str(offset + limit)}
            headers["Link"] = f'<{self.base_url}{path}?{urlencode(following)}>; rel="next"'
        return self.json_response(
            200, {"iocs": iocs, "has_more": has_more, "params": params}, headers
        )
