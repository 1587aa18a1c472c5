"""The seconds settings the host's processes read from their environment: ``TQOPS_WORKER_LEASE``
and ``TQOPS_STORE_TIMEOUT`` are checked by one helper, each with its own range, and a bad value
is one line naming the variable and what it takes."""

from __future__ import annotations

import pytest

from tqops.errors import ConfigError
from tqops.server.settings import seconds_setting
from tqops.server.store.database import TIMEOUT_VARIABLE, store_timeout
from tqops.server.worker import LEASE_VARIABLE, lease_setting


def test_the_lease_takes_seconds_from_1_to_3600():
    assert lease_setting({}) == 30.0
    assert lease_setting({LEASE_VARIABLE: "  "}) == 30.0
    assert lease_setting({LEASE_VARIABLE: "1"}) == 1.0
    assert lease_setting({LEASE_VARIABLE: " 2.5 "}) == 2.5
    assert lease_setting({LEASE_VARIABLE: "3600"}) == 3600.0
    for bad in ("0.5", "3601", "-3", "nan", "inf", "thirty", "3" * 40):
        with pytest.raises(ConfigError) as refused:
            lease_setting({LEASE_VARIABLE: bad})
        assert str(refused.value) == (
            f"TQOPS_WORKER_LEASE is seconds from 1 to 3600 (default 30), not {bad[:20]!r}"
        )


def test_the_store_timeout_takes_seconds_above_0_to_86400():
    assert store_timeout({TIMEOUT_VARIABLE: "0.001"}) == 0.001
    assert store_timeout({TIMEOUT_VARIABLE: "86400"}) == 86_400.0
    for bad in ("0", "86401", "nan", "-inf", "soon"):
        with pytest.raises(ConfigError) as refused:
            store_timeout({TIMEOUT_VARIABLE: bad})
        assert str(refused.value) == (
            f"TQOPS_STORE_TIMEOUT is seconds from 0 to 86400 (for example 30), not {bad!r}"
        )


def test_the_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("TQOPS_TEST_SECONDS", "12")
    assert seconds_setting("TQOPS_TEST_SECONDS", 5, 1, 60, hint="default 5") == 12.0
    monkeypatch.delenv("TQOPS_TEST_SECONDS")
    assert seconds_setting("TQOPS_TEST_SECONDS", 5, 1, 60, hint="default 5") == 5
