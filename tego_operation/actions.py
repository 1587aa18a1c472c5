"""The Tego actions, by the manifest's action names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tqops import Indicator

from .client import TegoClient


def search(client: TegoClient, indicator: Indicator, options: Mapping[str, Any]) -> Iterable[Any]:
    """Search Tego: the records it holds for the selected indicator."""
    return client.lookup(indicator)


def test_connection(client: TegoClient) -> str:
    """Fetch the feed's first page with the configured license."""
    records = client.check_license()
    return f"Tego at {client.http.where} accepted the license key ({records} record(s) read)"


ACTIONS = {"search": search}
