"""The shape of the house, checked: packages that say what they own, layers that import only
downwards, no import cycle, a runtime that knows no vendor, and vendor field names only in
manifests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
    "category": "a MISP attribute's category, echoed back with the queried attribute's tag",
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


#: what each part of the runtime may import, besides itself: the folder list read as layers.
#: ``tqops`` is the package root (its ``__version__``); leaves import nothing of ours.
MAY_IMPORT: dict[str, set[str]] = {
    "tqops.errors": set(),
    "tqops.dates": set(),
    "tqops.tlp": {"tqops.errors"},
    "tqops.model": {"tqops.errors", "tqops.dates"},
    "tqops.manifest": {"tqops.errors", "tqops.dates", "tqops.model"},
    "tqops.config": {"tqops.errors", "tqops.dates", "tqops.manifest"},
    "tqops.http": {"tqops.errors", "tqops.config"},
    "tqops.mapping": {"tqops.errors", "tqops.dates", "tqops.tlp", "tqops.model", "tqops.manifest"},
    "tqops.running": {"tqops.errors", "tqops.dates", "tqops.model"},
    "tqops.operations": {
        "tqops.errors",
        "tqops.dates",
        "tqops.tlp",
        "tqops.model",
        "tqops.manifest",
        "tqops.config",
        "tqops.http",
        "tqops.mapping",
        "tqops.running",
    },
    # what leaves for other platforms as STIX or MISP: results in, documents out
    "tqops.exports": {
        "tqops.errors",
        "tqops.dates",
        "tqops.tlp",
        "tqops.model",
        "tqops.config",
    },
    "tqops.publishing": {
        "tqops",
        "tqops.errors",
        "tqops.manifest",
        "tqops.operations",
    },
    "tqops.service": {
        "tqops.errors",
        "tqops.dates",
        "tqops.tlp",
        "tqops.model",
        "tqops.manifest",
        "tqops.config",
        "tqops.http",  # the one thing the host sets on it: a pacing its workers share
        "tqops.mapping",
        "tqops.running",
        "tqops.operations",
        "tqops.publishing",
    },
    "tqops.cli": {
        "tqops",
        "tqops.errors",
        "tqops.dates",
        "tqops.tlp",
        "tqops.model",
        "tqops.manifest",
        "tqops.config",
        "tqops.running",
        "tqops.service",
        "tqops.server",
        "tqops.exports",
    },
    # what an operation's own tests use (the conformance suite, the fake vendor): on top of
    # the runtime, and nothing of tqops imports it
    "tqops.testing": {
        "tqops.errors",
        "tqops.model",
        "tqops.manifest",
        "tqops.config",
        "tqops.running",
        "tqops.operations",
        "tqops.publishing",
        "tqops.cli",
    },
    # the process an uploaded integration's code runs in: the runtime through Service, and
    # nothing of the host (it is handed its configuration, never the store or the vault)
    "tqops.runner": {
        "tqops.errors",
        "tqops.config",
        "tqops.service",
    },
    # the host reaches the runtime through Service, and never imports operation code itself
    "tqops.server": {
        "tqops",
        "tqops.errors",
        "tqops.dates",
        "tqops.tlp",
        "tqops.model",
        "tqops.config",
        "tqops.service",
        "tqops.exports",
    },
}


def _part(module: str) -> str:
    """The part of the runtime a module is in: ``tqops.server.api.native`` -> ``tqops.server``."""
    return ".".join(module.split(".")[:2])


def test_each_package_says_what_it_owns():
    packages = sorted(p.parent for p in (ROOT / "tqops").rglob("__init__.py"))
    for package in packages:
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring and len(docstring.split()) >= 8, f"{package.relative_to(ROOT)}"


def test_every_part_of_the_runtime_is_placed_in_the_layers():
    parts = {_part(_module_name(p)) for p in MODULES if _module_name(p).startswith("tqops.")}
    assert parts == set(MAY_IMPORT), parts ^ set(MAY_IMPORT)


def test_each_part_imports_only_the_parts_it_may():
    wrong = []
    for path in MODULES:
        module = _module_name(path)
        if not module.startswith("tqops."):
            continue
        part = _part(module)
        for target in sorted(_imports(path)):
            if target.split(".")[0] != "tqops":
                continue
            target_part = target if target == "tqops" else _part(target)
            if target_part != part and target_part not in MAY_IMPORT[part]:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert wrong == []


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of ``graph`` (node -> the nodes it points to), or [] when there is none."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*trail[trail.index(target) :], target]
            if target not in state and (found := visit(target, [*trail, target])):
                return found
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return []


def test_the_layers_have_no_cycle():
    assert _cycle(MAY_IMPORT) == []


def test_there_is_no_import_cycle():
    assert _cycle({_module_name(p): _imports(p) for p in MODULES}) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


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
