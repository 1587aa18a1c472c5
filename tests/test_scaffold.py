"""`tqops new`: a new operation's skeleton, from its argument checks to the newcomer's whole
path (a fresh virtualenv, offline: validate, its own tests, bundle, install) and a host that
accepts its integration file and runs it against the skeleton's fake vendor."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support.hosting import RunningHost, add_user, wait_for
from tests.support.wheelhouse import closure, fresh_venv, pip_install, repack, run
from tqops import __version__, load_manifest
from tqops.cli import main
from tqops.publishing.bundle import build_runtime_wheel
from tqops.testing.fake_vendor import FakeVendor

NAME = "urlhaus"
PACKAGE = f"{NAME}_operation"
#: what the fresh virtualenv needs besides tqops: its runtime requirements, the skeleton's
#: test extra, and what builds an editable install without the network
NEEDED = ("requests", "attrs", "jsonschema", "pyyaml", "pytest", "trustme", "setuptools", "wheel")
#: what `pip install 'tqops[server]'` brings, for the runtime wheel's extra
SERVER = (
    "fastapi",
    "uvicorn",
    "cryptography",
    "argon2-cffi",
    "python-multipart",
    "jinja2",
    "stix2",
)


def new(*args: str, capsys) -> tuple[int, str, str]:
    import io

    out = io.StringIO()
    code = main(["new", *args], out=out)
    return code, out.getvalue(), capsys.readouterr().err


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Bad-Name", "not a lower-case Python identifier"),
        ("9lives", "not a lower-case Python identifier"),
        ("x", "not a lower-case Python identifier"),
        ("import", "not a lower-case Python identifier"),
        ("tego", "installed already"),
        ("dcso_tie", "installed already"),
    ],
)
def test_a_name_that_cannot_be_an_operation_is_one_line_and_nothing_is_written(
    name, says, tmp_path, capsys
):
    code, out, err = new(name, "--dir", str(tmp_path / "op"), capsys=capsys)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("tqops: error: ") and says in line and "Traceback" not in err
    assert not (tmp_path / "op").exists()


def test_a_folder_in_the_way_is_one_line_and_left_as_it_was(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    code, out, err = new(NAME, "--dir", str(taken), capsys=capsys)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert str(taken) in line and "not an empty folder" in line
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert new(NAME, "--dir", str(afile), capsys=capsys)[0] == 2
    code, _, err = new(NAME, "--dir", str(afile / "below"), capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "cannot write" in err


def test_the_skeleton_goes_into_an_empty_folder_or_dot_name(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = new(NAME, "--dir", str(empty), capsys=capsys)
    assert code == 0 and f"pip install -e '{empty}[test]'" in out
    assert (empty / PACKAGE / f"{NAME}.yaml").is_file()
    monkeypatch.chdir(tmp_path)
    assert new("other_vendor", capsys=capsys)[0] == 0
    assert (tmp_path / "other_vendor" / "other_vendor_operation" / "actions.py").is_file()


def test_the_skeleton_is_a_distribution_with_its_entry_point_and_package_data(tmp_path, capsys):
    assert new(NAME, "--dir", str(tmp_path), capsys=capsys)[0] == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {
        "pyproject.toml",
        "README.md",
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/client.py",
        f"{PACKAGE}/actions.py",
        f"{PACKAGE}/{NAME}.yaml",
        f"{PACKAGE}/CHANGELOG.md",
        f"{PACKAGE}/samples/lookup.json",
        "tests/conftest.py",
        f"tests/test_{NAME}.py",
    } <= written
    assert not [p for p in written if p.endswith(".tmpl") or "{name}" in p or "$" in p]
    project = (tmp_path / "pyproject.toml").read_text()
    assert f'{NAME} = "{PACKAGE}:OPERATION"' in project
    assert '[project.entry-points."tqops.operations"]' in project
    assert f"tqops>={__version__}" in project and "samples/*.json" in project
    manifest = load_manifest(tmp_path / PACKAGE / f"{NAME}.yaml")
    roles = {f.role for f in manifest.config if f.role}
    assert {"host", "verify_tls", "ca_file", "proxy", "timeout"} <= roles
    assert manifest.secret_fields and manifest.actions
    for path in tmp_path.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # rendered Python is Python


@pytest.mark.parametrize("name", ["ab", NAME, "a_very_long_vendor_name_of_41_characters_"])
def test_the_skeleton_is_clean_for_ruff_and_valid_for_any_name(name, tmp_path, capsys):
    assert new(name, "--dir", str(tmp_path), capsys=capsys)[0] == 0
    for command in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command], capture_output=True, text=True, cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert load_manifest(tmp_path / f"{name}_operation" / f"{name}.yaml").name == name


def test_the_template_ships_as_package_data_and_is_no_module():
    """A build carries the templates (setup.cfg's package data), and no template is a `.py`
    file that `packages = find:`, ruff or the architecture tests would take for tqops code."""
    root = Path(__file__).resolve().parent.parent
    folder = root / "tqops" / "publishing" / "template"
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert files and all(p.name.endswith(".tmpl") for p in files)
    assert not list(folder.rglob("__init__.py"))
    parser = configparser.ConfigParser()
    parser.read(root / "setup.cfg", encoding="utf-8")
    patterns = [p.strip() for p in parser["options.package_data"]["tqops"].split(",")]
    for path in files:  # as setuptools globs: a `*` never crosses a `/`
        parts = path.relative_to(root / "tqops").parts
        assert any(
            len(parts) == len(pattern.split("/"))
            and all(map(fnmatch.fnmatchcase, parts, pattern.split("/")))
            for pattern in patterns
        ), f"{path.relative_to(root)} is not in setup.cfg's package data for tqops"


# -- the newcomer's path, in a fresh virtualenv with no network ---------------------------------


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """tqops' runtime wheel built from the checkout, and the installed third-party packages it
    and the skeleton's tests need, repacked as wheels."""
    if not any(canonicalize_name(d.metadata["Name"]) == "wheel" for d in metadata.distributions()):
        pytest.skip("needs `wheel` installed: setuptools < 70.1 builds editable installs with it")
    out = tmp_path_factory.mktemp("wheelhouse")
    build_runtime_wheel(out)
    for dist in closure(NEEDED + SERVER):
        repack(dist, out)
    return out


@pytest.mark.slow
def test_a_newcomer_goes_from_nothing_to_an_installable_integration_file(wheelhouse, tmp_path):
    bin_ = fresh_venv(tmp_path / "venv", wheelhouse, "tqops", *NEEDED)
    work = tmp_path / "work"
    work.mkdir()
    source = work / NAME
    made = run(bin_ / "tqops", "new", NAME, cwd=work)
    assert f"wrote 11 files in {NAME}" in made.stdout
    pip_install(
        tmp_path / "venv", "--no-build-isolation", "--no-deps", "--quiet", "-e", source, cwd=work
    )
    validated = run(bin_ / "tqops", "validate", f"{NAME}/{PACKAGE}/{NAME}.yaml", cwd=work)
    assert validated.stdout.startswith(f"OK {NAME}/{PACKAGE}/{NAME}.yaml: {NAME} 0.1.0")
    everything = run(bin_ / "tqops", "validate", cwd=work)
    assert f"OK {NAME}:" in everything.stdout
    tested = run(bin_ / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=source)
    assert re.search(r"\b\d+ passed\b", tested.stdout) and "failed" not in tested.stdout
    action = load_manifest(source / PACKAGE / f"{NAME}.yaml").actions[0].name
    mapped = run(
        bin_ / "tqops", "map", NAME, action, f"{NAME}/{PACKAGE}/samples/lookup.json", cwd=work
    )
    assert json.loads(mapped.stdout)["indicators"]
    bundled = run(bin_ / "tqops", "bundle", NAME, "--out", "dist", cwd=work)
    wheel = work / "dist" / f"tq_op_{NAME}-0.1.0-py3-none-any.whl"
    assert f"wrote {Path('dist') / wheel.name}" in bundled.stdout
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {
        f"{PACKAGE}/{NAME}.yaml",
        f"{PACKAGE}/GUIDE.md",
        f"{PACKAGE}/samples/lookup.json",
    } <= names
    assert not [n for n in names if n.startswith("tests/")]

    # the integration file installs, with the runtime wheel beside it and the host's extra
    # that wheel declares, into another fresh venv
    other = fresh_venv(
        tmp_path / "other", wheelhouse, "--find-links", work / "dist", wheel, "tqops[server]"
    )
    listed = run(other / "tqops", "list", cwd=tmp_path)
    assert re.search(rf"^{NAME}\s+0\.1\.0\s", listed.stdout, re.M), listed.stdout
    run(other / "python", "-c", "import fastapi, uvicorn, tqops.server.app", cwd=tmp_path)


# -- the host accepts the integration file and runs it against the skeleton's fake ------------


@pytest.fixture()
def skeleton_wheel(tmp_path, capsys) -> Path:
    """`tqops new`, then the skeleton's integration file, built from its folder (no install)."""
    source = tmp_path / NAME
    assert new(NAME, "--dir", str(source), capsys=capsys)[0] == 0
    code = (
        "import sys, pathlib\n"
        f"sys.path.insert(0, {str(source)!r})\n"
        f"from {PACKAGE} import OPERATION\n"
        "from tqops.publishing.bundle import build_operation_wheel\n"
        f"print(build_operation_wheel(OPERATION, pathlib.Path({str(tmp_path / 'dist')!r})))\n"
    )
    done = run(sys.executable, "-c", code, cwd=tmp_path)
    return Path(done.stdout.strip())


def test_the_host_accepts_the_skeletons_integration_file_and_runs_it(skeleton_wheel, tmp_path):
    manifest = load_manifest(tmp_path / NAME / PACKAGE / f"{NAME}.yaml")
    action = manifest.actions[0]
    sample = json.loads((tmp_path / NAME / PACKAGE / "samples" / "lookup.json").read_text())
    data = tmp_path / "data"
    admin = add_user(data, "admin", "admin")["api_key"]
    with FakeVendor({("GET", "/api/v1/lookup"): sample}) as vendor, RunningHost(data) as host:
        api = host.api(admin)
        with skeleton_wheel.open("rb") as handle:
            answer = api.post(
                f"{host.url}/api/v1/integrations",
                files={"file": (skeleton_wheel.name, handle)},
            )
        assert answer.status_code == 200 and answer.json()["installed"] is True, answer.text
        values = {**vendor.config(manifest), manifest.secret_fields[0]: "host-test-key-77"}
        put = api.put(f"{host.url}/api/v1/operations/{NAME}/config", json={"values": values})
        assert put.status_code == 200, put.text
        kind = action.indicator_types[0].value
        job = api.post(
            f"{host.url}/api/v1/jobs",
            json={
                "operation": NAME,
                "action": action.name,
                "inputs": [{"type": kind, "value": "malware.example.com"}],
            },
        )
        assert job.status_code == 202, job.text
        job_url = f"{host.url}/api/v1/jobs/{job.json()['id']}"
        view = wait_for(
            lambda: (v := api.get(job_url).json())["status"] not in ("queued", "running") and v
        )
        assert view["status"] == "done", view
        (result,) = api.get(f"{job_url}/results").json()["results"]
    assert result["status"] == "ok", result
    assert {"type": "FQDN", "value": "malware.example.com"}.items() <= result["indicators"][
        0
    ].items()
    (request,) = vendor.requests
    assert request.query["value"] == ["malware.example.com"]
