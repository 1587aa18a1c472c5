"""A loopback fake of the Tego Threat Feed API as we assume it (docs/tego.md lists what is
assumed): the ``license`` header, ``GET /api/Main/search?type=&value=`` returning a JSON array
of camelCase records (``[]`` when unknown), and ``GET /api/Main/get/{n}`` (the feed's pages).
The data set: public IPs with geolocation and ASN, domains with registrar and comments,
URLs, and hashes of all three lengths.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from ._server import RecordedRequest, SimulatorServer

__all__ = ["TEGO_DEMO_VALUES", "TegoSimulator", "build_records"]

TEGO_DEMO_VALUES = {
    "IP Address": "8.8.8.8",
    "Hostname": "login.paypa1-secure.com",
    "FQDN": "paypa1-secure.com",
    "SHA-1": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
}
PAGE = 50
_PLACES = [
    (
        "United States",
        "California",
        "Mountain View",
        37.4056,
        -122.0775,
        "AS15169",
        "GOOGLE",
        "Google LLC",
    ),
    (
        "Germany",
        "Hesse",
        "Frankfurt am Main",
        50.1109,
        8.6821,
        "AS24940",
        "HETZNER-AS",
        "Hetzner Online GmbH",
    ),
    (
        "Netherlands",
        "North Holland",
        "Amsterdam",
        52.3676,
        4.9041,
        "AS60781",
        "LEASEWEB-NL",
        "LeaseWeb Netherlands B.V.",
    ),
    ("Russia", "Moscow", "Moscow", 55.7558, 37.6173, "AS49505", "SELECTEL", "Selectel LLC"),
    (
        "Singapore",
        "Singapore",
        "Singapore",
        1.3521,
        103.8198,
        "AS14061",
        "DIGITALOCEAN-ASN",
        "DigitalOcean, LLC",
    ),
]
_RISK = ["Low", "Medium", "High", "Critical"]
#: the Reputation Score band of each Risk Level, so a record's two measures agree (0-100,
#: higher is worse, as the operation reads it)
_BANDS = {"Low": (0, 29), "Medium": (30, 59), "High": (60, 89), "Critical": (90, 100)}
_FAMILIES = ["emotet", "qakbot", "agenttesla", "redline", "lokibot", None]
_THREATS = ["phishing", "c2", "malware-distribution", "scanner", "infrastructure"]
_REGISTRARS = ["NameCheap, Inc.", "GoDaddy.com, LLC", "REG.RU LLC", "Tucows Domains Inc."]
_COMMENTS = [
    "Observed in a credential phishing kit.",
    "Hosts a fake login page for a payment brand.",
    "Beaconing seen from two customer networks.",
    "Benign resolver; do not block.",
    "Linked to a loader campaign in the last quarter.",
    "Sinkholed since last month.",
]


def _time(rng: random.Random) -> datetime:
    start = datetime(2021, 1, 1, tzinfo=timezone.utc)
    return start + timedelta(seconds=rng.randrange(0, 5 * 365 * 86400))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _score(risk: str, draw: int) -> int:
    """A 0-100 draw placed in the Risk Level's band (one draw, as before the bands)."""
    low, high = _BANDS[risk]
    return low + draw * (high - low) // 100


def _record(rng: random.Random, kind: str, value: str) -> dict[str, Any]:
    first = _time(rng)
    place = rng.choice(_PLACES)
    risk = rng.choice(_RISK)
    record: dict[str, Any] = {
        "token": value,
        "type": kind,
        kind: value,
        "riskLevel": risk,
        "description": f"{kind.upper()} indicator tracked by Tego threat research.",
        "firstSeen": _stamp(first),
        "lastOnline": _stamp(first + timedelta(days=rng.randint(0, 400))),
        "firstEnrichedOn": _stamp(first + timedelta(minutes=5)),
        "createdOn": _stamp(first),
        "reputation": {"score": _score(risk, rng.randint(0, 100)), "provider": "Tego"},
        "comments": [
            {
                "comment": text,
                "author": f"analyst{rng.randint(1, 9)}",
                "createdOn": _stamp(first + timedelta(days=rng.randint(1, 200))),
            }
            for text in rng.sample(_COMMENTS, rng.randint(0, 3))
        ],
        "tags": rng.sample(
            ["phishing", "c2", "loader", "tor", "vpn", "scanner"], rng.randint(0, 3)
        ),
        "malwareFamily": rng.choice(_FAMILIES),
        "threatType": rng.choice(_THREATS),
    }
    if kind in ("ip", "domain", "url"):
        country, region, city, lat, lon, asn, org, isp = place
        record.update(
            {
                "country": country,
                "region": region,
                "city": city,
                "latitude": lat,
                "longitude": lon,
                "asn": asn,
                "asnOrg": org,
                "isp": isp,
            }
        )
    if kind == "ip":
        record["reverseDns"] = f"host-{value.replace('.', '-')}.example.net"
    if kind == "domain":
        record["registrar"] = rng.choice(_REGISTRARS)
        record["creationDate"] = _stamp(first - timedelta(days=rng.randint(1, 900)))
        record["ip"] = f"185.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return record


def build_records(seed: int = 2023) -> list[dict[str, Any]]:
    """The data set, deterministic for a seed."""
    rng = random.Random(seed)
    records = []
    google = _record(rng, "ip", "8.8.8.8")
    google.update(
        {
            "country": "United States",
            "region": "California",
            "city": "Mountain View",
            "latitude": 37.4056,
            "longitude": -122.0775,
            "asn": "AS15169",
            "asnOrg": "GOOGLE",
            "isp": "Google LLC",
            "riskLevel": "Low",
            "reputation": {"score": 12, "provider": "Tego"},
            "comments": [
                {
                    "comment": "Benign resolver; do not block.",
                    "author": "analyst1",
                    "createdOn": "2024-01-05T09:00:00Z",
                },
                {
                    "comment": "Seen as a DNS-over-HTTPS target in a malware config.",
                    "author": "analyst2",
                    "createdOn": "2025-06-01T12:30:00Z",
                },
            ],
        }
    )
    records.append(google)
    for _ in range(40):
        octets = (
            rng.choice([45, 91, 185, 193]),
            rng.randint(0, 255),
            rng.randint(0, 255),
            rng.randint(1, 254),
        )
        records.append(_record(rng, "ip", ".".join(map(str, octets))))
    for name in (
        "paypa1-secure.com",
        "login.paypa1-secure.com",
        "microsoft-support.xyz",
        "update-flash-player.top",
        "dhl-parcel-track.info",
    ):
        records.append(_record(rng, "domain", name))
    for _ in range(25):
        word = rng.choice(["secure", "login", "verify", "account", "cdn"])
        records.append(_record(rng, "domain", f"{word}-{rng.getrandbits(20):05x}.com"))
    for _ in range(10):
        host = rng.choice(["paypa1-secure.com", "cdn-x.top"])
        path = rng.choice(["login.php", "gate.php", "dl/a.bin"])
        records.append(_record(rng, "url", f"http://{host}/{path}?id={rng.randint(1, 99)}"))
    hashes = [
        "5d41402abc4b2a76b9719d911017c592",
        "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    ]
    for length in (32, 40, 64):
        hashes += ["".join(rng.choice("0123456789abcdef") for _ in range(length)) for _ in range(8)]
    for digest in hashes:
        records.append(_record(rng, "hash", digest))
    return records


class TegoSimulator(SimulatorServer):
    """Tego on loopback over HTTPS."""

    def __init__(
        self,
        token: str = "demo-license",
        latency: float = 0.0,
        records: Optional[list[dict[str, Any]]] = None,
        verbose: bool = False,
        port: int = 0,
    ) -> None:
        self.token = token
        self.records = build_records() if records is None else records
        self._index = {(r["type"], str(r.get(r["type"], "")).lower()): r for r in self.records}
        super().__init__(port=port, latency=latency, verbose=verbose)

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if request.method != "GET":
            return self.json_response(405, {"message": "method not allowed"})
        if not request.path.startswith("/api/Main/"):
            return self.json_response(404, {"message": "not found"})
        if request.headers.get("license") != self.token:
            return self.json_response(401, {"message": "invalid license"})
        if request.path == "/api/Main/search":
            kind = (request.query.get("type") or [""])[-1]
            value = (request.query.get("value") or [""])[-1].strip().lower()
            if kind not in ("ip", "domain", "url", "hash") or not value:
                return self.json_response(400, {"message": "type and value are required"})
            record = self._index.get((kind, value))
            return self.json_response(200, [record] if record else [])
        if request.path.startswith("/api/Main/get/"):
            number = request.path.rsplit("/", 1)[-1]
            if not number.isdigit() or int(number) < 1:
                return self.json_response(400, {"message": "page must be a positive number"})
            start = (int(number) - 1) * PAGE
            return self.json_response(200, self.records[start : start + PAGE])
        return self.json_response(404, {"message": "not found"})
