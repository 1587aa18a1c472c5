"""The actions, by the manifest's action names, and the connection test."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqops import Indicator, Options

from .client import UrlhausClient


def lookup(
    client: UrlhausClient,
    indicator: Indicator,
    options: Options,
) -> Iterable[Any]:
    """The vendor's responses for the selected indicator."""
    return client.lookup(indicator, options)


def test_connection(client: UrlhausClient) -> str:
    """Call the status endpoint with the configured key."""
    return f"{client.http.where} accepted the API key ({client.status()})"


ACTIONS = {"lookup": lookup}
