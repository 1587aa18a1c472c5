"""What DCSO TIE's own samples map to, read from their golden files (``tests/test_golden.py``
keeps those equal to the mapping): the guide's table, and the values, types and dates of the
sample that holds every indicator type."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_guide_sample_maps_as_the_guide_says():
    golden = json.loads((FIXTURES / "dcso_tie" / "guide_sample.expected.json").read_text())
    by_value = {i["value"]: i for i in golden["indicators"]}
    sample = by_value["www.microsoft.com.msonlinemicrosoft.com"]
    assert (sample["type"], sample["published_at"]) == ("FQDN", "2020-03-16T14:56:56Z")
    assert [(a["name"], a["value"]) for a in sample["attributes"]] == [
        ("Hotness", "0.0"),
        ("Gamma", "3.85e-06"),
        ("Severity", "2"),
        ("Confidence", "80"),
        ("First Seen", "2020-03-16T14:56:56Z"),
        ("Last Seen", "2020-03-16T14:56:56Z"),
        # beyond the guide's rows: the observation's event attributes and source
        (
            "info",
            "Suspicious code signing certificate: 467cd9d2432a26496bea2ae6d90c36cfe34c99d9",
        ),
        ("misp-uuid", "5e6f7a14-2fc0-4248-8d09-0250ac12042b"),
        ("Source Pseudonym", "a9f4058d"),
    ]
    other = by_value["www.microsoft.com/software-download.trillium.cam"]
    names = [(a["name"], a["value"]) for a in other["attributes"]]
    assert ("Categories", "c2-server") in names and ("Malware Family", "guload") in names
    assert names.count(("threattype", "criminal")) == 1 and ("threattype", "downloader") in names
    assert all(a["published_at"] == "2020-05-26T02:37:55Z" for a in other["attributes"])


def test_all_types_fixture_normalises_values_types_and_dates():
    golden = json.loads((FIXTURES / "dcso_tie" / "types_rfc3339.expected.json").read_text())
    got = {(i["type"], i["value"]) for i in golden["indicators"]}
    assert got == {
        ("IP Address", "198.51.100.23"),
        ("IPv6 Address", "2001:db8::beef"),
        ("MD5", "5d41402abc4b2a76b9719d911017c592"),
        ("SHA-1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ("SHA-256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
        ("Email Address", "billing@paypa1-secure.com"),
        ("Filename", "invoice_2024.pdf.exe"),
        ("URL", "http://paypa1-secure.com/login.php?id=1"),
        ("Fuzzy Hash", "96:abcdefabcdefabcdefab:0123456789ab"),
        ("FQDN", "*.microsoftonline-secure.net"),
    }
    assert any("PEHash" in w for w in golden["warnings"])
    ip = next(i for i in golden["indicators"] if i["type"] == "IP Address")
    assert ip["published_at"] == "2023-01-15T06:00:00Z"  # +02:00 read as UTC, the earliest
    assert {
        "name": "Last Seen",
        "value": "2023-03-01T10:00:00Z",
        "published_at": "2023-02-01T10:00:00Z",
    } in ip["attributes"]
    assert golden["threatq"][0]["published_at"] == "2023-01-15 06:00:00"
