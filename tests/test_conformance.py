"""The shared conformance suite (:mod:`tqops.testing.conformance`), run over every installed
operation (found through the ``tqops.operations`` entry points) and each of its actions: a
third vendor gets it for free, and runs the same suite in its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from tqops import discover_operations
from tqops.testing import conformance
from tqops.testing.fake_vendor import FakeVendor, Reply

OPERATIONS = discover_operations()
CASES = conformance.cases(OPERATIONS)


def test_every_installed_operation_and_action_is_covered():
    assert OPERATIONS, "no operation is installed"
    covered = {(case.operation.name, case.action) for case in CASES}
    for name, operation in OPERATIONS.items():
        assert (name, None) in covered
        assert {(name, a.name) for a in operation.manifest.actions} <= covered


@pytest.mark.parametrize("case", CASES, ids=str)
def test_operation_conforms(case, tmp_path):
    case.run(tmp_path)


def _with_field(operation, role, **changes):
    """The operation with the field of ``role`` changed."""
    manifest = operation.manifest
    config = tuple(attrs.evolve(f, **changes) if f.role == role else f for f in manifest.config)
    return attrs.evolve(operation, manifest=attrs.evolve(manifest, config=config))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_suite_fails_an_operation_that_breaks_a_rule(name, tmp_path):
    operation = OPERATIONS[name]
    insecure = _with_field(operation, "verify_tls", default=False)
    with pytest.raises(AssertionError, match="TLS verification must default to on"):
        conformance.check_role_fields(insecure, tmp_path)
    unpackaged = attrs.evolve(operation, package=None)
    with pytest.raises(AssertionError, match="holds no samples"):
        conformance.check_samples_map(unpackaged, tmp_path)
    with pytest.raises(AssertionError):
        conformance.check_manifest_is_valid_and_packaged(unpackaged, tmp_path)


def test_the_testing_package_needs_no_pytest_and_tqops_never_imports_it():
    probe = (
        "import sys\n"
        "sys.modules['pytest'] = None  # importing it would fail\n"
        "import tqops, tqops.cli, tqops.service\n"
        "assert not [m for m in sys.modules if m.startswith('tqops.testing')]\n"
        "import tqops.testing.conformance, tqops.testing.fake_vendor\n"
        "assert 'trustme' not in sys.modules  # asked for only when a fake vendor starts\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr


def test_the_fake_vendor_answers_its_routes_and_keeps_every_request():
    import requests

    routes = {("GET", "/lookup"): {"hits": 1}, ("POST", "/search"): Reply({"ok": True}, 201)}
    with FakeVendor(routes) as vendor:
        session = requests.Session()
        session.trust_env = False
        session.verify = vendor.ca_file
        base = f"https://{vendor.hostname}"
        assert session.get(f"{base}/lookup", params={"q": "x"}).json() == {"hits": 1}
        posted = session.post(f"{base}/search", data={"query": "evil.example"})
        assert (posted.status_code, posted.json()) == (201, {"ok": True})
        assert session.post(f"{base}/search", json={"query": 1}).status_code == 201
        assert session.get(f"{base}/nowhere").status_code == 404
    first, form, body, missing = vendor.requests
    assert (first.method, first.path, first.query) == ("GET", "/lookup", {"q": ["x"]})
    assert form.form() == {"query": ["evil.example"]} and body.json() == {"query": 1}
    assert missing.path == "/nowhere"
    assert not Path(vendor.ca_file).exists()  # its test CA is gone with it


def test_the_fake_vendor_runs_from_a_shell_until_stopped(tmp_path):
    """`python -m tqops.testing.fake_vendor`, as docs/adding-an-operation.md runs it."""
    import requests

    answer = tmp_path / "status.json"
    answer.write_text('{"status": "ok"}')
    process = subprocess.Popen(
        [sys.executable, "-m", "tqops.testing.fake_vendor", "--get", f"/api/status={answer}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        host = process.stdout.readline().split()[-1]
        ca_file = process.stdout.readline().split()[-1]
        session = requests.Session()
        session.trust_env = False
        got = session.get(f"https://{host}/api/status", verify=ca_file, timeout=10)
        assert got.json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(10)
    refused = subprocess.run(
        [sys.executable, "-m", "tqops.testing.fake_vendor", "--get", "no-slash"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "PATH=FILE" in refused.stderr
