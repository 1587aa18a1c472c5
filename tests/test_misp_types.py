"""MISP's attribute types as MISP checks them (its AttributeValidationTool's rules): which values
each type takes, as what MISP stores them, and which types a found indicator is offered under.
Where pymisp is installed, its port of MISP's validation is the second opinion on every case."""

from __future__ import annotations

import pytest

from tqops.exports.misp_types import attribute_types, misp_types_for, misp_value

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#: (type, value given, value MISP stores, or None: MISP refuses it)
CASES = [
    ("domain", "www.microsoft.com", "www.microsoft.com"),
    ("domain", "Mail1.Evil-CDN.com.", "mail1.evil-cdn.com"),
    ("domain", "  evil.example  ", "evil.example"),
    ("domain", "bücher.example", "xn--bcher-kva.example"),
    ("domain", "under_score.example", "under_score.example"),
    ("domain", "www.microsoft.com/software-download.trillium.cam", None),
    ("domain", "*.evil.example", None),
    ("domain", "evil.example:8080", None),
    ("domain", "localhost", None),
    ("domain", "evil.c", None),
    ("domain", "evil.example\nother.example", None),
    ("hostname", "MAIL.Evil.example", "mail.evil.example"),
    ("hostname", "www.microsoft.com/software-download.trillium.cam", None),
    ("ip-src", "8.8.8.8", "8.8.8.8"),
    ("ip-dst", "2001:0db8:0000::0001", "2001:db8::1"),
    ("ip-dst", "203.0.113.0/24", "203.0.113.0/24"),
    ("ip-dst", "203.0.113.7/32", "203.0.113.7"),
    ("ip-dst", "2001:db8::1/128", "2001:db8::1"),
    ("ip-dst", "203.0.113.0/33", None),
    ("ip-dst", "203.0.113.0/x", None),
    ("ip-dst", "256.1.1.1", None),
    ("ip-dst", "01.2.3.4", None),
    ("ip-dst", "evil.example", None),
    ("md5", MD5.upper(), MD5),
    ("md5", MD5[:-1], None),
    ("md5", MD5[:-1] + "g", None),
    ("sha1", SHA1, SHA1),
    ("sha1", MD5, None),
    ("sha256", SHA256, SHA256),
    ("sha256", SHA1, None),
    ("email-src", "Billing@Evil.example", "billing@evil.example"),
    ("email-dst", "billing@localhost", None),
    ("email", "no at sign.example", None),
    ("AS", "AS15169", "15169"),
    ("AS", "as15169", "15169"),
    ("AS", "15169", "15169"),
    ("AS", "1.10", "65546"),
    ("AS", "4294967296", None),
    ("AS", "ASN15169", None),
    ("url", "www.microsoft.com/software-download.trillium.cam",
     "www.microsoft.com/software-download.trillium.cam"),
    ("url", "http://evil.example/a\nb", None),
    ("filename", "invoice.pdf.exe", "invoice.pdf.exe"),
    ("filename", "two\nlines.exe", None),
    ("ssdeep", "96:cd1c399d142ab8942f37:64589a336a9f", "96:cd1c399d142ab8942f37:64589a336a9f"),
    ("ssdeep", "cd1c399d142ab8942f37", None),
    ("text", "anything\nat all", "anything\nat all"),
    ("text", "   ", None),
    ("mutex", "Global\\x", "Global\\x"),
    ("no-such-type", "x", None),
]  # fmt: skip


@pytest.mark.parametrize(("misp_type", "value", "stored"), CASES)
def test_a_value_is_taken_as_misp_stores_it_or_refused_as_misp_refuses_it(misp_type, value, stored):
    assert misp_value(misp_type, value) == stored


@pytest.mark.parametrize(("misp_type", "value", "stored"), CASES)
def test_pymisps_port_of_misps_validation_agrees(misp_type, value, stored):
    tools = pytest.importorskip("pymisp.tools", reason="pymisp needs Python 3.10")
    check = tools.AttributeValidationTool
    if misp_type == "no-such-type" or not value.strip():
        return  # MISP raises on an unknown type; an empty value never reaches validate
    modified = check.modifyBeforeValidation(misp_type, value)
    assert (check.validate(misp_type, modified) is True) == (stored is not None)
    if stored is not None:  # what we offer passes as it is, with no change left for MISP
        assert check.validate(misp_type, stored) is True
        assert check.modifyBeforeValidation(misp_type, stored) == stored


def test_the_types_a_value_passes_keep_the_candidates_order():
    assert misp_types_for("8.8.8.8", ["domain", "ip-dst", "ip-src", "ip-dst"]) == [
        "ip-dst",
        "ip-src",
    ]
    assert misp_types_for("evil.example", ["hostname", "domain", "url"]) == [
        "hostname",
        "domain",
        "url",
    ]
    assert misp_types_for("evil example", ["domain", "hostname"]) == []


@pytest.mark.parametrize(
    ("platform_type", "value", "prefer", "types"),
    [
        ("FQDN", "evil.example", None, ["domain", "hostname"]),
        ("FQDN", "evil.example", "hostname", ["hostname", "domain"]),
        ("Hostname", "evil.example", None, ["hostname", "domain"]),
        ("FQDN", "www.microsoft.com/software-download.trillium.cam", None, ["url"]),
        ("FQDN", "http://evil.example/x", "domain", ["url"]),
        ("Hostname", "203.0.113.7/gate.php", None, ["url"]),
        ("FQDN", "*.evil.example", None, []),
        ("FQDN", "/only/a/path", None, []),
        ("IP Address", "8.8.8.8", None, ["ip-dst", "ip-src"]),
        ("IP Address", "8.8.8.8", "ip-src", ["ip-src", "ip-dst"]),
        ("IP Address", "8.8.8.8/gate", None, []),  # a path makes a url only of a host name
        ("MD5", MD5, "md5", ["md5"]),
        ("MD5", SHA1, None, []),
        ("ASN", "AS15169", None, ["AS"]),
        ("Email Address", "a@evil.example", "email-src", ["email-src", "email", "email-dst"]),
        ("Some New Type", "anything", None, ["text"]),
    ],
)
def test_a_found_indicator_is_offered_only_under_the_types_it_passes(
    platform_type, value, prefer, types
):
    assert attribute_types(platform_type, value, prefer) == types


#: one value each MISP type the host offers takes
SAMPLES = {
    "ip-src": "192.0.2.1", "ip-dst": "2001:db8::1", "domain": "evil.example",
    "hostname": "www.evil.example", "url": "http://evil.example/x", "email": "a@evil.example",
    "email-src": "a@evil.example", "email-dst": "a@evil.example", "md5": MD5, "sha1": SHA1,
    "sha256": SHA256, "sha512": SHA256 * 2, "filename": "x.exe", "AS": "15169",
    "user-agent": "curl/8.0", "regkey": "HKLM\\Software\\x", "email-subject": "Invoice",
    "mutex": "Global\\m", "ssdeep": "3:a:b", "text": "words",
}  # fmt: skip


def test_every_misp_type_the_platform_types_name_is_checked_and_has_its_category():
    from tqops.exports.misp_types import MISP_CATEGORIES
    from tqops.server.api.common import MISP_TYPES

    named = {t for types in MISP_TYPES.values() for t in types} | {"url", "text"}
    assert named == set(SAMPLES)  # a type with no check would never be offered
    for misp_type in named:
        assert misp_types_for(SAMPLES[misp_type], [misp_type]) == [misp_type]
    assert named <= set(MISP_CATEGORIES)
    pymisp = pytest.importorskip("pymisp", reason="pymisp needs Python 3.10")
    defaults = pymisp.AbstractMISP().describe_types["sane_defaults"]
    for misp_type, category in MISP_CATEGORIES.items():
        assert defaults[misp_type]["default_category"] == category, misp_type
