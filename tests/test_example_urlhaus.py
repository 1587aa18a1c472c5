"""A third operation written from the guide alone (tests/examples/urlhaus: abuse.ch URLhaus'
host look-up, a POST) works with no change to tqops and without being installed: its package is
put on the path here, never pip-installed (other tests list every installed operation)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tqops import Operation
from tqops.testing import conformance
from tqops.testing.fake_vendor import FakeVendor, Reply, SeenRequest

EXAMPLE = Path(__file__).parent / "examples" / "urlhaus"
MANIFEST = EXAMPLE / "urlhaus_operation" / "urlhaus.yaml"
HOST_PATH = "/v1/host/"
AUTH_KEY = "urlhaus-canary-5d1e7f0a"
SAMPLE = json.loads((EXAMPLE / "urlhaus_operation" / "samples" / "lookup.json").read_text())


def _load() -> Operation:
    """The example's OPERATION, imported from its folder (the path is restored afterwards)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module("urlhaus_operation").OPERATION
    finally:
        sys.path.remove(str(EXAMPLE))


OPERATION = _load()


class BusyVendor(FakeVendor):
    """A fake vendor whose first ``busy`` answers are 503s, whatever the route."""

    def __init__(self, routes: dict, busy: int) -> None:
        super().__init__(routes)
        self.busy = busy

    def reply_to(self, request: SeenRequest) -> Reply:
        reply = super().reply_to(request)  # keeps the request
        if self.busy > 0:
            self.busy -= 1
            return Reply({"error": "busy"}, 503, {"Retry-After": "0"})
        return reply


def _run(vendor: FakeVendor, *inputs: tuple[str, str]) -> list:
    config = {**vendor.config(OPERATION.manifest), "auth_key": AUTH_KEY}
    with OPERATION.configure(config) as configured:
        results = list(configured.run("lookup", {}, list(inputs)))
        assert AUTH_KEY not in repr(configured)
    for result in results:
        assert AUTH_KEY not in repr(result)
        assert AUTH_KEY not in json.dumps(result.to_dict())
    return results


@pytest.fixture()
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor({("POST", HOST_PATH): SAMPLE}) as fake:
        yield fake


def test_the_manifest_validates_from_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "tqops.cli", "validate", str(MANIFEST)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK "), done.stdout


@pytest.mark.parametrize("case", conformance.cases(OPERATION), ids=str)
def test_conformance(case, tmp_path):
    case.run(tmp_path)


def test_a_host_maps_to_its_urls_with_their_attributes(vendor):
    (result,) = _run(vendor, ("FQDN", "malware.example.com"))
    assert result.status.value == "ok", result.error
    found = {i.value: i for i in result.indicators}
    assert set(found) == {"http://malware.example.com/bad.exe", "http://malware.example.com/i.sh"}
    assert {i.type.value for i in result.indicators} == {"URL"}
    bad = found["http://malware.example.com/bad.exe"]
    assert bad.published_at == datetime(2024, 1, 2, 10, 11, 12, tzinfo=timezone.utc)
    assert sorted((a.name, a.value) for a in bad.attributes) == [
        ("Tag", "Mozi"),
        ("Tag", "exe"),
        ("Threat", "malware_download"),
        ("URL Status", "online"),
    ]
    assert all(a.published_at == bad.published_at for a in bad.attributes)
    untagged = found["http://malware.example.com/i.sh"]  # "tags": null gives no Tag
    assert sorted(a.name for a in untagged.attributes) == ["Threat", "URL Status"]
    assert not result.warnings  # every key of a URL is read or ignored on purpose
    (request,) = vendor.requests
    assert (request.method, request.path, request.query) == ("POST", HOST_PATH, {})
    assert request.form() == {"host": ["malware.example.com"]}
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["auth-key"] == AUTH_KEY


def test_an_ip_address_is_looked_up_as_a_host(vendor):
    (result,) = _run(vendor, ("IP Address", "192.0.2.7"))
    assert result.status.value == "ok", result.error
    assert [r.form() for r in vendor.requests] == [{"host": ["192.0.2.7"]}]


def test_the_look_up_is_retried_after_a_503():
    with BusyVendor({("POST", HOST_PATH): SAMPLE}, busy=1) as busy:
        (result,) = _run(busy, ("FQDN", "malware.example.com"))
        assert result.status.value == "ok", result.error
        assert len(result.indicators) == 2
        assert [(r.method, r.form()) for r in busy.requests] == [
            ("POST", {"host": ["malware.example.com"]})
        ] * 2


def test_an_unknown_host_has_no_results():
    with FakeVendor({("POST", HOST_PATH): {"query_status": "no_results"}}) as fake:
        (result,) = _run(fake, ("FQDN", "unknown.example.org"))
    assert (result.status.value, result.indicators, result.error) == ("no_results", (), None)


def test_a_host_urlhaus_refuses_is_that_inputs_error():
    with FakeVendor({("POST", HOST_PATH): {"query_status": "invalid_host"}}) as fake:
        (result,) = _run(fake, ("FQDN", "host.invalid"))
        assert len(fake.requests) == 1
    assert result.status.value == "error"
    assert "URLhaus does not take 'host.invalid' as a host" in result.error
    assert "\n" not in result.error


def test_a_value_of_another_type_is_refused_before_sending(vendor):
    (result,) = _run(vendor, ("URL", "http://malware.example.com/bad.exe"))
    assert result.status.value == "skipped"  # policy, not a failure
    assert "FQDN" in result.reason and "IP Address" in result.reason, result.reason
    assert vendor.requests == []


def test_a_broken_host_is_refused_before_sending(vendor):
    (result,) = _run(vendor, ("FQDN", "bad_host.example"))
    assert result.status.value == "error"
    assert "'bad_host.example' is not a valid domain name" in result.error
    assert vendor.requests == []


def test_a_rejected_key_echoed_by_the_vendor_is_not_shown():
    answer = Reply({"error": f"unknown Auth-Key {AUTH_KEY}"}, 401)
    with FakeVendor({("POST", HOST_PATH): answer}) as fake:
        (result,) = _run(fake, ("FQDN", "malware.example.com"))
        assert len(fake.requests) == 1  # a 401 is never retried
    assert result.status.value == "error"
    assert "401" in result.error and AUTH_KEY not in result.error
    assert AUTH_KEY not in repr(OPERATION)


def test_the_connection_test_looks_up_a_host_with_the_key(vendor):
    config = {**vendor.config(OPERATION.manifest), "auth_key": AUTH_KEY}
    with OPERATION.configure(config) as configured:
        line = configured.test_connection()
    assert "accepted the Auth-Key (query_status ok)" in line and AUTH_KEY not in line
    (request,) = vendor.requests
    assert request.headers["auth-key"] == AUTH_KEY


@pytest.mark.slow
def test_the_examples_own_tests_pass():
    """The example's own suite, as its author runs it: pytest in its folder, here with the
    package on PYTHONPATH instead of installed."""
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout
