"""A job that failed because its operation was not configured (or was disabled) offers no
resume that can only fail again: the host refuses it in one line, in the fields' labels (not
``@ $.config.license_key``), saying what an admin must do; once that is done, it resumes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.inprocess import finished
from tests.support.vendors import tego_config
from tqops.errors import ConfigError
from tqops.server.host import Host
from tqops.server.users import User

PASSWORD = "a password long enough"
INPUT = [{"type": "FQDN", "value": "www.example.com"}]


@pytest.fixture()
def host(tmp_path) -> Iterator[tuple[Host, User]]:
    made = Host(tmp_path / "data")
    admin = made.users.add("admin", "admin", PASSWORD)
    try:
        yield made, made.users.by_key(admin.api_key)
    finally:
        made.stop()


def test_a_job_that_failed_unconfigured_resumes_only_once_configured(host, tego):
    host, admin = host
    job = finished(host, host.create_job("tego", "search", {}, None, INPUT, admin))
    assert job["status"] == "failed"
    assert host.blocked("tego") == ("not configured", ("Tego License is required",))
    with pytest.raises(ConfigError) as refused:
        host.resume(job["id"], admin)
    said = str(refused.value)
    assert said == (
        f"job {job['id']} cannot resume while Tego is not configured (Tego License is "
        "required): an admin can configure it"
    )
    assert host.job(job["id"])["status"] == "failed"  # left as it was

    host.set_config("tego", tego_config(tego), admin)
    assert host.blocked("tego") == ("", ())
    resumed = finished(host, host.resume(job["id"], admin))
    assert resumed["status"] == "done", resumed


def test_a_job_of_a_disabled_operation_resumes_only_once_enabled(host, tego):
    host, admin = host
    host.set_config("tego", tego_config(tego), admin)
    host.set_settings("tego", {"enabled": False}, admin)
    job = finished(host, host.create_job("tego", "search", {}, None, INPUT, admin))
    assert job["status"] == "failed" and "Tego is disabled" in job["error"]
    with pytest.raises(ConfigError, match=r"while Tego is disabled: an admin can enable it$"):
        host.resume(job["id"], admin)
    host.set_settings("tego", {"enabled": True}, admin)
    assert finished(host, host.resume(job["id"], admin))["status"] == "done"
