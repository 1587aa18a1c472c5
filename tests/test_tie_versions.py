"""DCSO TIE's three API generations, one layer at a time: configuration and options per
version, the query, authentication and paging of v2 and v3 (`responses`), and the mapping of
each record shape (the samples in dcso_tie_operation/samples/ and samples/<version>/)."""

from __future__ import annotations

import base64
import io
import json

import pytest
import responses
import yaml
from responses import matchers

from dcso_tie_operation import OPERATION as TIE
from dcso_tie_operation.client import GENERATIONS, PAGE_SIZE, TieClient
from tqops import (
    ApiError,
    BasicAuth,
    ConfigError,
    Indicator,
    InputError,
    Notice,
    validate_options,
)
from tqops.cli import main
from tqops.operations.vendor import auth_spec

SAMPLES = TIE.package_dir / "samples"
HOST = "api.tie.example.test"
USER, KEY = "idm-client-4f1e", "idm-secret-9c2d7a"
BASIC = "Basic " + base64.b64encode(f"{USER}:{KEY}".encode()).decode()
SHA256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def config(version: str, **extra: str) -> dict[str, str]:
    base = {"api_version": version, "hostname": HOST, "api_user": USER, "api_key": KEY}
    return {**base, **extra}


def search(version: str, kind: str, value: str, **options: str) -> list[object]:
    configured = TIE.configure(config(version))
    spec = TIE.manifest.action("search")
    variant = spec.variant(version)
    checked = validate_options(
        spec.options, options, spec.label, configured.config, variant.value_parameter
    )
    return list(configured.client.search_iocs(Indicator(value, kind), checked))


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


# -- configuration and options per version ---------------------------------------------------


@pytest.mark.parametrize(
    ("version", "host"), [("v1", "tie.dcso.de"), ("v2", "api.dcso.de"), ("v3", "api.dcso.de")]
)
def test_each_version_has_its_own_default_host(version, host):
    raw = {"api_version": version, "access_token": "t", "api_user": USER, "api_key": KEY}
    with TIE.configure(raw) as configured:
        assert configured.settings.base_url == f"https://{host}"
        assert configured.client.variant == version


def test_v1_stays_the_default_and_needs_no_api_user_or_key():
    resolved = TIE.resolve_config({"access_token": "t"})
    assert resolved.variant == "v1" and resolved["api_key"] is None
    assert auth_spec(TIE.manifest, resolved).scheme == "bearer"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"api_version": "v3", "api_user": USER}, "API Key is required with API Version v3"),
        ({"api_version": "v2", "api_key": KEY}, "API User is required with API Version v2"),
        ({"api_version": "v1"}, "Access Token is required with API Version v1"),
        ({"api_version": "v4", "access_token": "t"}, "API Version expected one of v1, v2, v3"),
    ],
)
def test_a_missing_credential_names_the_field_and_the_version(raw, problem):
    with pytest.raises(ConfigError) as caught:
        TIE.resolve_config(raw)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_credential_of_another_version_is_neither_required_nor_used():
    resolved = TIE.resolve_config(config("v3", access_token="left-from-v1"))
    assert resolved["access_token"] is None and resolved.secrets() == (KEY,)
    spec = auth_spec(TIE.manifest, resolved)
    assert (spec.scheme, spec.user, spec.secret) == ("basic", "api_user", "api_key")
    stored = TIE.check_config(config("v3"))
    assert stored.secret_fields_set() == {"api_key": True}


@pytest.mark.parametrize(
    ("option", "value", "label", "version"),
    [
        ("last_seen_since", "2024-01-01", "Last Seen Since", "v3"),
        ("severity", "2-", "Severity", "v3"),
        ("wildcard_prefix", "yes", "Wildcard Prefix", "v3"),
        ("family", "emotet", "Family", "v2"),
        ("actor", "TA505", "Actor", "v2"),
    ],
)
def test_an_option_the_version_does_not_take_is_refused_before_anything_is_sent(
    option, value, label, version
):
    with TIE.configure(config(version)) as configured, pytest.raises(InputError) as caught:
        configured.run("search", {option: value}, [("FQDN", "example.com")])
    assert str(caught.value).endswith(
        f"{label} is not taken by API Version {version} @ $.options.{option}"
    )


def test_a_checkbox_left_off_is_harmless_where_it_is_not_taken():
    with TIE.configure(config("v3")) as configured:
        configured.run("search", {"wildcard_prefix": "false"}, [])  # no InputError


def test_v3_takes_confidence_as_a_minimum_only():
    spec = TIE.manifest.action("search")
    v3 = TIE.resolve_config(config("v3"))
    assert validate_options(spec.options, {"confidence": "70-"}, config=v3).parameters() == {
        "minConfidence": "70"
    }
    with pytest.raises(InputError, match=r"minimum only, got .70-90. @ \$\.options\.confidence"):
        validate_options(spec.options, {"confidence": "70-90"}, config=v3)
    v1 = TIE.resolve_config({"access_token": "t"})
    options = validate_options(spec.options, {"confidence": "70-90"}, config=v1)
    assert options.parameters() == {"confidence": "70-90"}


# -- v2: DCSO's 2023 TI engine ------------------------------------------------------------------

V2_URL = f"https://{HOST}{GENERATIONS['v2'].path}"


@responses.activate(assert_all_requests_are_fired=True)
def test_v2_sends_the_v1_family_with_basic_auth_and_follows_link_then_has_more():
    page = sample("v2/engine_2023.json")
    first = {**page, "iocs": page["iocs"][:2], "has_more": True}
    second = {**page, "iocs": page["iocs"][2:3], "has_more": True}
    third = {**page, "iocs": page["iocs"][3:], "has_more": False}
    query = {
        "value": f"md5:{'5d41402abc4b2a76b9719d911017c592'}",
        "exact": "false",
        "data_type": "ExactHash",
        "severity": "2-",
        "category": "malware-distribution",
        "limit": str(PAGE_SIZE),
    }
    auth = matchers.header_matcher({"Authorization": BASIC, "Accept": "application/json"})
    link = f'<{V2_URL}?page=2>; rel="next"'
    responses.get(
        V2_URL,
        json=first,
        headers={"Link": link},
        match=[auth, matchers.query_param_matcher(query)],
    )
    responses.get(V2_URL, json=second, match=[auth, matchers.query_param_matcher({"page": "2"})])
    responses.get(
        V2_URL,
        json=third,
        match=[auth, matchers.query_param_matcher({**query, "offset": "1"})],
    )
    pages = search(
        "v2",
        "MD5",
        "5d41402abc4b2a76b9719d911017c592",
        severity="2-",
        category="malware-distribution",
    )
    assert pages == [first, second, third]


# -- v3 ------------------------------------------------------------------------------------------

V3_URL = f"https://{HOST}{GENERATIONS['v3'].path}"


@responses.activate(assert_all_requests_are_fired=True)
def test_v3_looks_up_ioc_without_the_hash_prefix_and_follows_the_next_cursor():
    records = sample("v3/tie_v3_page.json")["results"]
    auth = matchers.header_matcher({"Authorization": BASIC})
    base = {"ioc": SHA256, "minConfidence": "80", "limit": str(PAGE_SIZE)}
    pages = [
        {"results": records[:2], "hasMore": True, "next": "c-1"},
        {"results": records[2:4], "hasMore": True, "next": "c-2"},
        {"results": records[4:5], "hasMore": False, "next": None},
    ]
    for cursor, body in zip([None, "c-1", "c-2"], pages):
        wanted = {**base, **({"next": cursor} if cursor else {})}
        responses.get(V3_URL, json=body, match=[auth, matchers.query_param_matcher(wanted)])
    assert search("v3", "SHA-256", SHA256, confidence="80") == pages


@responses.activate(assert_all_requests_are_fired=True)
def test_v3_stops_on_a_repeated_cursor_with_a_notice():
    body = {"results": [], "hasMore": True, "next": "same"}
    responses.get(V3_URL, json=body)
    found = search("v3", "FQDN", "x.example")
    assert found[:2] == [body, body] and isinstance(found[-1], Notice)
    assert "repeated a page" in found[-1].message and len(responses.calls) == 2


@responses.activate
def test_a_v1_envelope_from_a_v3_host_is_a_clear_error():
    responses.get(V3_URL, json=sample("guide_sample.json"))
    with pytest.raises(ApiError) as caught:
        search("v3", "FQDN", "www.microsoft.com")
    assert "expected an object with a 'results' list, got an object with keys has_more" in str(
        caught.value
    )


def test_the_client_speaks_exactly_the_manifest_versions_and_the_manifest_names_its_paths():
    field = TIE.manifest.variant_field
    assert set(field.choices) == TieClient.VARIANTS
    for variant in TIE.manifest.action("search").all_variants():
        assert variant.endpoint.endswith(GENERATIONS[variant.key].path)
    assert repr(BasicAuth(USER, KEY)) == f"BasicAuth('{USER}', '********')"


# -- mapping each record shape -------------------------------------------------------------------


def by_value(result) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for indicator in result.indicators:
        names = found.setdefault(indicator.value, {})
        for attribute in indicator.attributes:
            names.setdefault(attribute.name, []).append(attribute.value)
    return found


def test_a_legacy_page_maps_the_aggregates_with_dates_in_utc():
    result = TIE.map("search", [sample("legacy_iocs.json")])
    assert result.warnings == () and len(result.indicators) == 3
    domain = by_value(result)["login-verify-account.example.org"]
    assert domain["Severity"] == ["1", "3"] and domain["Confidence"] == ["60", "90"]
    assert domain["First Seen"] == ["2018-04-11T19:25:03Z"]
    assert domain["Last Seen"] == ["2018-05-22T18:23:03Z"]
    assert domain["Categories"] == ["c2-server", "phishing"]
    assert domain["Malware Family"] == ["locky"] and domain["Adversary"] == ["TA505"]
    assert domain["Occurrences"] == ["2"] and domain["dns-txt-entry"] == [
        "v=spf1 +a +mx +ip4:192.0.2.55 ~all"
    ]
    ip = next(i for i in result.indicators if i.value == "198.51.100.77")
    assert ip.published_at.isoformat() == "2019-08-21T06:38:40.383226+00:00"  # "8:38" +02:00


def test_a_v2_page_maps_severity_confidence_sources_and_event_attributes():
    result = TIE.map("search", [sample("v2/engine_2023.json")], config={"api_version": "v2"})
    md5 = by_value(result)["5d41402abc4b2a76b9719d911017c592"]
    assert md5["Severity"] == ["2", "3"] and md5["Feed Source"] == ["threatfox"]
    assert md5["info"] == ["ThreatFox IOCs for 2023-11-30", "-"]
    assert md5["misp-uuid"] == ["41c7a0e2-9b3d-4f58-a6e1-2c8d0f7b9e14"]


def test_a_v3_page_maps_every_known_type_with_tlp_and_warns_of_the_others():
    result = TIE.map("search", [sample("v3/tie_v3_page.json")], config={"api_version": "v3"})
    types = {i.type.value for i in result.indicators}
    assert {"File Path", "Mutex", "Registry Key", "User-agent", "IPv6 Address"} <= types
    assert result.warnings == (
        "unknown type 'domainPort' for 'c2.example.net:8443': no platform type is mapped to "
        "it; indicator skipped",
    )
    ip = next(i for i in result.indicators if i.value == "203.0.113.7")
    assert ip.sources[0].tlp == "AMBER"
    attributes = by_value(result)["203.0.113.7"]
    assert attributes["Adversary"] == ["Cotton Sandstorm"] and attributes["TLP"] == ["amber"]
    assert attributes["Confidence"] == ["70"]


def test_a_page_of_another_version_is_one_line_naming_what_was_expected_and_what_came():
    with pytest.raises(ApiError) as caught:
        TIE.map("search", [sample("v3/tie_v3_page.json")], config={"api_version": "v1"})
    assert str(caught.value) == (
        "DCSO TIE response does not fit API Version v1: expected an object with the list "
        "'iocs' (.iocs[]), got an object with keys hasMore, next, results"
    )
    with pytest.raises(ApiError, match="got an object whose 'results' is null"):
        TIE.map("search", [{"results": None}], config={"api_version": "v3"})


def test_an_empty_page_of_the_right_shape_is_no_results_not_an_error():
    empty = TIE.map("search", [{"results": [], "hasMore": False}], config={"api_version": "v3"})
    assert empty.indicators == () and empty.warnings == ()


def test_offline_mapping_checks_only_the_version_field():
    with pytest.raises(ConfigError, match="unknown field 'api_verison'"):
        TIE.map("search", [], config={"api_verison": "v3"})
    mapped = TIE.map("search", [], config={"api_version": "v3", "hostname": "not checked"})
    assert mapped.records == 0


def test_fields_required_only_with_another_version_ask_nothing_of_an_upgrading_admin(tmp_path):
    manifest = TIE.package_dir / "dcso_tie.yaml"
    raw = yaml.safe_load(manifest.read_text())
    raw["config"] = [f for f in raw["config"] if f["name"] not in ("api_user", "api_key")]
    raw["auth"] = raw["auth"][:1]
    raw["version"] = "1.0.9"
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = io.StringIO()
    assert main(["upgrade-check", str(old), str(manifest)], out=out) == 0
    assert "config field 'api_key' added (required with API Version v2, v3 only)" in (
        out.getvalue()
    )
