"""The DCSO TIE actions, by the manifest's action names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqops import Indicator, Options

from .client import TieClient


def search(client: TieClient, indicator: Indicator, options: Options) -> Iterable[Any]:
    """Search DCSO TIE: every page of IOCs with context for the selected indicator."""
    return client.search_iocs(indicator, options)


def test_connection(client: TieClient) -> str:
    """A one-result search with the configured token."""
    found = client.sample()
    return f"DCSO TIE at {client.http.where} accepted the access token ({found} IOC sampled)"


ACTIONS = {"search": search}
