"""The URLhaus API over the shared HTTP client (``self.http``).

``self.http`` is built from the manifest: the host, TLS, proxy, timeout and pacing come from
the fields with those roles, the credential from its ``auth`` entry; it retries, paces, caps
the body, logs each call at ``-vv`` and never shows a secret. The client returns parsed JSON
and knows nothing of indicators beyond turning a selected one into a look-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tqops import ApiError, Indicator, InputError, Options, VendorClient

#: the vendor's name in messages
VENDOR = "URLhaus"
#: the host look-up: POST HOST_PATH with the form host=<FQDN or IP>
HOST_PATH = "/v1/host/"
#: a host the connection test looks up: any answer but a rejected key will do
CONNECTION_TEST_HOST = "urlhaus.abuse.ch"


class UrlhausClient(VendorClient):
    """The URLhaus API (the Auth-Key goes in the header the manifest's ``auth`` names)."""

    def lookup(self, indicator: Indicator, options: Options) -> Iterator[Any]:
        """URLhaus' answer for the host: nothing when it does not know it."""
        body = self._host(indicator.value)
        status = body.get("query_status")
        if status == "no_results":
            return
        if status == "invalid_host":
            raise InputError(f"{VENDOR} does not take {indicator.value!r} as a host")
        if status != "ok" or not isinstance(body.get("urls", []), list):
            raise ApiError(f"{VENDOR} answered query_status {status!r} @ {HOST_PATH}")
        yield body

    def status(self) -> str:
        """The query status of one look-up (a rejected key is an error)."""
        return str(self._host(CONNECTION_TEST_HOST).get("query_status"))

    def _host(self, host: str) -> dict[str, Any]:
        """One host look-up: a POST, but it changes nothing, so it is retried like a GET."""
        body, _ = self.http.post_json(HOST_PATH, data={"host": host}, idempotent=True)
        if not isinstance(body, dict):
            raise ApiError(f"{VENDOR} answered with an unexpected shape @ {HOST_PATH}")
        return body
