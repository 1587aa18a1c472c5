"""Golden mapping tests, run over every installed operation (found through the
``tqops.operations`` entry points) and every action of its manifest: each sample response maps
to its committed expected JSON.

The samples are the operations' own (package data, ``<package>/samples/**/*.json``: the guide's
examples come from them). A sample in a folder named after one of the operation's actions
belongs to that action, any other to every action; a sample in a folder named after a value of
the field with role ``variant`` (an API generation) is mapped with that variant's table. Golden
files are ``tests/fixtures/<operation>/<sample>.expected.json``, under ``<action>/`` when the
operation has more than one action.

Regenerate after a deliberate mapping change: UPDATE_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import pytest

from tqops import Operation, discover_operations

FIXTURES = Path(__file__).parent / "fixtures"
OPERATIONS = discover_operations()


def samples_of(operation: Operation, action: str) -> list[Path]:
    """The sample responses of ``action``: those in its folder and those in no action's."""
    root = operation.package_dir / "samples"
    actions = {a.name for a in operation.manifest.actions}
    found = []
    for path in sorted(root.glob("**/*.json")):
        folders = set(path.relative_to(root).parts[:-1])
        if action in folders or not folders & actions:
            found.append(path)
    return found


def variant_of(operation: Operation, sample: Path) -> Optional[str]:
    """The variant a sample is a response of: its folder's name when that is a value of the
    variant field (None: the default one)."""
    field = operation.manifest.variant_field
    return sample.parent.name if field is not None and sample.parent.name in field.choices else None


ACTIONS = [(name, a.name) for name in sorted(OPERATIONS) for a in OPERATIONS[name].manifest.actions]
CASES = [
    (name, action, sample)
    for name, action in ACTIONS
    for sample in samples_of(OPERATIONS[name], action)
]


def golden_of(name: str, action: str, sample: Path) -> Path:
    folder = FIXTURES / name
    if len(OPERATIONS[name].manifest.actions) > 1:
        folder = folder / action
    return folder / f"{sample.stem}.expected.json"


@pytest.mark.parametrize(
    ("name", "action", "sample"), CASES, ids=[f"{n}-{a}-{p.name}" for n, a, p in CASES]
)
def test_sample_maps_to_its_golden_output(name, action, sample):
    operation = OPERATIONS[name]
    variant = variant_of(operation, sample)
    field = operation.manifest.variant_field
    config = {field.name: variant} if field is not None and variant is not None else {}
    result = operation.map(action, [json.loads(sample.read_text())], config=config)
    actual = {
        "indicators": [i.to_dict() for i in result.indicators],
        "warnings": list(result.warnings),
        "threatq": [i.to_threatq() for i in result.indicators[:1]],
    }
    golden = golden_of(name, action, sample)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == json.loads(golden.read_text())


@pytest.mark.parametrize(("name", "action"), ACTIONS, ids=[f"{n}-{a}" for n, a in ACTIONS])
def test_every_variant_of_every_action_has_a_golden_sample(name, action):
    operation = OPERATIONS[name]
    spec = operation.manifest.action(action)
    covered = {
        variant_of(operation, s) or spec.default_variant for s in samples_of(operation, action)
    }
    assert covered >= {v.key for v in spec.all_variants()}, (
        f"{name} {action}: samples for {covered}"
    )


def test_every_golden_file_has_its_sample():
    expected = {golden_of(name, action, sample) for name, action, sample in CASES}
    assert set(FIXTURES.glob("*/**/*.expected.json")) == expected
