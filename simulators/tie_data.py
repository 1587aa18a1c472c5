"""The TIE simulator's data set, generated deterministically.

Run ``python -m simulators.tie_data`` to rewrite ``simulators/data/tie_iocs.json``. About 300
IOCs across every data type TIE uses (and a few the client does not know), with both of TIE's
date forms, nulls here and there, the operation guide's two sample IOCs verbatim, and a family
of 120 ``*.evil-cdn.com`` domains for paging.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).parent / "data" / "tie_iocs.json"

#: values the demo and tests search for (platform type -> value)
DEMO_VALUES = {
    "FQDN": "www.microsoft.com",
    "IP Address": "203.0.113.7",
    "IPv6 Address": "2001:db8::dead:beef",
    "URL": "http://paypa1-secure.com/login.php?id=1",
    "Email Address": "billing@paypa1-secure.com",
    "MD5": "5d41402abc4b2a76b9719d911017c592",
    "SHA-1": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
    "SHA-256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "Filename": "invoice_2024.pdf.exe",
}

CATEGORIES = [
    "c2-server",
    "phishing",
    "malware-distribution",
    "botnet",
    "exploit-kit",
    "spam",
    "scanner",
]
HIDDEN = ["parking", "sinkhole", "potential-false-positive"]
FAMILIES = ["guload", "emotet", "qakbot", "trickbot", "cobaltstrike", "agenttesla", "formbook"]
ACTORS = ["APT28", "TA505", "FIN7", "Lazarus"]
THREATTYPES = ["criminal", "downloader", "banker", "stealer", "rat"]


def _guide_iocs() -> list[dict[str, Any]]:
    """The operation guide's sample IOCs, as the guide shows them."""
    return [
        {
            "enrichment_requested_at": None,
            "enrich": False,
            "observations": [
                {
                    "actors": [],
                    "severity": 1,
                    "created_at": "2020-05-26 03:03:26.304262+00:00",
                    "seq": 11039188892,
                    "entities": [],
                    "confidence": 90,
                    "id": "f91445a8-8874-4c5d-b6f3-c605cf281a2a",
                    "first_seen": "2020-05-26 02:37:55+00:00",
                    "categories": ["c2-server"],
                    "attributes": [
                        {"name": "killchain", "value": "c2"},
                        {"name": "maliciousconfidence", "value": "high"},
                        {"name": "threattype", "value": "criminal"},
                        {"name": "threattype", "value": "downloader"},
                        {"name": "malware", "value": "guload"},
                    ],
                    "families": ["guload"],
                    "updated_at": "2021-12-09 20:38:56.732630+00:00",
                    "event": {
                        "source": {"pseudonym": "322a92d8"},
                        "attributes": [],
                        "id": "f567bb45-7de8-4678-9d41-31afaa6781c9",
                    },
                    "last_seen": "2021-12-09 18:35:59+00:00",
                }
            ],
            "created_at": "2020-05-26 03:03:11.013208+00:00",
            "value": "www.microsoft.com/software-download.trillium.cam",
            "hotness": 0.0,
            "id": "18b2acfe-4e00-4168-a042-0a1616125451",
            "t_1": None,
            "data_type": "DomainName",
            "gamma": 3.85e-06,
            "a_1": None,
            "comment": None,
            "attributes": [],
            "updated_at": "2020-05-26 03:46:06.311661+00:00",
            "enriched_at": "2020-05-26 03:46:06.320990+00:00",
        },
        {
            "enrichment_requested_at": None,
            "enrich": False,
            "observations": [
                {
                    "actors": [],
                    "severity": 2,
                    "created_at": "2020-03-16 14:40:18.252615+00:00",
                    "seq": 7227070859,
                    "entities": [],
                    "confidence": 80,
                    "id": "ab80c10c-384f-4bbd-aee3-3c3e00965ef8",
                    "first_seen": "2020-03-16 14:56:56+00:00",
                    "categories": [],
                    "attributes": [],
                    "families": [],
                    "updated_at": "2020-03-16 16:10:20.096090+00:00",
                    "event": {
                        "source": {"pseudonym": "a9f4058d"},
                        "attributes": [
                            {
                                "name": "info",
                                "value": "Suspicious code signing certificate: "
                                "467cd9d2432a26496bea2ae6d90c36cfe34c99d9",
                            },
                            {"name": "misp-uuid", "value": "5e6f7a14-2fc0-4248-8d09-0250ac12042b"},
                        ],
                        "id": "57bc4f80-2b4f-4bcd-a06b-aaf3bfca8932",
                    },
                    "last_seen": "2020-03-16 14:56:56+00:00",
                }
            ],
            "created_at": "2020-03-16 14:40:18.017528+00:00",
            "value": "www.microsoft.com.msonlinemicrosoft.com",
            "hotness": 0.0,
            "id": "14ce5bc0-d97d-4f9c-8bd4-3f47a5824959",
            "t_1": None,
            "data_type": "DomainName",
            "gamma": 3.85e-06,
            "a_1": None,
            "comment": None,
            "attributes": [],
            "updated_at": "2020-03-16 15:07:25.382572+00:00",
            "enriched_at": "2020-03-16 15:07:25.391472+00:00",
        },
    ]


class _Maker:
    def __init__(self, seed: int = 2022) -> None:
        self.rng = random.Random(seed)
        self.seq = 7_000_000_000

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexstr(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    def moment(self) -> datetime:
        start = datetime(2019, 1, 1, tzinfo=timezone.utc)
        return start + timedelta(seconds=self.rng.randrange(0, 7 * 365 * 86400))

    @staticmethod
    def fmt(moment: datetime, rfc3339: bool, micro: bool) -> str:
        if rfc3339:
            return moment.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if micro else "") + "Z")
        return moment.strftime("%Y-%m-%d %H:%M:%S" + (".%f" if micro else "") + "+00:00")

    def observation(self, rfc3339: bool, visible: bool) -> dict[str, Any]:
        rng = self.rng
        first = self.moment()
        last = first + timedelta(seconds=rng.randrange(0, 400 * 86400))
        created = first + timedelta(seconds=rng.randrange(60, 7200))
        categories = rng.sample(CATEGORIES, rng.randint(0, 2))
        if not visible and rng.random() < 0.5:
            categories.append(rng.choice(HIDDEN))
        families = rng.sample(FAMILIES, rng.randint(0, 2))
        self.seq += rng.randrange(1000, 10_000_000)
        attributes = [
            {"name": "killchain", "value": rng.choice(["c2", "delivery", "exploit"])},
            {"name": "threattype", "value": rng.choice(THREATTYPES)},
        ]
        if families:
            attributes.append({"name": "malware", "value": families[0]})
        if rng.random() < 0.5:
            attributes.append(
                {"name": "maliciousconfidence", "value": rng.choice(["low", "medium", "high"])}
            )
        confidence: Any = rng.randint(60, 100) if visible else rng.randint(0, 100)
        if rng.random() < 0.03:
            confidence = None
        return {
            "actors": rng.sample(ACTORS, 1) if rng.random() < 0.25 else [],
            "severity": rng.randint(1, 6) if visible else rng.randint(0, 6),
            "created_at": self.fmt(created, rfc3339, True),
            "seq": self.seq,
            "entities": [],
            "confidence": confidence,
            "id": self.uuid(),
            "first_seen": self.fmt(first, rfc3339, False),
            "categories": categories,
            "attributes": attributes,
            "families": families,
            "updated_at": self.fmt(last + timedelta(hours=1), rfc3339, True),
            "event": {
                "source": {"pseudonym": self.hexstr(8)},
                "attributes": [{"name": "misp-uuid", "value": self.uuid()}],
                "id": self.uuid(),
            },
            "last_seen": None if rng.random() < 0.02 else self.fmt(last, rfc3339, False),
        }

    def ioc(self, value: str, data_type: str, visible: bool = True) -> dict[str, Any]:
        rng = self.rng
        rfc3339 = rng.random() < 0.5
        observations = [self.observation(rfc3339, visible) for _ in range(rng.randint(1, 5))]
        if visible:  # at least one observation passes the server's default filters
            observations[0]["severity"] = max(observations[0]["severity"], 2)
            observations[0]["confidence"] = max(observations[0]["confidence"] or 0, 70)
            observations[0]["categories"] = [
                c for c in observations[0]["categories"] if c not in HIDDEN
            ]
        created = self.moment()
        return {
            "enrichment_requested_at": None,
            "enrich": False,
            "observations": observations,
            "created_at": self.fmt(created, rfc3339, True),
            "value": value,
            "hotness": round(rng.random() * 3, 2),
            "id": self.uuid(),
            "t_1": None if rng.random() < 0.7 else round(rng.random(), 4),
            "data_type": data_type,
            "gamma": None if rng.random() < 0.1 else float(f"{rng.random() * 1e-4:.3g}"),
            "a_1": None,
            "comment": "seen in a phishing campaign" if rng.random() < 0.05 else None,
            "attributes": [],
            "updated_at": self.fmt(created + timedelta(days=1), rfc3339, True),
            "enriched_at": self.fmt(created + timedelta(days=1, seconds=9), rfc3339, True),
        }


def build() -> list[dict[str, Any]]:
    make = _Maker()
    rng = make.rng
    iocs = _guide_iocs()
    words = ["secure", "login", "update", "cdn", "mail", "portal", "account", "verify"]
    tlds = ["com", "net", "org", "info", "xyz", "top"]
    for index in range(120):  # paging family
        iocs.append(make.ioc(f"{rng.choice(words)}{index}.evil-cdn.com", "DomainName"))
    for look_alike in (
        "microsoft.com-update.info",
        "login.microsoft.com.verify-account.top",
        "microsoft-support.xyz",
        "*.microsoftonline-secure.net",
    ):
        iocs.append(make.ioc(look_alike, "DomainName"))
    iocs.append(make.ioc("www.microsoft.com.secure-login.top", "DomainName"))
    for _ in range(30):
        iocs.append(
            make.ioc(
                f"{rng.choice(words)}-{make.hexstr(5)}.{rng.choice(tlds)}",
                "DomainName",
                visible=rng.random() < 0.8,
            )
        )
    iocs.append(make.ioc(f"{DEMO_VALUES['IP Address']}/32", "IPv4"))
    for _ in range(40):
        octets = (
            rng.choice([45, 91, 185, 193, 198]),
            rng.randint(0, 255),
            rng.randint(0, 255),
            rng.randint(1, 254),
        )
        ip = ".".join(map(str, octets))
        iocs.append(make.ioc(f"{ip}/32", "IPv4", visible=rng.random() < 0.85))
    iocs.append(make.ioc(f"{DEMO_VALUES['IPv6 Address']}/128", "IPv6"))
    for _ in range(6):
        iocs.append(make.ioc(f"2001:db8:{make.hexstr(4)}::{make.hexstr(3)}/128", "IPv6"))
    iocs.append(make.ioc(DEMO_VALUES["URL"], "URLVerbatim"))
    for _ in range(20):
        iocs.append(
            make.ioc(
                f"http://{rng.choice(words)}-{make.hexstr(4)}.{rng.choice(tlds)}/"
                f"{rng.choice(['gate.php', 'login', 'dl/payload.bin'])}",
                "URLVerbatim",
            )
        )
    iocs.append(make.ioc(f"md5:{DEMO_VALUES['MD5']}", "ExactHash"))
    iocs.append(make.ioc(f"sha1:{DEMO_VALUES['SHA-1']}", "ExactHash"))
    iocs.append(make.ioc(f"sha256:{DEMO_VALUES['SHA-256']}", "ExactHash"))
    for algorithm, length in (("md5", 32), ("sha1", 40), ("sha256", 64)):
        for _ in range(12):
            iocs.append(make.ioc(f"{algorithm}:{make.hexstr(length)}", "ExactHash"))
    iocs.append(make.ioc(DEMO_VALUES["Email Address"], "EMail"))
    for _ in range(10):
        iocs.append(
            make.ioc(
                f"{rng.choice(['billing', 'hr', 'it', 'ceo'])}@"
                f"{rng.choice(words)}-{make.hexstr(4)}.com",
                "EMail",
            )
        )
    iocs.append(make.ioc(DEMO_VALUES["Filename"], "FileName"))
    for name in ("svchost32.exe", "update_flash.scr", "doc_8812.js", "payload.dll", "readme.hta"):
        iocs.append(make.ioc(name, "FileName"))
    for _ in range(3):
        iocs.append(make.ioc(f"96:{make.hexstr(20)}:{make.hexstr(12)}", "SSDEEP"))
        iocs.append(make.ioc(make.hexstr(40), "PEHash"))
        iocs.append(make.ioc(make.hexstr(32), "IMPHash"))
    return iocs


def main() -> None:
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    DATA_FILE.write_text(json.dumps(build(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {DATA_FILE}")


if __name__ == "__main__":
    main()
