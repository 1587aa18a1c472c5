"""The credentials the vendor simulators of ``tests/conftest.py`` accept, and the
configuration that reaches a running simulator over TLS (trusting the test CA)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Optional

#: DCSO TIE v1's bearer token
TIE_TOKEN = "tie-test-token-5f0c9a7d31"
#: DCSO TIE v2 and v3's HTTP Basic credentials (an IDM client ID and secret)
TIE_USER = "tie-test-idm-client"
TIE_KEY = "CANARY-KEY-51c0de7e9a"
#: Tego's license key
TEGO_LICENSE = "tego-test-license-77c1e2b9"


def tie_config(sim: Any, token: Optional[str] = TIE_TOKEN, **extra: Optional[str]) -> dict:
    """DCSO TIE's v1 configuration against ``sim``; ``extra`` adds fields (None drops one)."""
    fields = {"hostname": sim.hostname, "access_token": token, "ca_bundle": sim.ca_pem_path}
    return {**fields, **extra}


def tego_config(
    sim: Any, license_key: Optional[str] = TEGO_LICENSE, **extra: Optional[str]
) -> dict:
    """Tego's configuration against ``sim``; ``extra`` adds fields (None drops one)."""
    fields = {"hostname": sim.hostname, "license_key": license_key, "ca_bundle": sim.ca_pem_path}
    return {**fields, **extra}


@contextlib.contextmanager
def paced(sim: Any, seconds: float) -> Iterator[Any]:
    """``sim`` taking ``seconds`` over each answer, for as long as the block lasts."""
    before, sim.latency = sim.latency, seconds
    try:
        yield sim
    finally:
        sim.latency = before
