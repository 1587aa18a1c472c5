"""Golden mapping tests: each sample response maps to its committed expected JSON.

The samples are the operations' own (package data, ``<package>/samples/*.json``: the guide's
examples come from them); their golden files are ``tests/fixtures/<name>/*.expected.json``.
A sample in ``samples/<variant>/`` is a response of that API generation (DCSO TIE's ``v2``,
``v3``) and is mapped with that variant's table.

Regenerate after a deliberate mapping change: UPDATE_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tqops import discover_operations

FIXTURES = Path(__file__).parent / "fixtures"
OPERATIONS = discover_operations()
CASES = sorted(
    (name, path)
    for name in OPERATIONS
    for path in (OPERATIONS[name].package_dir / "samples").glob("**/*.json")
)


def config_of(name: str, fixture: Path) -> dict[str, str]:
    """The configuration a sample is mapped with: its folder names its variant."""
    field = OPERATIONS[name].manifest.variant_field
    folder = fixture.parent.name
    return {field.name: folder} if field is not None and folder in field.choices else {}


@pytest.mark.parametrize(("name", "fixture"), CASES, ids=[p.name for _, p in CASES])
def test_fixture_maps_to_its_golden_output(name, fixture):
    config = config_of(name, fixture)
    result = OPERATIONS[name].map("search", [json.loads(fixture.read_text())], config=config)
    actual = {
        "indicators": [i.to_dict() for i in result.indicators],
        "warnings": list(result.warnings),
        "threatq": [i.to_threatq() for i in result.indicators[:1]],
    }
    golden = FIXTURES / name / f"{fixture.stem}.expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == json.loads(golden.read_text())


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
