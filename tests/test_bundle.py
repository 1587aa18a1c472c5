"""Integration files: built by `tqops bundle`, installed into a fresh virtualenv, and run there
from a directory with no checkout (which proves the installed code finds its manifest)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from simulators import TegoSimulator, TieSimulator
from tqops import __version__
from tqops.cli import main

TOKEN = "bundle-token-3e9f1a"
OPERATIONS = ("dcso_tie", "tego")


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


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().endswith("_PROXY") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return env


@pytest.mark.parametrize("order", [OPERATIONS, tuple(reversed(OPERATIONS))])
def test_fresh_virtualenv_runs_the_installed_operations_without_a_checkout(dist, tmp_path, order):
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(home)
    python = home / "bin" / "python"
    env = _clean_env()
    for name in order:  # one at a time, in either order: no clash, no warning
        done = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--find-links",
                str(dist),
                str(wheel_of(dist, name)),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        noise = [
            line
            for line in done.stderr.splitlines()
            if "WARNING" in line and "Location" not in line and "pip version" not in line
        ]
        assert noise == [], noise
    tqops = home / "bin" / "tqops"
    elsewhere = tmp_path / "nowhere"
    elsewhere.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(tqops), *args], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=120
        )

    listed = run("list")
    assert listed.returncode == 0 and "dcso_tie" in listed.stdout and "tego" in listed.stdout
    validated = run("validate")
    assert validated.returncode == 0, validated.stderr
    assert "site-packages" not in validated.stderr
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import dcso_tie_operation, tqops.manifest as m; "
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
    with TieSimulator(token=TOKEN) as sim:
        ran = run(
            "run",
            "dcso_tie",
            "search",
            "--type",
            "FQDN",
            "--value",
            "www.microsoft.com",
            "--config",
            f"hostname={sim.hostname}",
            "--config",
            f"access_token={TOKEN}",
            "--config",
            f"ca_bundle={sim.ca_pem_path}",
            "--format",
            "json",
        )
    assert ran.returncode == 0, ran.stderr
    (result,) = json.loads(ran.stdout)["results"]
    assert result["status"] == "ok" and result["indicators"]
    assert TOKEN not in ran.stdout + ran.stderr
    with TegoSimulator(token=TOKEN) as sim:
        ran = run(
            "run",
            "tego",
            "search",
            "--type",
            "Hostname",
            "--value",
            "paypa1-secure.com",
            "--config",
            f"hostname={sim.hostname}",
            "--config",
            f"license_key={TOKEN}",
            "--config",
            f"ca_bundle={sim.ca_pem_path}",
            "--format",
            "json",
        )
    assert ran.returncode == 0, ran.stderr
    (result,) = json.loads(ran.stdout)["results"]
    assert [i["type"] for i in result["indicators"]] == ["FQDN"]
    assert sys.prefix not in check.stdout
