"""The DCSO TIE actions, by the manifest's action names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqops import Indicator, Options

from .client import DEFAULT_GENERATION, TieClient


def search(client: TieClient, indicator: Indicator, options: Options) -> Iterable[Any]:
    """Search DCSO TIE: every page of IOCs with context for the selected indicator."""
    return client.search_iocs(indicator, options)


def test_connection(client: TieClient) -> str:
    """A one-result query with the configured credential, in the configured API version."""
    found = client.sample()
    version = client.variant or DEFAULT_GENERATION
    return (
        f"DCSO TIE at {client.http.where} (API {version}) accepted the credential "
        f"({found} IOC sampled)"
    )


ACTIONS = {"search": search}
