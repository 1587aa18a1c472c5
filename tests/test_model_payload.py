"""The threatqsdk-compatible object model and ThreatQ's consume payload."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from tqops import Attribute, Indicator, IndicatorType, InputError, Source


def test_consume_payload_names_type_and_status_and_formats_dates_in_utc():
    cet = timezone(timedelta(hours=1))
    indicator = Indicator(
        value="www.example.com",
        type="FQDN",
        published_at=datetime(2020, 3, 16, 15, 56, 56, 123, tzinfo=cet),
        attributes=[
            Attribute("Severity", "2", datetime(2020, 3, 16, 14, 0, tzinfo=timezone.utc)),
            Attribute("Note", "x"),
        ],
        sources=[Source("DCSO TIE", "AMBER")],
    )
    assert indicator.to_threatq() == {
        "value": "www.example.com",
        "type": {"name": "FQDN"},
        "status": {"name": "Active"},
        "published_at": "2020-03-16 14:56:56",
        "attributes": [
            {"name": "Severity", "value": "2", "published_at": "2020-03-16 14:00:00"},
            {"name": "Note", "value": "x"},
        ],
        "sources": [{"name": "DCSO TIE", "tlp": {"name": "AMBER"}}],
    }
    assert indicator.to_dict()["published_at"] == "2020-03-16T14:56:56Z"


def test_types_are_found_by_name_case_insensitively():
    assert IndicatorType.from_name("Ip Address") is IndicatorType.IP_ADDRESS
    assert IndicatorType.from_name(" sha-256 ") is IndicatorType.SHA256
    with pytest.raises(InputError, match="unknown indicator type 'IP'; expected one of: ASN"):
        IndicatorType.from_name("IP")


def test_objects_are_frozen_values():
    attribute = Attribute("a", "b")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        attribute.value = "c"  # type: ignore[misc]
    assert Attribute("a", "b") == attribute and hash(Attribute("a", "b")) == hash(attribute)
