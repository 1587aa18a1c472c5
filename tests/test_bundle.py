"""Integration files: built by `tqops bundle`, installed into a fresh virtualenv, and run there
from a directory with no checkout (which proves the installed code finds its manifest, and
renders the same guides from its own samples and change log)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.cli import flags, one_input
from tests.support.vendors import TIE_TOKEN, tego_config, tie_config
from tests.support.wheelhouse import clean_env, closure, pip_install, repack
from tqops import __version__
from tqops.cli import main

pytestmark = pytest.mark.slow

OPERATIONS = ("dcso_tie", "tego")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for name in OPERATIONS:
        assert main(["bundle", name, "--out", str(out)], out=io.StringIO()) == 0
    return out


def wheel_of(dist: Path, name: str) -> Path:
    (wheel,) = dist.glob(f"tq_op_{name}-*-py3-none-any.whl")
    return wheel


def record(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        return {line.split(",")[0] for line in archive.read(name).decode().splitlines() if line}


@pytest.mark.parametrize("name", OPERATIONS)
def test_bundle_writes_one_integration_file_named_by_the_manifest_version(dist, name):
    wheel = wheel_of(dist, name)
    from tqops import load_operation

    version = load_operation(name).manifest.version
    assert wheel.name == f"tq_op_{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"tq_op_{name}-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"tq_op_{name}-{version}.dist-info/entry_points.txt").decode()
    package = f"{name}_operation"
    assert f"{package}/{name}.yaml" in names
    assert f"{package}/GUIDE.md" in names
    assert f"Name: tq-op-{name.replace('_', '-')}" in metadata
    assert f"Version: {version}" in metadata
    requires = sorted(
        line.split(": ", 1)[1].split(">=")[0].split("==")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist")
    )
    assert requires == ["attrs", "jsonschema", "pyyaml", "requests", "tqops"]
    assert f"{name} = {package}:OPERATION" in entry_points
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_wheel_ships_its_operations_change_log_not_the_projects(dist, name):
    """Issue 12: the integration file's change log and guide are the operation's own, headed
    by its versions; the project's "## Unreleased" never ships, and the runtime ships none."""
    wheel = wheel_of(dist, name)
    with zipfile.ZipFile(wheel) as archive:
        changelog = archive.read(f"{name}_operation/CHANGELOG.md").decode()
        guide = archive.read(f"{name}_operation/GUIDE.md").decode()
    assert "Unreleased" not in changelog and "Unreleased" not in guide
    assert "tqops:" not in changelog  # the project's entries are prefixed by component
    with zipfile.ZipFile(dist / f"tqops-{__version__}-py3-none-any.whl") as archive:
        shipped = [n for n in archive.namelist() if "CHANGELOG" in n.upper()]
        assert [n for n in shipped if not n.endswith(".tmpl")] == []  # the scaffold's template


def test_two_integration_files_share_no_file(dist):
    runtime = dist / f"tqops-{__version__}-py3-none-any.whl"
    records = [record(wheel_of(dist, n)) for n in OPERATIONS] + [record(runtime)]
    for i, first in enumerate(records):
        for second in records[i + 1 :]:
            shared = {p for p in first & second if not p.endswith("RECORD")}
            assert shared == set()


def test_bundles_are_reproducible(dist, tmp_path):
    assert main(["bundle", "dcso_tie", "--out", str(tmp_path)], out=io.StringIO()) == 0
    assert wheel_of(tmp_path, "dcso_tie").read_bytes() == wheel_of(dist, "dcso_tie").read_bytes()


class Installed:
    """A fresh virtualenv holding only the wheels `tqops bundle` wrote (and their third-party
    requirements), run from a directory with no checkout."""

    def __init__(self, home: Path, cwd: Path, env: dict[str, str]) -> None:
        self.home, self.cwd, self.env = home, cwd, env
        self.python = home / "bin" / "python"

    def tqops(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.home / "bin" / "tqops"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=120,
        )


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """The runtime's third-party requirements, repacked from this environment (no network)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    needed = [Requirement(text) for text in metadata.requires("tqops") or ()]
    names = [r.name for r in needed if r.marker is None or r.marker.evaluate({"extra": ""})]
    for found in closure(names):
        repack(found, out)
    return out


@pytest.fixture(
    scope="module",
    params=[OPERATIONS, tuple(reversed(OPERATIONS))],
    ids=["-then-".join(OPERATIONS), "-then-".join(reversed(OPERATIONS))],
)
def installed(request, dist, wheelhouse, tmp_path_factory) -> Installed:
    tmp_path = tmp_path_factory.mktemp("fresh")
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(home)
    env = clean_env()
    for name in request.param:  # one at a time, in either order: no clash, no warning
        links = ("--find-links", dist, "--find-links", wheelhouse)
        done = pip_install(home, *links, wheel_of(dist, name), cwd=tmp_path)
        noise = [
            line
            for line in done.stderr.splitlines()
            if "WARNING" in line and "Location" not in line and "pip version" not in line
        ]
        assert noise == [], noise
    elsewhere = tmp_path / "nowhere"
    elsewhere.mkdir()
    return Installed(home, elsewhere, env)


def test_fresh_virtualenv_renders_the_same_guides_as_the_checkout(installed, dist):
    """The guide reads only the package's own files (manifest, samples, change log): installed
    from the integration files, it is the checkout's, byte for byte."""
    for name in OPERATIONS:
        rendered = installed.tqops("docs", name)
        assert rendered.returncode == 0, rendered.stderr
        out = io.StringIO()
        assert main(["docs", name], out=out) == 0
        assert rendered.stdout == out.getvalue(), f"tqops docs {name} differs when installed"
        with zipfile.ZipFile(wheel_of(dist, name)) as archive:
            assert archive.read(f"{name}_operation/GUIDE.md").decode() == out.getvalue()
    packaged = subprocess.run(
        [
            str(installed.python),
            "-c",
            "import json, tqops.manifest.document as m; "
            "print(json.dumps([str(m.find_packaged_file(p, f)) "
            "for p, f in [('dcso_tie_operation', 'dcso_tie.yaml'), ('tego_operation', "
            "'tego.yaml'), ('tqops.manifest', 'manifest.schema.json')]]))",
        ],
        capture_output=True,
        text=True,
        env=installed.env,
        cwd=installed.cwd,
        timeout=60,
    )
    assert packaged.returncode == 0, packaged.stderr
    for found in map(Path, json.loads(packaged.stdout)):
        assert str(installed.home) in str(found) and not found.is_symlink()
        assert found.read_bytes() == (ROOT / "manifests" / found.name).read_bytes()


def test_fresh_virtualenv_runs_the_installed_operations_without_a_checkout(installed, tie, tego):
    home, env, elsewhere, run = installed.home, installed.env, installed.cwd, installed.tqops
    python = installed.python
    simulators = subprocess.run(
        [str(python), "-c", "import simulators"], env=env, cwd=elsewhere, capture_output=True
    )
    assert simulators.returncode != 0  # the simulators are not part of any installed wheel
    listed = run("list")
    assert listed.returncode == 0 and "dcso_tie" in listed.stdout and "tego" in listed.stdout
    validated = run("validate")
    assert validated.returncode == 0, validated.stderr
    assert "site-packages" not in validated.stderr
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import dcso_tie_operation, tqops.manifest.document as m; "
            "print(dcso_tie_operation.__file__); print(m.find_packaged_file("
            "'dcso_tie_operation', 'dcso_tie.yaml'))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
        timeout=60,
    )
    assert check.returncode == 0 and str(home) in check.stdout.splitlines()[1]
    tie_search = one_input("dcso_tie", "FQDN", "www.microsoft.com")
    ran = run(*tie_search, *flags("--config", tie_config(tie)), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    (result,) = json.loads(ran.stdout)["results"]
    assert result["status"] == "ok" and result["indicators"]
    assert TIE_TOKEN not in ran.stdout + ran.stderr
    tego_search = one_input("tego", "Hostname", "paypa1-secure.com")
    ran = run(*tego_search, *flags("--config", tego_config(tego)), "--format", "json")
    assert ran.returncode == 0, ran.stderr
    (result,) = json.loads(ran.stdout)["results"]
    assert [i["type"] for i in result["indicators"]] == ["FQDN"]
    assert sys.prefix not in check.stdout


def _extras_in_setup_cfg() -> dict[str, set[str]]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(Path(__file__).resolve().parent.parent / "setup.cfg", encoding="utf-8")
    section = parser["options.extras_require"]
    return {name: {r.strip() for r in section[name].split("\n") if r.strip()} for name in section}


def test_the_runtime_wheel_declares_the_users_extras_and_not_the_developers(dist):
    (runtime,) = dist.glob("tqops-*.whl")
    with zipfile.ZipFile(runtime) as archive:
        meta = archive.read(f"tqops-{__version__}.dist-info/METADATA").decode()
    lines = meta.splitlines()
    extras = {line.split(": ", 1)[1] for line in lines if line.startswith("Provides-Extra: ")}
    requires = [line.split(": ", 1)[1] for line in lines if line.startswith("Requires-Dist: ")]
    assert extras == {"cli", "server", "postgres"}
    declared = _extras_in_setup_cfg()
    for extra in extras:
        carried = {r.split(";")[0].strip() for r in requires if f'extra == "{extra}"' in r}
        assert carried == declared[extra], extra
    assert not [r for r in requires if "test" in r.split(";", 1)[-1] or "bench" in r]
