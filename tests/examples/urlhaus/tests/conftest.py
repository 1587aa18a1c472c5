"""The tests' loopback fake vendor: canned answers from the package's own samples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tqops.testing.fake_vendor import FakeVendor

from urlhaus_operation import OPERATION
from urlhaus_operation.client import HOST_PATH

SAMPLES = Path(OPERATION.package_dir or ".") / "samples"
API_KEY = "test-api-key-0a1b2c"


@pytest.fixture()
def vendor() -> Iterator[FakeVendor]:
    """The vendor on 127.0.0.1 over HTTPS: the sample answers every host look-up (a POST)."""
    sample = json.loads((SAMPLES / "lookup.json").read_text(encoding="utf-8"))
    routes = {("POST", HOST_PATH): sample}
    with FakeVendor(routes) as fake:
        yield fake


@pytest.fixture()
def config(vendor: FakeVendor) -> dict[str, str]:
    """A configuration pointing at the fake vendor (host and CA file found by their roles)."""
    secret = OPERATION.manifest.secret_fields[0]
    return {**vendor.config(OPERATION.manifest), secret: API_KEY}
