"""The mapper's record-relative semantics (docs/manifest-reference.md, mapping tables), one rule
a test."""

from __future__ import annotations

from typing import Any, Union

import pytest

from tests.support.mapping_oracle import Interpreter
from tqops import Indicator, IndicatorType, ManifestError, Mapper, MappingSpec

ENGINE: dict[str, Union[type[Mapper], type[Interpreter]]] = {"class": Mapper}


@pytest.fixture(autouse=True, params=[Mapper, Interpreter], ids=["compiled", "interpreted"])
def _both_mappers(request):
    """Every rule holds for the compiled mapper and for the interpreter it is checked against."""
    ENGINE["class"] = request.param
    yield
    ENGINE["class"] = Mapper


def mapper(attributes: list[dict[str, Any]], **indicator: Any) -> Union[Mapper, Interpreter]:
    rule = {
        "path": ".iocs[].value",
        "type": {"path": ".iocs[].data_type", "table": {"DomainName": "FQDN"}},
        "published_at": [".iocs[].observations[].first_seen", ".iocs[].created_at"],
        **indicator,
    }
    spec = MappingSpec.from_dict({"indicator": rule, "attributes": attributes})
    return ENGINE["class"].compile(spec)


SEVERITY = {
    "name": "Severity",
    "path": ".iocs[].observations[].severity",
    "published_at": ".iocs[].observations[].first_seen",
}


def attrs_of(result: Any, value: str) -> list[tuple[str, str, str]]:
    indicator = next(i for i in result.indicators if i.value == value)
    return [
        (a.name, a.value, a.published_at.strftime("%Y-%m-%d") if a.published_at else "-")
        for a in indicator.attributes
    ]


def test_attributes_belong_to_their_own_record_and_observation():
    document = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [
                    {
                        "first_seen": "2020-01-01T00:00:00Z"
                    },  # no severity: zipping would shift dates
                    {"severity": 3, "first_seen": "2021-01-01T00:00:00Z"},
                ],
            },
            {
                "value": "b.example",
                "data_type": "DomainName",
                "observations": [{"severity": 5, "first_seen": "2022-01-01T00:00:00Z"}],
            },
        ]
    }
    result = mapper([SEVERITY]).map(document)
    assert attrs_of(result, "a.example") == [("Severity", "3", "2021-01-01")]
    assert attrs_of(result, "b.example") == [("Severity", "5", "2022-01-01")]


def test_indicator_is_published_at_its_earliest_observation_else_created_at():
    document = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "created_at": "2019-01-01T00:00:00Z",
                "observations": [
                    {"first_seen": "2021-03-01T00:00:00Z"},
                    {"first_seen": "2020-03-01 00:00:00+00:00"},
                ],
            },
            {
                "value": "b.example",
                "data_type": "DomainName",
                "created_at": "2019-06-01T00:00:00Z",
                "observations": [],
            },
            {"value": "c.example", "data_type": "DomainName"},
        ]
    }
    result = mapper([]).map(document)
    dates = {i.value: i.published_at for i in result.indicators}
    assert dates["a.example"].isoformat() == "2020-03-01T00:00:00+00:00"
    assert dates["b.example"].isoformat() == "2019-06-01T00:00:00+00:00"
    assert dates["c.example"] is None


def test_missing_and_null_yield_nothing_and_are_counted():
    document = {
        "iocs": [
            {"value": "a.example", "data_type": "DomainName", "hotness": None},
            {"value": "b.example", "data_type": "DomainName", "hotness": 0.0},
        ]
    }
    result = mapper(
        [{"name": "Hotness", "path": ".iocs[].hotness"}, {"name": "Gamma", "path": ".iocs[].gamma"}]
    ).map(document)
    assert attrs_of(result, "a.example") == []
    assert attrs_of(result, "b.example") == [("Hotness", "0.0", "-")]
    assert result.missing == {".iocs[].hotness": 1, ".iocs[].gamma": 2}


def test_a_list_yields_one_attribute_per_item_and_duplicates_merge_at_the_earliest_date():
    document = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [
                    {"categories": ["c2", "botnet"], "first_seen": "2021-01-01T00:00:00Z"},
                    {"categories": ["c2"], "first_seen": "2020-01-01T00:00:00Z"},
                ],
            }
        ]
    }
    result = mapper(
        [
            {
                "name": "Categories",
                "path": ".iocs[].observations[].categories",
                "published_at": ".iocs[].observations[].first_seen",
            }
        ]
    ).map(document)
    assert attrs_of(result, "a.example") == [
        ("Categories", "c2", "2020-01-01"),
        ("Categories", "botnet", "2021-01-01"),
    ]


def test_name_value_pairs_stay_paired_and_take_their_observation_date():
    document = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [
                    {
                        "first_seen": "2021-01-01T00:00:00Z",
                        "attributes": [
                            {"name": "killchain", "value": "c2"},
                            {"name": "malware"},
                            {"value": "orphan"},
                            {"name": "threattype", "value": "rat"},
                        ],
                    }
                ],
            }
        ]
    }
    result = mapper(
        [
            {
                "name_path": ".iocs[].observations[].attributes[].name",
                "path": ".iocs[].observations[].attributes[].value",
                "published_at": ".iocs[].observations[].first_seen",
            }
        ]
    ).map(document)
    assert attrs_of(result, "a.example") == [
        ("killchain", "c2", "2021-01-01"),
        ("threattype", "rat", "2021-01-01"),
    ]


def test_the_same_indicator_across_pages_merges():
    page = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [{"severity": 2, "first_seen": "2021-01-01T00:00:00Z"}],
            }
        ]
    }
    later = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [
                    {"severity": 2, "first_seen": "2020-01-01T00:00:00Z"},
                    {"severity": 4, "first_seen": "2022-01-01T00:00:00Z"},
                ],
            }
        ]
    }
    result = mapper([SEVERITY]).map_all([page, later])
    (indicator,) = result.indicators
    assert indicator.published_at.year == 2020
    assert attrs_of(result, "a.example") == [
        ("Severity", "2", "2020-01-01"),
        ("Severity", "4", "2022-01-01"),
    ]
    assert result.records == 2


def test_unknown_types_are_warnings_never_crashes():
    document = {
        "iocs": [
            {"value": "x", "data_type": "PEHash"},
            {"value": "y"},
            {"value": "a.example", "data_type": "DomainName"},
        ]
    }
    result = mapper([]).map(document)
    assert [i.value for i in result.indicators] == ["a.example"]
    assert any("unknown type 'PEHash' for 'x'" in w for w in result.warnings)
    assert any("unknown type 'None' for 'y'" in w for w in result.warnings)


def test_unknown_transform_is_refused_by_name():
    with pytest.raises(ManifestError, match="'nope' is not a transform"):
        mapper([{"name": "Hotness", "path": ".iocs[].hotness", "transforms": ["nope"]}])


def test_a_bad_date_in_a_transform_is_a_warning():
    document = {
        "iocs": [
            {
                "value": "a.example",
                "data_type": "DomainName",
                "observations": [{"first_seen": "yesterday"}],
            }
        ]
    }
    result = mapper(
        [
            {
                "name": "First Seen",
                "path": ".iocs[].observations[].first_seen",
                "transforms": ["datetime"],
            }
        ]
    ).map(document)
    assert attrs_of(result, "a.example") == []
    assert any("not a date" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"DomainName": "Domain"}, "type 'DomainName': unknown indicator type 'Domain'"),
        ({"H": {"type": "MD5", "from_value": "hash_type"}}, "exactly one of 'type' and"),
        ({"H": {"value": ".iocs[].hash"}}, "exactly one of 'type' and 'from_value'"),
        ({"H": {"type": "MD5", "value": ".iocs[]."}}, "type 'H': expected a key name"),
        ({"H": {"type": "MD5", "path": ".x"}}, "type 'H': unknown keys path"),
        ({1: "FQDN"}, "type 1: a vendor type must be a string"),
    ],
)
def test_a_broken_type_table_is_refused_when_the_table_is_read(table, problem):
    with pytest.raises(ManifestError, match="mapping type table is invalid") as caught:
        mapper([], type={"path": ".iocs[].data_type", "table": table})
    assert problem in str(caught.value)


def test_a_type_value_path_outside_the_record_is_refused():
    table = {"DomainName": {"type": "FQDN", "value": ".other[].value"}}
    with pytest.raises(ManifestError, match=r"is not under the record \.iocs\[\]"):
        mapper([], type={"path": ".iocs[].data_type", "table": table})


def test_a_fixed_type_types_every_record_whatever_was_selected():
    document = {
        "urls": [
            {"url": "http://a.example/x", "added": "2021-07-08 10:00:00 UTC"},
            {"url": "http://b.example/y", "kind": "whatever the record says"},
            {"url": None},
        ]
    }
    spec = MappingSpec.from_dict(
        {
            "indicator": {
                "path": ".urls[].url",
                "type": {"fixed": "URL"},
                "published_at": ".urls[].added",
            },
            "attributes": [],
        }
    )
    selected = Indicator(value="a.example", type=IndicatorType.FQDN)
    for chosen in (None, selected):
        result = ENGINE["class"].compile(spec).map(document, chosen)
        assert [(i.value, i.type.value) for i in result.indicators] == [
            ("http://a.example/x", "URL"),
            ("http://b.example/y", "URL"),
        ]
        assert result.indicators[0].published_at.strftime("%Y-%m-%d") == "2021-07-08"
        assert result.missing == {".urls[].url": 1}


def test_a_fixed_type_is_read_once_into_the_rule():
    rule = MappingSpec.from_dict(
        {"indicator": {"path": ".r[].v", "type": {"fixed": "SHA-256"}}, "attributes": []}
    ).indicator
    assert (rule.fixed_type, rule.type_path, len(rule.type_table), rule.type_from_input) == (
        IndicatorType.SHA256,
        None,
        0,
        False,
    )


def test_the_indicator_rule_gives_every_indicator_its_status():
    document = {"iocs": [{"value": "a.example", "data_type": "DomainName"}]}
    (default,) = mapper([]).map(document).indicators
    (reviewed,) = mapper([], status="Review").map(document).indicators
    assert (default.status, reviewed.status) == ("Active", "Review")
    assert reviewed.to_threatq()["status"] == {"name": "Review"}
