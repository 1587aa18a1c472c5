"""The shape of the house, checked: small modules, no import cycle, a runtime that knows no
vendor, and vendor field names only in manifests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tqops", "dcso_tie_operation", "tego_operation")
MODULES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
#: string constants that are also field names, for another reason
NOT_FIELD_NAMES = {
    "hostname": "the name of a text format (format: hostname)",
    "timeout": "a TransportError cause",
    "api_key": "the key `tqops users add --format json` prints for a host user",
    "access_token": "OAuth's token answer (RFC 6749), which ThreatQ's POST /api/token gives",
}


def _field_names() -> set[str]:
    names = set()
    for path in (ROOT / "manifests").glob("*.yaml"):
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        names |= {f["name"] for f in manifest["config"]}
        for action in manifest["actions"]:
            names |= {o["name"] for o in action.get("options", ())}
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of ours that ``path`` imports, outside ``if TYPE_CHECKING`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    known = {_module_name(p) for p in MODULES}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # ``from . import mod`` imports mod, not its package
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def test_no_module_passes_400_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_there_is_no_import_cycle():
    graph = {_module_name(p): _imports(p) for p in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycle = [*trail[trail.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_runtime_imports_no_vendor_package_and_no_simulator():
    for path in (ROOT / "tqops").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("dcso_tie_operation", "tego_operation", "simulators"):
            assert f"import {name}" not in text and f"from {name}" not in text, path


def test_no_vendor_field_name_is_written_in_python():
    """Field and option names live in manifests: code asks the manifest (roles, auth,
    parameters), and never looks a value up by a vendor field's name."""
    names = _field_names()
    assert {"hostname", "access_token", "license_key", "severity", "use_proxy"} <= names
    found = []
    for path in MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text in names and text not in NOT_FIELD_NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
            lookup = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                lookup = node.slice.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                lookup = node.args[0].value
            if lookup in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} lookup {lookup!r}")
    assert found == []


def test_importing_tqops_changes_nothing_process_wide():
    probe = (
        "import logging, warnings, sys\n"
        "import requests, urllib3, yaml, jsonschema, attrs  # their own import-time filters\n"
        "before = (list(logging.getLogger().handlers), logging.getLogger().level,"
        " logging.getLogger('urllib3').level, list(warnings.filters))\n"
        "import tqops, tqops.cli, tqops.service, dcso_tie_operation, tego_operation\n"
        "tqops.Registry().operations\n"
        "after = (list(logging.getLogger().handlers), logging.getLogger().level,"
        " logging.getLogger('urllib3').level, list(warnings.filters))\n"
        "assert before == after, (before, after)\n"
        "assert not [m for m in sys.modules if m.startswith('simulators')]\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr


def test_running_the_cli_in_process_leaves_logging_as_it_found_it(capsys):
    import logging

    from tests.support.cli import cli

    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("urllib3").level)
    cli("list", capsys=capsys)
    cli("describe", "nothing", capsys=capsys)
    assert (list(root.handlers), root.level, logging.getLogger("urllib3").level) == before
