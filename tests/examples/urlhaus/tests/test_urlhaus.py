"""The shared conformance suite on this operation, and its action run end to end against the
loopback fake vendor of conftest.py."""

from __future__ import annotations

import pytest
from tqops.testing import conformance

from urlhaus_operation import OPERATION
from urlhaus_operation.client import HOST_PATH


@pytest.mark.parametrize("case", conformance.cases(OPERATION), ids=str)
def test_conformance(case, tmp_path):
    case.run(tmp_path)


def test_lookup_maps_the_vendors_answer(vendor, config):
    with OPERATION.configure(config) as configured:
        (result,) = configured.run("lookup", {}, [("FQDN", "malware.example.com")])
    assert result.status.value == "ok", result.error
    found = {(i.type.value, i.value) for i in result.indicators}
    assert found == {
        ("URL", "http://malware.example.com/bad.exe"),
        ("URL", "http://malware.example.com/i.sh"),
    }
    (request,) = vendor.requests
    assert (request.method, request.path) == ("POST", HOST_PATH)
    assert request.form() == {"host": ["malware.example.com"]}
    secret = OPERATION.manifest.secret_fields[0]
    assert request.headers["auth-key"] == config[secret]


def test_connection_test_passes_against_the_fake(vendor, config):
    with OPERATION.configure(config) as configured:
        assert "accepted" in configured.test_connection()
