"""An integration uploaded to one host is every host's and worker's: the store keeps its file
beside its row, and each node installs it under its own data directory from there, checked
again (its SHA-256 must be the row's, and it must pass the upload's checks).

On a real SQLite file (the store and two nodes' data directories), and on Debian's PostgreSQL
with two ``tqops serve --workers 0`` replicas and a ``tqops worker``, each with a data
directory of its own, running the URLhaus example (tests/examples/urlhaus) built as an
integration file against a loopback fake vendor over TLS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from tests.support.hosting import ROOT, RunningHost, free_port, wait_for
from tests.test_workers import workers
from tqops.errors import ConfigError
from tqops.server.host import Host
from tqops.server.integrations import IntegrationError, Integrations, Limits, check_wheel
from tqops.server.runners import Runners
from tqops.server.store import Store
from tqops.server.store.migrations import MIGRATIONS
from tqops.server.store.operations import MAX_WHEEL
from tqops.server.users import Role, User
from tqops.testing.fake_vendor import FakeVendor

NAME = "urlhaus"
EXAMPLE = Path(__file__).parent / "examples" / NAME
SAMPLE = json.loads((EXAMPLE / "urlhaus_operation" / "samples" / "lookup.json").read_text())
HOST_PATH = "/v1/host/"
AUTH_KEY = "shared-urlhaus-key-3c9e"
#: what the URLhaus example maps URLhaus' threat to; version 0.2.0 renames it
THREAT = {"0.1.0": "Threat", "0.2.0": "Threat Kind"}
#: the MISP module of its look-up
MODULE = f"{NAME}_lookup"


def _build(source: Path, out: Path) -> Path:
    """The integration file of the URLhaus package in ``source`` (put on the path of a process
    of its own, never installed: other tests list every installed operation)."""
    code = (
        "import sys, pathlib\n"
        f"sys.path.insert(0, {str(source)!r})\n"
        "from urlhaus_operation import OPERATION\n"
        "from tqops.publishing.bundle import build_operation_wheel\n"
        f"print(build_operation_wheel(OPERATION, pathlib.Path({str(out)!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """The URLhaus example's integration file as it is (0.1.0) and upgraded (0.2.0: its threat
    attribute renamed, so a result says which version ran)."""
    made = {}
    for version, threat in THREAT.items():
        source = tmp_path_factory.mktemp(f"urlhaus-{version}")
        package = source / "urlhaus_operation"
        shutil.copytree(
            EXAMPLE / "urlhaus_operation", package, ignore=shutil.ignore_patterns("__pycache__")
        )
        manifest = package / "urlhaus.yaml"
        text = manifest.read_text().replace("version: 0.1.0", f"version: {version}")
        manifest.write_text(text.replace("{name: Threat,", f"{{name: {threat},"))
        changelog = package / "CHANGELOG.md"
        entry = f"## {version}\n\n### Changed\n- the threat is named {threat}.\n\n## 0.1.0"
        changelog.write_text(changelog.read_text().replace("## 0.1.0", entry, 1))
        made[version] = _build(source, tmp_path_factory.mktemp("dist"))
        assert made[version].name == f"tq_op_{NAME}-{version}-py3-none-any.whl"
    return made


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _upload(store: Store, node: Integrations, wheel: Path) -> dict[str, Any]:
    """What the host does with an upload: check it, install it here, keep it in the store."""
    data = wheel.read_bytes()
    checked = check_wheel(data, wheel.name)
    installed, _ = node.activate(checked, data)
    store.save_integration(
        checked.name, checked.version, str(installed.path), checked.sha256, "admin", data
    )
    (row,) = [r for r in store.integrations() if r["name"] == checked.name]
    return row


def _private(root: Path) -> None:
    """Every directory under ``root`` is 0700 and every file 0600, as an upload's are."""
    found = [root, *root.rglob("*")]
    assert len(found) > 3
    for path in found:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


# -- the store, on a real SQLite file ----------------------------------------------------------


def test_the_store_keeps_the_file_of_each_upload_until_it_is_replaced_or_removed(tmp_path):
    store = Store(tmp_path / "tqops.db")
    try:
        first, second = b"first wheel", b"second wheel"
        store.save_integration(NAME, "0.1.0", "/a/1", _sha(first), "admin", first)
        (row,) = store.integrations()
        assert "wheel" not in row and row["wheel_size"] == len(first)  # listed without it
        assert store.integration_wheel(NAME, _sha(first)) == first
        store.save_integration(NAME, "0.2.0", "/b/2", _sha(second), "admin", second)
        assert store.integration_wheel(NAME, _sha(first)) is None  # replaced by the upgrade
        assert store.integration_wheel(NAME, _sha(second)) == second
        with pytest.raises(ConfigError, match="not the one its SHA-256 names"):
            store.save_integration(NAME, "0.3.0", "/b/3", _sha(first), "admin", second)
        assert store.integration_wheel(NAME, _sha(second)) == second  # nothing was written
        store.remove_integration(NAME)
        assert store.integrations() == []
        assert store.integration_wheel(NAME, _sha(second)) is None
        assert store.scalar("SELECT COUNT(*) FROM integrations") == 0
    finally:
        store.close()


def test_the_store_keeps_a_file_only_within_the_upload_limit(tmp_path):
    assert Limits().upload == MAX_WHEEL  # the store's bound is the upload's
    store = Store(tmp_path / "tqops.db")
    try:
        big = b"\0" * (MAX_WHEEL + 1)
        with pytest.raises(ConfigError) as refused:
            store.save_integration(NAME, "0.1.0", "/a/1", _sha(big), "admin", big)
        assert "the upload limit" in str(refused.value) and "\n" not in str(refused.value)
        assert store.integrations() == []
        largest = b"\0" * MAX_WHEEL
        store.save_integration(NAME, "0.1.0", "/a/1", _sha(largest), "admin", largest)
        assert store.integrations()[0]["wheel_size"] == MAX_WHEEL
    finally:
        store.close()


def test_a_node_without_the_file_installs_it_from_the_store_checked_again(tmp_path, wheels):
    store = Store(tmp_path / "tqops.db")
    here = Integrations(tmp_path / "a" / "integrations", Runners())
    there = Integrations(tmp_path / "b" / "integrations", Runners())
    try:
        row = _upload(store, here, wheels["0.1.0"])
        assert row["wheel_size"] == wheels["0.1.0"].stat().st_size
        assert not there.root.exists()
        installed = there.present(row, store)
        assert installed.path.parent.parent == there.root  # its own data directory
        assert installed.sha256 == row["sha256"] == _sha(installed.wheel.read_bytes())
        _private(there.root / NAME)
        assert there.load(installed).manifest.version == "0.1.0"
        assert there.present(row, store) == installed  # present now: the store is not read

        # an upgrade: the node installs the new version beside the old one
        newer = _upload(store, here, wheels["0.2.0"])
        upgraded = there.present(newer, store)
        assert there.load(upgraded).manifest.version == "0.2.0"
        assert [i.version for i in there.installed_integrations()] == ["0.1.0", "0.2.0"]
    finally:
        store.close()


def test_a_file_tampered_with_in_the_store_is_refused_in_one_line(tmp_path, wheels):
    store = Store(tmp_path / "tqops.db")
    here = Integrations(tmp_path / "a" / "integrations", Runners())
    there = Integrations(tmp_path / "b" / "integrations", Runners())
    try:
        row = _upload(store, here, wheels["0.1.0"])
        other = wheels["0.2.0"].read_bytes()  # a real wheel, but not the one uploaded
        with store.transaction() as conn:
            conn.execute("UPDATE integrations SET wheel = ? WHERE name = ?", (other, NAME))
        with pytest.raises(IntegrationError) as refused:
            there.present(row, store)
        reason = str(refused.value)
        assert "SHA-256 differs" in reason and "upload it again" in reason and "\n" not in reason
        assert not there.root.exists()  # nothing written

        # a file and its row changed together still has to pass the upload's checks
        hostile = tmp_path / "hostile.whl"
        with zipfile.ZipFile(wheels["0.1.0"]) as source, zipfile.ZipFile(hostile, "w") as out:
            for info in source.infolist():
                out.writestr(info, source.read(info))
            out.writestr("../escape.py", b"print('out of the package')")
        data = hostile.read_bytes()
        with store.transaction() as conn:
            conn.execute(
                "UPDATE integrations SET wheel = ?, sha256 = ? WHERE name = ?",
                (data, _sha(data), NAME),
            )
        (changed,) = store.integrations()
        with pytest.raises(IntegrationError, match="leaves its package") as refused:
            there.present(changed, store)
        assert "\n" not in str(refused.value)
        assert not there.root.exists()

        # a row whose name would lead out of the data directory is refused before any path
        with pytest.raises(IntegrationError, match="did not write"):
            there.present({**changed, "name": "../../x"}, store)
    finally:
        store.close()


def test_a_row_from_before_the_store_kept_files_gets_the_file_of_a_node_that_has_it(
    tmp_path, wheels
):
    path = tmp_path / "tqops.db"
    data = wheels["0.1.0"].read_bytes()
    here = Integrations(tmp_path / "a" / "integrations", Runners())
    installed = here.install(check_wheel(data, wheels["0.1.0"].name), data)
    with sqlite3.connect(path) as conn:  # a store of the schema before the files were kept
        for number, migration in enumerate(MIGRATIONS[:-1]):
            conn.executescript(migration + f";PRAGMA user_version = {number + 1};")
        conn.execute(
            "INSERT INTO integrations (name, version, path, sha256, installed_at, installed_by) "
            "VALUES (?, '0.1.0', ?, ?, 'then', 'admin')",
            (NAME, str(installed.path), _sha(data)),
        )
    conn.close()
    store = Store(path)
    there = Integrations(tmp_path / "b" / "integrations", Runners())
    try:
        assert store.scalar("PRAGMA user_version") == len(MIGRATIONS)
        (row,) = store.integrations()
        assert row["wheel_size"] is None
        with pytest.raises(IntegrationError, match=r"keeps no file of it.*upload it again"):
            there.present(row, store)
        assert here.present(row, store) == installed  # the node that has it gives it
        (row,) = store.integrations()
        assert row["wheel_size"] == len(data)
        assert there.present(row, store).sha256 == _sha(data)
    finally:
        store.close()


def test_a_host_that_cannot_load_the_new_version_forgets_the_old_one_and_says_why(tmp_path, wheels):
    """Two hosts of one SQLite file, each with its own data directory: an upgrade whose file
    B refuses leaves B without the operation (never running the replaced version) and lists
    why; the host that has its copy goes on with it."""
    database = str(tmp_path / "shared.db")
    one = Host(tmp_path / "a", database=database, run_jobs=False)
    two = Host(tmp_path / "b", database=database, run_jobs=False)
    admin = User(0, "admin", Role.ADMIN)
    try:
        first, second = (wheels[v] for v in THREAT)
        assert one.installer.install(first.read_bytes(), first.name, admin)["installed"]
        two.installer.refresh()
        assert two.registry.get(NAME).manifest.version == "0.1.0"
        upgrade = one.installer.install(second.read_bytes(), second.name, admin, confirm=True)
        assert upgrade["installed"] is True
        with one.store.transaction() as conn:  # not the file uploaded
            conn.execute("UPDATE integrations SET wheel = ?", (first.read_bytes(),))
        two.installer.refresh()
        assert NAME not in two.registry.operations
        (broken,) = [o for o in two.hosted_operations() if o.name == NAME]
        assert "SHA-256 differs" in broken.to_dict()["error"]
        assert {"dcso_tie", "tego"} <= set(two.registry.operations)  # the others go on
        one.installer.refresh()
        assert one.registry.get(NAME).manifest.version == "0.2.0"
    finally:
        for host in (one, two):
            host.stop()
            host.store.close()


# -- two hosts and a worker on PostgreSQL ------------------------------------------------------


def _users(url: str, env: dict[str, str], where: Path) -> tuple[str, str]:
    made = {}
    for name, role in (("admin", "admin"), ("ana", "analyst")):
        done = subprocess.run(
            [sys.executable, "-m", "tqops.cli", "users", "add", name, "--role", role,
             "--database", url, "--format", "json", "--data", str(where)],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        made[name] = json.loads(done.stdout)["api_key"]
    return made["admin"], made["ana"]


def _send(host: RunningHost, key: str, wheel: Path, **params: str) -> dict[str, Any]:
    with wheel.open("rb") as handle:
        answer = host.api(key).post(
            f"{host.url}/api/v1/integrations", params=params, files={"file": (wheel.name, handle)}
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _operation(host: RunningHost, key: str) -> Any:
    return host.api(key).get(f"{host.url}/api/v1/operations/{NAME}")


def _ran(host: RunningHost, key: str, value: str) -> dict[str, Any]:
    """A job of the URLhaus look-up submitted to ``host``, once it has ended; its one result."""
    body = {"operation": NAME, "action": "lookup", "inputs": [{"type": "FQDN", "value": value}]}
    answer = host.api(key).post(f"{host.url}/api/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    job_url = f"{host.url}/api/v1/jobs/{answer.json()['id']}"
    view = wait_for(
        lambda: (
            (v := host.api(key).get(job_url).json())["status"] not in ("queued", "running") and v
        ),
        timeout=60,
    )
    assert view["status"] == "done", view
    (result,) = host.api(key).get(f"{job_url}/results").json()["results"]
    assert result["status"] == "ok", result
    return result


def _attribute_names(result: dict[str, Any]) -> set[str]:
    return {a["name"] for found in result["indicators"] for a in found["attributes"]}


def _misp_modules(url: str) -> list[str]:
    """The module names a MISP listener lists ([] while it is not up yet)."""
    client = requests.Session()
    client.trust_env = False
    try:
        return [m["name"] for m in client.get(url, timeout=10).json()]
    except requests.ConnectionError:
        return []


def _versions(data: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (data / "integrations" / NAME).glob("[!.]*"))


@pytest.mark.slow
def test_an_upload_to_one_host_reaches_every_host_and_worker_on_postgresql(
    postgres, tmp_path, wheels
):
    url = postgres.create_database()
    env = {
        "PGPASSWORD": postgres.password,
        "TQOPS_SECRET_KEY": Fernet.generate_key().decode(),  # the vault key all of them share
    }
    admin, analyst = _users(url, env, tmp_path / "cli")
    with contextlib.ExitStack() as stack:
        vendor = stack.enter_context(FakeVendor({("POST", HOST_PATH): SAMPLE}))
        replicas = []
        misp_port = free_port()
        for side, more in (("a", ()), ("b", ("--misp-modules", f"127.0.0.1:{misp_port}"))):
            (tmp_path / side).mkdir()
            replica = RunningHost(
                tmp_path / side / "data", env=env, args=("--database", url, "--workers", "0", *more)
            )
            replicas.append(stack.enter_context(replica))
        one, two = replicas
        modules = f"http://127.0.0.1:{misp_port}/modules"  # B's MISP listener: its own requests
        assert MODULE not in wait_for(lambda: _misp_modules(modules))
        worker_data = tmp_path / "w" / "data"
        stack.enter_context(workers(worker_data, {**env, "TQOPS_DATABASE_URL": url}, 1, 4))

        # uploaded to A: B lists it, installed from the store under its own data directory
        assert _send(one, admin, wheels["0.1.0"])["installed"] is True
        assert MODULE in _misp_modules(modules)  # asked of B's MISP listener first
        listed = _operation(two, analyst)
        assert listed.status_code == 200, listed.text
        assert (listed.json()["version"], listed.json()["source"]) == ("0.1.0", "uploaded")
        assert _versions(two.data) == ["0.1.0"]
        _private(two.data / "integrations" / NAME)

        # configured and run on B: the worker installs it from the store too and runs it
        values = {
            "hostname": vendor.hostname,
            "ca_bundle": vendor.ca_file,
            "auth_key": AUTH_KEY,
        }
        put = two.api(admin).put(
            f"{two.url}/api/v1/operations/{NAME}/config", json={"values": values}
        )
        assert put.status_code == 200, put.text
        result = _ran(two, analyst, "malware.example.com")
        assert THREAT["0.1.0"] in _attribute_names(result)
        assert _versions(worker_data) == ["0.1.0"]
        _private(worker_data / "integrations" / NAME)
        assert [r.form() for r in vendor.requests] == [{"host": ["malware.example.com"]}]

        # upgraded on B: A and the worker have the new version
        pending = _send(two, admin, wheels["0.2.0"])
        assert pending["installed"] is False and pending["upgrade"]["to"] == "0.2.0"
        assert _send(two, admin, wheels["0.2.0"], confirm="true")["installed"] is True
        assert _operation(one, analyst).json()["version"] == "0.2.0"
        result = _ran(one, analyst, "malware.example.com")
        assert THREAT["0.2.0"] in _attribute_names(result)  # the worker ran 0.2.0
        assert THREAT["0.1.0"] not in _attribute_names(result)
        assert _versions(two.data) == ["0.2.0"]  # B's copy of 0.1.0 was replaced
        assert "0.2.0" in _versions(worker_data)

        # removed on A: gone from B and from the worker
        removed = one.api(admin).delete(f"{one.url}/api/v1/integrations/{NAME}")
        assert removed.status_code == 200, removed.text
        assert MODULE not in _misp_modules(modules)
        gone = _operation(two, analyst)
        assert gone.status_code == 400 and "no operation named" in gone.json()["error"]
        body = {"operation": NAME, "action": "lookup", "inputs": [{"type": "FQDN", "value": "x"}]}
        refused = two.api(analyst).post(f"{two.url}/api/v1/jobs", json=body)
        assert refused.status_code == 400 and "no operation named" in refused.json()["error"]
        store = Store(postgres.with_password(url))
        try:  # a job of it that reaches the worker anyway: it no longer has the operation
            run = {"operation": NAME, "action": "lookup", "options": {}}
            job_id = store.create_job(run, [("FQDN", "late.example", "AMBER", None)], "ana")
            ended = wait_for(
                lambda: (j := store.job(job_id))["status"] not in ("queued", "running") and j,
                timeout=60,
            )
            assert ended["status"] == "failed" and NAME in ended["error"], ended

            # uploaded again, then its file tampered with in the store: a new replica refuses
            # it in one line, and goes on
            assert _send(one, admin, wheels["0.1.0"])["installed"] is True
            other = wheels["0.2.0"].read_bytes()
            with store.transaction() as conn:
                conn.execute("UPDATE integrations SET wheel = ? WHERE name = ?", (other, NAME))
        finally:
            store.close()
        (tmp_path / "c").mkdir()
        late = RunningHost(
            tmp_path / "c" / "data", env=env, args=("--database", url, "--workers", "0")
        )
        with late:
            listing = late.api(analyst).get(f"{late.url}/api/v1/operations").json()["operations"]
            broken = [o for o in listing if o["name"] == NAME]
            assert len(broken) == 1 and "error" in broken[0], broken
            assert "SHA-256 differs" in broken[0]["error"] and "\n" not in broken[0]["error"]
            assert any(o["name"] == "dcso_tie" and "error" not in o for o in listing)
            assert _operation(late, analyst).status_code == 400
            assert not (late.data / "integrations" / NAME).exists()
            assert late.terminate() == 0
            said = late.process.stderr.read() if late.process and late.process.stderr else ""
        assert f"integration {NAME} was not loaded" in said and "SHA-256 differs" in said
        # A, which has its checked copy, goes on with it
        assert _operation(one, analyst).json()["version"] == "0.1.0"
