"""The installed packages know no repository: each reads only its own files (package data), the
runtime never imports the simulators, and a regular build carries every file a package reads."""

from __future__ import annotations

import ast
import configparser
import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tqops import load_operation
from tqops.errors import ManifestError
from tqops.manifest.document import find_packaged_file
from tqops.publishing.guide import changelog_entries, package_changelog, sample_documents

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tqops", "dcso_tie_operation", "tego_operation")
MODULES = sorted(
    path
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
    if "__pycache__" not in path.parts
)
# package data a package carries, beside its modules (in the checkout, links into manifests/)
LINKED = {
    "tqops.manifest": ["manifest.schema.json"],
    "dcso_tie_operation": ["dcso_tie.yaml"],
    "tego_operation": ["tego.yaml"],
}


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


@pytest.mark.parametrize("module", MODULES, ids=_name)
def test_no_module_reads_the_repository_or_imports_the_simulators(module):
    source = module.read_text(encoding="utf-8")
    for word in ("tests/fixtures", "REPO_MANIFESTS"):
        assert word not in source, f"{_name(module)} mentions {word}"
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and _callee(node) in ("import_module", "__import__"):
            names = [a.value for a in node.args if isinstance(a, ast.Constant)]
        else:
            names = []
        assert not [n for n in names if str(n).split(".")[0] == "simulators"], (
            f"{_name(module)}:{node.lineno} imports the simulators"
        )
        # a path outside the package: climbing from a file (`.parent.parent`, `.parents[..]`,
        # `dirname(dirname(...))`) or a `..` component
        if isinstance(node, ast.Attribute) and node.attr in ("parent", "parents"):
            inner = node.value
            assert node.attr == "parent" and not (
                isinstance(inner, ast.Attribute) and inner.attr == "parent"
            ), f"{_name(module)}:{node.lineno} climbs out of its package"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.replace("\\", "/")
            assert "../" not in text and not text.endswith("/.."), (
                f"{_name(module)}:{node.lineno} names a path with '..'"
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            sides = (node.left, node.right)
            assert not any(isinstance(s, ast.Constant) and s.value == ".." for s in sides), (
                f"{_name(module)}:{node.lineno} climbs out of its package"
            )
        if isinstance(node, ast.Call) and _callee(node) in ("Path", "joinpath", "join"):
            assert not any(isinstance(a, ast.Constant) and a.value == ".." for a in node.args), (
                f"{_name(module)}:{node.lineno} climbs out of its package"
            )
        if isinstance(node, ast.Attribute) and node.attr == "pardir":
            raise AssertionError(f"{_name(module)}:{node.lineno} uses os.pardir")
        if isinstance(node, ast.Call) and _callee(node) == "dirname":
            assert not any(
                isinstance(a, ast.Call) and _callee(a) == "dirname" for a in node.args
            ), f"{_name(module)}:{node.lineno} climbs out of its package"


def test_importing_the_cli_never_imports_the_simulators():
    """Run from the checkout's root, where `simulators` is importable: the CLI still leaves it
    alone, and `tqops demo` only says where the demo runs."""
    code = (
        "import sys, io\n"
        "import tqops.cli\n"
        "code = tqops.cli.main(['demo'], out=io.StringIO())\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] == 'simulators'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "[]"]
    (line,) = done.stderr.splitlines()
    assert "make demo" in line and "Traceback" not in line


@pytest.mark.parametrize("package", sorted(LINKED))
def test_each_package_finds_its_files_inside_itself(package):
    for filename in LINKED[package]:
        found = find_packaged_file(package, filename)
        assert found.parent == ROOT / package.replace(".", "/")
        assert found.read_bytes() == (ROOT / "manifests" / filename).read_bytes()
    with pytest.raises(ManifestError, match=rf"nowhere\.yaml not found in package '{package}'"):
        find_packaged_file(package, "nowhere.yaml")


@pytest.mark.parametrize("name", ["dcso_tie", "tego"])
def test_each_operation_carries_its_samples_and_its_change_log(name):
    operation = load_operation(name)
    assert sample_documents(operation.package)
    entries = changelog_entries(package_changelog(operation))
    assert operation.manifest.version in entries, (
        f"{operation.package}/CHANGELOG.md has no '## {operation.manifest.version}' section"
    )
    assert all(entries.values())


def _package_data() -> dict[str, list[str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    data = parser["options.package_data"]
    return {key: [p.strip() for p in data[key].split(",") if p.strip()] for key in data}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_file_a_package_holds_is_declared_package_data(package):
    """What `tqops bundle` copies (the package's tree) is what a regular build installs."""
    patterns = _package_data()[package]
    base = ROOT / package
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(base).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), (
            f"{package}/{relative} is not in setup.cfg's [options.package_data]"
        )


@pytest.mark.slow
def test_a_regular_build_carries_the_files_and_not_the_simulators(tmp_path):
    """`pip wheel .` from a copy of the checkout: the linked manifests arrive as their
    content, each package's change log and samples too, and no simulators."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("manifests", *PACKAGES, "simulators"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    assert (source / "dcso_tie_operation" / "dcso_tie.yaml").is_symlink()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("tqops-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert not [n for n in names if n.startswith("simulators/")]
        for package, files in LINKED.items():
            for filename in files:
                content = archive.read(f"{package.replace('.', '/')}/{filename}")
                assert content == (ROOT / "manifests" / filename).read_bytes()
        for package in ("dcso_tie_operation", "tego_operation"):
            assert f"{package}/CHANGELOG.md" in names
            samples = sorted((ROOT / package / "samples").glob("*.json"))
            assert samples and {f"{package}/samples/{s.name}" for s in samples} <= names
