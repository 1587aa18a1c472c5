"""Unit tests of one layer with `responses`: the HTTP session, TieClient and TegoClient.
Header and query matchers prove exactly what is sent; nothing reaches a network."""

from __future__ import annotations

import json

import pytest
import responses
import trustme
from responses import matchers

from dcso_tie_operation import OPERATION as TIE
from dcso_tie_operation.client import MAX_PAGES, PAGE_SIZE, SEARCH_PATH, TieClient
from tego_operation import OPERATION as TEGO
from tqops import (
    ApiError,
    AuthenticationError,
    HttpSettings,
    Indicator,
    InputError,
    Notice,
    validate_options,
)

# the operations' own sample responses (package data, the only copy)
SAMPLES = {"dcso_tie": TIE.package_dir / "samples", "tego": TEGO.package_dir / "samples"}
HOST = "tie.example.test"
URL = f"https://{HOST}{SEARCH_PATH}"
TOKEN = "unit-token-0d9e8f"
GUIDE = json.loads((SAMPLES["dcso_tie"] / "guide_sample.json").read_text())


def tie_client() -> TieClient:
    return TIE.configure({"hostname": HOST, "access_token": TOKEN}).client


def no_options():
    return validate_options(TIE.manifest.action("search").options, {})


def search(client: TieClient, kind: str, value: str, **options: str) -> list[object]:
    checked = validate_options(TIE.manifest.action("search").options, options)
    return list(client.search_iocs(Indicator(value, kind), checked))


@responses.activate(assert_all_requests_are_fired=True)
def test_guide_example_query_and_bearer_header():
    responses.get(
        URL,
        json=GUIDE,
        match=[
            matchers.header_matcher(
                {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
            ),
            matchers.query_param_matcher(
                {
                    "value": "www.microsoft.com",
                    "exact": "false",
                    "data_type": "DomainName",
                    "severity": "2-4",
                    "category": "phishing,c2-server",
                    "limit": str(PAGE_SIZE),
                }
            ),
        ],
    )
    pages = search(
        tie_client(), "FQDN", "www.microsoft.com", severity="2-4", category="phishing, c2-server"
    )
    assert pages == [GUIDE]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("IP Address", "203.0.113.7", {"value": "203.0.113.7", "data_type": "IPv4"}),
        ("IPv6 Address", "2001:db8::1", {"value": "2001:db8::1", "data_type": "IPv6"}),
        (
            "URL",
            "http://a.example/x?y=1&z=%20",
            {"value": "http://a.example/x?y=1&z=%20", "data_type": "URLVerbatim"},
        ),
        ("Email Address", "a@example.com", {"value": "a@example.com", "data_type": "EMail"}),
        ("Filename", "invoice.pdf.exe", {"value": "invoice.pdf.exe", "data_type": "FileName"}),
        (
            "MD5",
            "d41d8cd98f00b204e9800998ecf8427e",
            {"value": "md5:d41d8cd98f00b204e9800998ecf8427e", "data_type": "ExactHash"},
        ),
        ("SHA-1", "a" * 40, {"value": "sha1:" + "a" * 40, "data_type": "ExactHash"}),
        ("SHA-256", "b" * 64, {"value": "sha256:" + "b" * 64, "data_type": "ExactHash"}),
        ("ASN", "AS13335", {"value": "AS13335"}),
    ],
)
def test_each_type_becomes_its_tie_value_and_data_type(kind, value, expected):
    assert TieClient.build_query(Indicator(value, kind), no_options()) == {
        **expected,
        "exact": "false",
        "limit": str(PAGE_SIZE),
    }


def test_wildcards_and_every_option_become_parameters():
    options = validate_options(
        TIE.manifest.action("search").options,
        {
            "wildcard_prefix": "yes",
            "wildcard_suffix": "1",
            "confidence": "60-",
            "severity": "-3",
            "last_seen_since": "2024-02-29",
            "category": " !parking , c2-server",
            "family": "guload",
            "actor": "TA505,FIN7",
        },
    )
    query = TieClient.build_query(Indicator("microsoft.com", "FQDN"), options)
    assert query == {
        "value": "%microsoft.com%",
        "exact": "false",
        "data_type": "DomainName",
        "confidence": "60-",
        "severity": "-3",
        "last_seen_since": "2024-02-29",
        "category": "!parking,c2-server",
        "family": "guload",
        "actor": "TA505,FIN7",
        "limit": str(PAGE_SIZE),
    }


def test_a_percent_sign_in_a_value_is_refused_as_a_wildcard():
    with pytest.raises(InputError, match="Wildcard Prefix"):
        TieClient.build_query(Indicator("exa%mple.com", "FQDN"), no_options())


@responses.activate(assert_all_requests_are_fired=True)
def test_link_next_is_followed_across_three_pages():
    page = {"iocs": [{"value": "a.example"}], "has_more": True}
    second = f"{URL}?value=x&offset=500"
    third = f"{URL}?value=x&offset=1000"
    responses.get(
        URL,
        json=page,
        headers={"Link": f'<{second}>; rel="next"'},
        match=[
            matchers.query_param_matcher(
                {
                    "value": "x.example",
                    "exact": "false",
                    "data_type": "DomainName",
                    "limit": str(PAGE_SIZE),
                }
            )
        ],
    )
    responses.get(
        URL,
        json=page,
        headers={"Link": f'<{third}>; rel="next"'},
        match=[matchers.query_param_matcher({"value": "x", "offset": "500"})],
    )
    responses.get(
        URL,
        json={"iocs": [], "has_more": False},
        match=[matchers.query_param_matcher({"value": "x", "offset": "1000"})],
    )
    assert len(search(tie_client(), "FQDN", "x.example")) == 3


@responses.activate(assert_all_requests_are_fired=True)
def test_has_more_without_a_link_pages_by_offset():
    responses.get(
        URL,
        json={"iocs": [{"value": "a"}] * 3, "has_more": True},
        match=[
            matchers.query_param_matcher(
                {
                    "value": "x.example",
                    "exact": "false",
                    "data_type": "DomainName",
                    "limit": str(PAGE_SIZE),
                }
            )
        ],
    )
    responses.get(
        URL,
        json={"iocs": [{"value": "b"}], "has_more": False},
        match=[
            matchers.query_param_matcher(
                {
                    "value": "x.example",
                    "exact": "false",
                    "data_type": "DomainName",
                    "limit": str(PAGE_SIZE),
                    "offset": "3",
                }
            )
        ],
    )
    assert len(search(tie_client(), "FQDN", "x.example")) == 2


@responses.activate
def test_paging_stops_at_the_cap_with_a_notice():
    responses.get(URL, json={"iocs": [{"value": "a"}], "has_more": True})
    pages = search(tie_client(), "FQDN", "x.example")
    assert len(responses.calls) == MAX_PAGES
    assert isinstance(pages[-1], Notice) and "stopped after" in pages[-1].message


@responses.activate
def test_a_next_link_to_another_host_is_not_followed():
    responses.get(
        URL,
        json={"iocs": [], "has_more": True},
        headers={"Link": '<https://evil.example/steal>; rel="next"'},
    )
    with pytest.raises(ApiError, match="another origin"):
        search(tie_client(), "FQDN", "x.example")
    assert len(responses.calls) == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_rejected_token_is_reported_without_retry_and_without_the_token():
    responses.get(URL, status=401, json={"message": f"bad token {TOKEN}"})
    with pytest.raises(AuthenticationError) as caught:
        search(tie_client(), "FQDN", "x.example")
    message = str(caught.value)
    assert "rejected the access token (HTTP 401" in message
    assert TOKEN not in message and "?" not in message and "x.example" not in message
    assert "@ /api/v1/iocs-with-context" in message
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "retriable"), [(400, False), (404, False), (429, True), (500, True), (503, True)]
)
@responses.activate
def test_statuses_map_to_the_error_tree(status, retriable):
    responses.get(URL, status=status, json={"message": "nope"})
    with pytest.raises(ApiError) as caught:
        search(tie_client(), "FQDN", "x.example")
    assert caught.value.status == status and caught.value.retriable is retriable
    assert "\n" not in str(caught.value) and "nope" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>maintenance</html>", "not JSON"),
        ('{"foo": []}', "unexpected shape"),
        ("", "unexpected shape"),
    ],
)
@responses.activate
def test_unusable_bodies_are_clear_errors(body, expected):
    responses.get(URL, body=body, content_type="text/html" if "<" in body else "application/json")
    with pytest.raises(ApiError, match=expected):
        search(tie_client(), "FQDN", "x.example")


@responses.activate
def test_a_redirect_is_not_followed():
    responses.get(URL, status=302, headers={"Location": "https://other.example/"})
    with pytest.raises(ApiError, match="redirect"):
        search(tie_client(), "FQDN", "x.example")


def settings(config):
    return HttpSettings.from_config(config)


def test_settings_from_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))  # a PEM TLS can load (else: ConfigError)
    off = settings(TIE.resolve_config({"access_token": "t"}))
    assert off.base_url == "https://tie.dcso.de" and off.verify is True and off.proxies == {}
    assert off.timeout == 30.0
    on = settings(
        TIE.resolve_config(
            {"access_token": "t", "use_proxy": "yes", "ca_bundle": str(pem), "timeout": "5"}
        )
    )
    assert on.proxies.get("https") == "http://proxy.example:3128"
    assert on.verify == str(pem) and on.timeout == 5.0
    unverified = settings(
        TIE.resolve_config({"access_token": "t", "verify_ssl": "false", "ca_bundle": str(pem)})
    )
    assert unverified.verify is False
    monkeypatch.setenv("NO_PROXY", "tie.dcso.de")
    assert settings(TIE.resolve_config({"access_token": "t", "use_proxy": "1"})).proxies == {}


# --- Tego ------------------------------------------------------------------------------------

TEGO_HOST = "ti.example.test"
TEGO_SEARCH = f"https://{TEGO_HOST}/api/Main/search"
LICENSE = "tego-unit-license-1a2b"
TEGO_SAMPLE = json.loads((SAMPLES["tego"] / "ip_8.8.8.8.json").read_text())


def tego_client():
    return TEGO.configure({"hostname": TEGO_HOST, "license_key": LICENSE}).client


@responses.activate(assert_all_requests_are_fired=True)
def test_tego_sends_the_license_header_and_the_lookup_query():
    responses.get(
        TEGO_SEARCH,
        json=TEGO_SAMPLE,
        match=[
            matchers.header_matcher({"license": LICENSE}),
            matchers.query_param_matcher({"type": "ip", "value": "8.8.8.8"}),
        ],
    )
    assert list(tego_client().lookup(Indicator("8.8.8.8", "IP Address"))) == [TEGO_SAMPLE]
    assert "Authorization" not in responses.calls[0].request.headers


@pytest.mark.parametrize(
    ("kind", "value", "lookup"),
    [
        ("Hostname", "www.example.com", "domain"),
        ("FQDN", "example.com", "domain"),
        ("URL", "http://example.com/a", "url"),
        ("MD5", "a" * 32, "hash"),
        ("SHA-1", "a" * 40, "hash"),
        ("SHA-256", "a" * 64, "hash"),
    ],
)
def test_tego_lookup_types(kind, value, lookup):
    from tego_operation.client import TegoClient

    assert TegoClient.build_query(Indicator(value, kind)) == {"type": lookup, "value": value}


@pytest.mark.parametrize(("status", "body"), [(404, '{"message": "none"}'), (200, "[]"), (200, "")])
@responses.activate
def test_tego_no_data_forms_are_no_results(status, body):
    responses.get(TEGO_SEARCH, status=status, body=body, content_type="application/json")
    assert list(tego_client().lookup(Indicator("8.8.8.8", "IP Address"))) == []


@responses.activate
def test_tego_rejected_license_is_an_authentication_error():
    responses.get(f"https://{TEGO_HOST}/api/Main/get/1", status=403, json={"message": "denied"})
    with pytest.raises(AuthenticationError, match="rejected the license key"):
        tego_client().check_license()


@responses.activate
def test_tego_records_without_type_or_value_field_answer_the_lookup():
    responses.get(TEGO_SEARCH, json=[{"riskLevel": "High", "country": "Germany"}])
    (records,) = list(tego_client().lookup(Indicator("www.example.com", "Hostname")))
    assert records == [
        {"riskLevel": "High", "country": "Germany", "type": "domain", "domain": "www.example.com"}
    ]
    result = TEGO.map("search", [records])
    assert [(i.type.value, i.value) for i in result.indicators] == [("FQDN", "www.example.com")]
