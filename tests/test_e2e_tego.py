"""End to end: the `tqops` CLI against the Tego simulator over real HTTPS on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli import cli, flags, one_input
from tests.support.vendors import TEGO_LICENSE, tego_config


@pytest.fixture()
def sim(tego_sim):
    return tego_sim


def config(sim: Any, license_key: str = TEGO_LICENSE) -> list[str]:
    return flags("--config", tego_config(sim, license_key))


def search(sim: Any, capsys: Any, kind: str, value: str) -> tuple[int, str, str]:
    """``tqops run tego search`` of one input against ``sim``, in JSON."""
    return cli(*one_input("tego", kind, value), *config(sim), "--format", "json", capsys=capsys)


def attributes(indicator: dict[str, Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for attribute in indicator["attributes"]:
        grouped.setdefault(attribute["name"], []).append(attribute["value"])
    return grouped


def test_test_connection_passes_with_the_license_and_fails_clearly_without(sim, capsys):
    code, out, _ = cli(
        "test-connection", "tego", *config(sim), "--config", "verify_ssl=false", capsys=capsys
    )
    assert code == 0 and out.startswith("OK Tego")
    assert sim.requests[-1].path == "/api/Main/get/1"
    assert sim.requests[-1].headers["license"] == TEGO_LICENSE
    wrong = "not-the-license-0000"
    code, out, err = cli("test-connection", "tego", *config(sim, wrong), capsys=capsys)
    assert code == 1
    assert out.count("\n") == 1 and "rejected the license key (HTTP 401" in out
    assert wrong not in out + err and TEGO_LICENSE not in out + err


def test_ip_lookup_maps_geolocation_reputation_and_each_comment(sim, capsys):
    code, out, _ = search(sim, capsys, "IP Address", "8.8.8.8")
    assert code == 0
    (result,) = json.loads(out)["results"]
    (indicator,) = result["indicators"]
    assert (indicator["type"], indicator["value"]) == ("IP Address", "8.8.8.8")
    found = attributes(indicator)
    assert found["Country"] == ["United States"] and found["City"] == ["Mountain View"]
    assert found["ASN"] == ["AS15169"] and found["ISP"] == ["Google LLC"]
    assert found["Latitude"] == ["37.4056"] and found["Risk Level"] == ["Low"]
    assert found["Reputation Score"] == ["12"]
    assert found["Analyst Comment"] == [
        "Benign resolver; do not block.",
        "Seen as a DNS-over-HTTPS target in a malware config.",
    ]
    comment = next(a for a in indicator["attributes"] if a["name"] == "Analyst Comment")
    assert comment["published_at"] == "2024-01-05T09:00:00Z"
    (request,) = sim.requests
    assert request.query == {"type": ["ip"], "value": ["8.8.8.8"]}
    assert TEGO_LICENSE not in out


def test_hostname_is_searched_as_a_domain_and_comes_back_as_fqdn(sim, capsys):
    code, out, _ = search(sim, capsys, "Hostname", "login.paypa1-secure.com")
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert [(i["type"], i["value"]) for i in result["indicators"]] == [
        ("FQDN", "login.paypa1-secure.com")
    ]
    assert "Registrar" in attributes(result["indicators"][0])
    assert sim.requests[0].query["type"] == ["domain"]


@pytest.mark.parametrize(
    ("kind", "digest", "expected"),
    [
        ("MD5", "5d41402abc4b2a76b9719d911017c592", "MD5"),
        ("SHA-1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "SHA-1"),
        ("SHA-256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "SHA-256"),
    ],
)
def test_hash_type_comes_from_its_length(sim, capsys, kind, digest, expected):
    code, out, _ = search(sim, capsys, kind, digest.upper())
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert [(i["type"], i["value"]) for i in result["indicators"]] == [(expected, digest)]
    assert sim.requests[0].query == {"type": ["hash"], "value": [digest]}


@pytest.mark.parametrize(
    ("kind", "value", "status", "reason"),
    [
        # policy keeps these from Tego: skipped, with the reason
        ("IP Address", "10.1.2.3", "skipped", "private"),
        ("IP Address", "127.0.0.1", "skipped", "loopback"),
        ("IP Address", "169.254.1.1", "skipped", "link-local"),
        ("IP Address", "224.0.0.1", "skipped", "multicast"),
        ("IP Address", "240.0.0.1", "skipped", "reserved"),
        ("IP Address", "100.64.0.1", "skipped", "not a public"),
        ("Email Address", "a@example.com", "skipped", "does not take Email Address"),
        # a malformed value is the analyst's to fix: an error
        ("IP Address", "2001:4860:4860::8888", "error", "not a valid IPv4"),
        ("MD5", "d41d8cd98f00b204e9800998ecf8427", "error", "expected 32 hexadecimal"),
        ("SHA-1", "zzf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "error", "expected 40 hexadecimal"),
        ("FQDN", "not a domain", "error", "not a valid domain"),
        ("Hostname", "exa_mple..com", "error", "not a valid hostname"),
    ],
)
def test_what_tego_cannot_look_up_is_refused_and_nothing_is_sent(
    sim, capsys, kind, value, status, reason
):
    code, out, _ = search(sim, capsys, kind, value)
    assert code == (1 if status == "error" else 0)  # a skip alone is no failure
    (result,) = json.loads(out)["results"]
    told = result["error"] if status == "error" else result["reason"]
    assert result["status"] == status and reason in told
    assert "\n" not in told
    assert sim.requests == []


def test_unknown_value_is_no_results_not_an_error(sim, capsys):
    code, out, _ = search(sim, capsys, "FQDN", "unknown-site.org")
    assert code == 0
    (result,) = json.loads(out)["results"]
    assert result["status"] == "no_results" and result["indicators"] == []


def test_a_404_and_an_empty_body_are_no_results(sim, capsys):
    sim.enqueue_faults(404)
    code, out, _ = search(sim, capsys, "FQDN", "paypa1-secure.com")
    assert code == 0 and json.loads(out)["results"][0]["status"] == "no_results"
