"""One standard suite, run over every installed operation: a third vendor gets it for free."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tqops import FeedPath, Indicator, discover_operations, load_manifest

OPERATIONS = discover_operations()


def test_both_operations_are_installed():
    assert {"dcso_tie", "tego"} <= set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
class TestOperationConformance:
    def test_manifest_file_is_valid_and_is_the_loaded_one(self, name):
        operation = OPERATIONS[name]
        origin = Path(str(operation.manifest.origin))
        assert origin.name == f"{name}.yaml"
        assert (
            load_manifest(Path(__file__).resolve().parent.parent / "manifests" / origin.name)
            == operation.manifest
        )

    def test_actions_resolve_both_ways(self, name):
        operation = OPERATIONS[name]
        assert set(operation.actions) == {a.name for a in operation.manifest.actions}
        assert set(operation.mappers) == set(operation.actions)
        assert all(callable(f) for f in operation.actions.values())

    def test_every_mapping_path_compiles(self, name):
        for action in OPERATIONS[name].manifest.actions:
            rule = action.mapping.indicator
            paths = [rule.path, *rule.published_at, *([rule.type_path] if rule.type_path else [])]
            for row in action.mapping.attributes:
                paths += [row.path, *row.published_at, *([row.name_path] if row.name_path else [])]
            for path in paths:
                assert FeedPath.parse(str(path)) == path

    def test_config_has_the_standard_fields_and_each_secret_is_a_credential(self, name):
        manifest = OPERATIONS[name].manifest
        names = [f.name for f in manifest.config]
        assert names[0] == "hostname" and {
            "use_proxy",
            "verify_ssl",
            "ca_bundle",
            "timeout",
        } <= set(names)
        # one secret per way of authenticating (DCSO TIE: an access token for v1, an API key
        # for v2 and v3), each sent by an auth entry
        assert manifest.secret_fields
        assert set(manifest.secret_fields) == {entry.secret for entry in manifest.auth}
        assert manifest.config_field("verify_ssl").default is True
        assert manifest.config_field("use_proxy").default is False

    def test_each_fixture_maps_to_valid_indicators(self, name):
        operation = OPERATIONS[name]
        fixtures = sorted((operation.package_dir / "samples").glob("*.json"))
        assert fixtures, f"the {operation.package} package holds no sample response"
        for fixture in fixtures:
            result = operation.map("search", [json.loads(fixture.read_text())])
            assert result.indicators, fixture.name
            for indicator in result.indicators:
                assert isinstance(indicator, Indicator)
                assert indicator.value == indicator.value.strip() and indicator.value.isprintable()
                assert indicator.published_at is None or indicator.published_at.tzinfo
                assert all(a.name and a.value for a in indicator.attributes)
                payload = indicator.to_threatq()
                assert payload["type"] == {"name": indicator.type.value}

    def test_describe_never_needs_a_secret(self, name):
        from tqops.cli.render import render_describe

        text = render_describe(OPERATIONS[name].manifest)
        assert "password (secret)" in text
