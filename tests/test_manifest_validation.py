"""`tqops validate FILE` finds what loading the manifest as an operation finds, but for what
only code can tell, each problem on its own line and named by its ``$.path``.

The cases (tests/cases/manifest_validation.yaml) each mutate a shipped manifest once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import cli
from tqops import ManifestError, Operation, discover_operations
from tqops.manifest.document import load_manifest, manifest_schema
from tqops.operations.registry import Registry
from tqops.service import Service

OPERATIONS = discover_operations()
SERVICE = Service()  # the installed operations, discovered once
CASES = yaml.safe_load(
    (Path(__file__).parent / "cases" / "manifest_validation.yaml").read_text("utf-8")
)


def _manifest_text(name: str) -> str:
    package_dir = OPERATIONS[name].package_dir
    assert package_dir is not None
    return (package_dir / f"{name}.yaml").read_text("utf-8")


def _mutated(case: Mapping[str, Any]) -> str:
    """The case's manifest text after its one mutation."""
    text = _manifest_text(case["manifest"])
    if "replace" in case:
        old, new = case["replace"]
        assert text.count(old) == 1, f"the snippet {old!r} is not once in the manifest"
        return text.replace(old, new)
    raw = yaml.safe_load(text)
    path = case.get("set") or case["delete"]
    target = raw
    for key in path[:-1]:
        target = target[key]
    if "delete" in case:
        del target[path[-1]]
    else:
        target[path[-1]] = case["value"]
    return yaml.safe_dump(raw, sort_keys=False)


def _write(tmp_path: Path, text: str, name: str = "manifest.yaml") -> Path:
    target = tmp_path / name
    target.write_text(text, encoding="utf-8")
    return target


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_a_broken_manifest_file_names_the_problem_by_its_path(tmp_path, case):
    target = _write(tmp_path, _mutated(case))
    (checked,) = SERVICE.validate([target])
    assert not checked.ok
    located = [p for p in checked.problems if p.endswith(f" @ {case['at']}")]
    assert any(case["error"] in p for p in located), checked.problems
    assert all("\n" not in p for p in checked.problems)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_file_check_finds_what_loading_the_operation_finds(tmp_path, case):
    """Loading the mutated manifest with the operation's own code fails with the same
    problems the file check lists, and with no other."""
    target = _write(tmp_path, _mutated(case))
    (checked,) = SERVICE.validate([target])
    operation = OPERATIONS[case["manifest"]]
    with pytest.raises(ManifestError) as caught:
        manifest = load_manifest(target)
        Operation.define(
            manifest,
            operation.client_factory,
            operation.actions,
            operation.test_connection,
            operation.transforms,
        )
    assert set(caught.value.problems) == set(checked.problems)


def test_the_file_check_says_nothing_of_code_it_cannot_see(tmp_path):
    """An action without a function, a client that speaks other variants: only loading the
    operation can tell, so a file with one more action is valid as a file."""
    raw = yaml.safe_load(_manifest_text("tego"))
    raw["actions"].append({**raw["actions"][0], "name": "lookup", "label": "Look Up"})
    target = _write(tmp_path, yaml.safe_dump(raw, sort_keys=False))
    (checked,) = SERVICE.validate([target])
    assert checked.ok, checked.problems
    tego = OPERATIONS["tego"]
    with pytest.raises(ManifestError, match="'lookup' is in the manifest but has no function"):
        Operation.define(
            load_manifest(target), tego.client_factory, tego.actions, tego.test_connection
        )


class _Entry:
    """An entry point as importlib.metadata gives it, for a registry of one operation."""

    def __init__(self, operation: Operation) -> None:
        self.name, self.value, self._operation = operation.name, "tests:operation", operation

    def load(self) -> Operation:
        return self._operation


def test_an_installed_operations_own_transforms_are_known_to_the_file_check(tmp_path):
    raw = yaml.safe_load(_manifest_text("tego"))
    raw["actions"][0]["mapping"]["attributes"][0]["transforms"] = ["title"]
    target = _write(tmp_path, yaml.safe_dump(raw, sort_keys=False))
    tego = OPERATIONS["tego"]
    with_title = Operation.define(
        load_manifest(target),
        tego.client_factory,
        tego.actions,
        tego.test_connection,
        {"title": str.title},
    )
    (alone,) = Service(Registry([])).validate([target])
    assert alone.problems == (
        "unknown transform 'title' (known: datetime, hash_type, ip_type, lower, strip, "
        "strip_hash_prefix, strip_host_prefix_length) @ "
        "$.actions[0].mapping.attributes[0].transforms[0]",
    )
    (installed,) = Service(Registry([_Entry(with_title)])).validate([target])
    assert installed.ok, installed.problems


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    raw = yaml.safe_load(_manifest_text("tego"))
    del raw["config"][0]["role"]
    rows = raw["actions"][0]["mapping"]["attributes"]
    rows[14]["transforms"] = ["datetme"]
    rows[15]["transforms"] = ["datetime", "iso"]
    target = _write(tmp_path, yaml.safe_dump(raw, sort_keys=False))
    (checked,) = SERVICE.validate([target])
    assert [p.rsplit(" @ ", 1)[1] for p in checked.problems] == [
        "$.config",
        "$.actions[0].mapping.attributes[14].transforms[0]",
        "$.actions[0].mapping.attributes[15].transforms[1]",
    ]


def test_repeated_keys_are_all_named_with_the_other_problems(tmp_path):
    text = _manifest_text("tego")
    text = text.replace("  - name: license_key\n", "  - name: license_key\n    name: again\n")
    text = text.replace("    label: Search Tego\n", "    label: Search Tego\n    label: Again\n")
    (checked,) = SERVICE.validate([_write(tmp_path, text)])
    assert [p.rsplit(" @ ", 1)[1] for p in checked.problems] == [
        "$.config[1]",
        "$.actions[0]",
        "$.auth[0].secret",  # the last name was kept: the secret field is gone
    ]
    assert checked.problems[0].startswith("duplicate key 'name' at line ")


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path, capsys):
    raw = yaml.safe_load(_manifest_text("tego"))
    del raw["config"][0]["role"]
    raw["actions"][0]["mapping"]["attributes"][14]["transforms"] = ["datetme"]
    target = _write(tmp_path, yaml.safe_dump(raw, sort_keys=False))
    code, out, err = cli("validate", str(target), capsys=capsys)
    assert (code, err) == (2, "")
    lines = out.splitlines()
    assert lines[0] == f"INVALID {target}: 2 problem(s)"
    assert lines[1].startswith("  - no config field has the role 'host'")
    assert lines[1].endswith(" @ $.config")
    assert lines[2].startswith("  - unknown transform 'datetme' (known: datetime, ")
    assert lines[2].endswith(" @ $.actions[0].mapping.attributes[14].transforms[0]")
    assert len(lines) == 3


def test_cli_says_ok_for_every_shipped_manifest(capsys):
    files = [str(OPERATIONS[name].package_dir / f"{name}.yaml") for name in sorted(OPERATIONS)]
    code, out, err = cli("validate", *files, capsys=capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"OK {path}: {name} {OPERATIONS[name].manifest.version}"
        for path, name in zip(files, sorted(OPERATIONS))
    ]
    assert {"dcso_tie", "tego"} <= set(OPERATIONS)


def _schema_keys(node: Any) -> set[str]:
    """Every property name the manifest schema declares, at any depth."""
    keys: set[str] = set()
    if isinstance(node, dict):
        keys.update(node.get("properties", {}))
        for value in node.values():
            keys |= _schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _schema_keys(value)
    return keys


def test_the_manifest_reference_documents_every_key_of_the_schema():
    reference = (Path(__file__).parent.parent / "docs" / "manifest-reference.md").read_text("utf-8")
    keys = _schema_keys(manifest_schema())
    assert {"fixed", "from_input", "name_separator", "default_when", "ignore"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in reference and f"{k}:" not in reference)
    assert missing == []
