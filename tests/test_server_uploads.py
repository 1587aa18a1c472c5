"""Uploading integration files to a real host: install, the upgrade report and its confirmation,
refusals, removal, and uploads that survive a restart."""

from __future__ import annotations

import re

import pytest

from tests.support.hosting import RunningHost, add_user
from tests.support.vendors import TIE_TOKEN
from tests.test_server_integrations import setting, variant, wheel_of
from tqops.service import Service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    Service().bundle("dcso_tie", out)
    return out


@pytest.fixture()
def host(tmp_path):
    data = tmp_path / "data"
    keys = {role: add_user(data, role, role)["api_key"] for role in ("admin", "analyst", "viewer")}
    with RunningHost(data) as running:
        running.keys = keys
        yield running


def upload(host, path, role="admin", **params):
    with open(path, "rb") as handle:
        return host.api(host.keys[role]).post(
            f"{host.url}/api/v1/integrations", params=params, files={"file": (path.name, handle)}
        )


def version_of(host, name="dcso_tie"):
    return host.api(host.keys["viewer"]).get(f"{host.url}/api/v1/operations/{name}").json()


def with_field(files):
    """The manifest gains a required field with no default: an admin must act."""
    for name in list(files):
        if name.endswith("/dcso_tie.yaml"):
            text = files[name].decode()
            added = (
                "config:\n  - name: tenant\n    label: Tenant\n    type: text\n"
                "    required: true\n    description: The DCSO tenant.\n"
            )
            files[name] = text.replace("config:\n", added, 1).encode()


def test_an_upload_installs_and_an_upgrade_waits_for_confirmation(host, dist, tmp_path, tie):
    answer = upload(host, wheel_of(dist))
    assert answer.status_code == 200, answer.text
    assert answer.json()["installed"] is True
    assert version_of(host)["source"] == "uploaded"
    admin = host.api(host.keys["admin"])
    config = f"{host.url}/api/v1/operations/dcso_tie/config"
    admin.put(config, json={"values": {"hostname": tie.hostname, "access_token": TIE_TOKEN}})

    newer = variant(dist, tmp_path, with_field, version="9.0.0")
    pending = upload(host, newer)
    assert pending.status_code == 200 and pending.json()["installed"] is False
    report = pending.json()["upgrade"]
    assert report["to"] == "9.0.0" and report["needs_action"] >= 1
    assert any("tenant" in change["what"] for change in report["changes"])
    assert version_of(host)["version"] != "9.0.0"

    done = upload(host, newer, confirm="true")
    assert done.status_code == 200 and done.json()["installed"] is True
    assert version_of(host)["version"] == "9.0.0"
    kept = admin.get(config).json()["values"]
    assert kept["hostname"] == tie.hostname and kept["access_token"] == "********"

    older = upload(host, wheel_of(dist))
    assert older.status_code == 409 and "older" in older.json()["error"]
    assert upload(host, wheel_of(dist), force="true").json()["installed"] is True

    removed = admin.delete(f"{host.url}/api/v1/integrations/dcso_tie")
    assert removed.status_code == 200
    assert version_of(host)["source"] == "installed with tqops"


def test_only_an_admin_uploads_and_a_bad_file_is_one_line(host, dist, tmp_path):
    assert upload(host, wheel_of(dist), role="analyst").status_code == 403
    assert host.api().post(f"{host.url}/api/v1/integrations").status_code == 401
    bogus = tmp_path / "tq_op_dcso_tie-1.0.0-py3-none-any.whl"
    bogus.write_bytes(b"not a zip at all")
    refused = upload(host, bogus)
    assert refused.status_code == 400 and "\n" not in refused.json()["error"]
    escape = variant(dist, tmp_path, setting("../../evil.py", b"print('x')"), version="7.0.0")
    refused = upload(host, escape, confirm="true")
    assert refused.status_code == 400 and "evil.py" in refused.json()["error"]
    plain = host.api(host.keys["admin"]).post(f"{host.url}/api/v1/integrations", data="x")
    assert plain.status_code == 400
    assert not [p for p in (host.data / "integrations").rglob("*.py") if "evil" in p.name]


def test_an_uploaded_version_is_active_again_after_a_restart(tmp_path, dist):
    data = tmp_path / "data"
    key = add_user(data, "admin", "admin")["api_key"]
    newer = variant(dist, tmp_path, version="9.1.0")
    with RunningHost(data) as running:
        running.keys = {"admin": key, "viewer": key}
        assert upload(running, newer, confirm="true").json()["installed"] is True
    with RunningHost(data) as again:
        again.keys = {"admin": key, "viewer": key}
        assert version_of(again)["version"] == "9.1.0"
        assert re.fullmatch(r"\d{4}-.*Z", version_of(again)["installed_at"])
