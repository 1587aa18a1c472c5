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
    """URLhaus' answer for the selected host."""
    return client.lookup(indicator, options)


def test_connection(client: UrlhausClient) -> str:
    """Look up one host with the configured Auth-Key."""
    return f"{client.http.where} accepted the Auth-Key (query_status {client.status()})"


ACTIONS = {"lookup": lookup}
