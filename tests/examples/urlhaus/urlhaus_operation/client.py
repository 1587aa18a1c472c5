"""The Urlhaus API over the shared HTTP client (``self.http``).

``self.http`` is built from the manifest: the host, TLS, proxy, timeout and pacing come from
the fields with those roles, the credential from its ``auth`` entry; it retries, paces, caps
the body, logs each call at ``-vv`` and never shows a secret. The client returns parsed JSON
and knows nothing of indicators beyond turning a selected one into a look-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tqops import ApiError, Indicator, IndicatorType, InputError, Options, VendorClient

#: the vendor's name in messages
VENDOR = "Urlhaus"
#: the look-up by value: GET LOOKUP_PATH?type=<kind>&value=<value>
LOOKUP_PATH = "/api/v1/lookup"
#: the connection test: a call that needs a valid key
STATUS_PATH = "/api/v1/status"

#: platform type -> the vendor's look-up type
LOOKUP_TYPES: Mapping[IndicatorType, str] = {
    IndicatorType.FQDN: "domain",
    IndicatorType.IP_ADDRESS: "ip",
    IndicatorType.URL: "url",
    IndicatorType.MD5: "md5",
    IndicatorType.SHA256: "sha256",
}


class UrlhausClient(VendorClient):
    """The vendor's API (the key goes in the header the manifest's ``auth`` names)."""

    def lookup(self, indicator: Indicator, options: Options) -> Iterator[Any]:
        """The vendor's answer for the indicator: nothing for a 404 or no results. The
        action's options that name a ``parameter`` in the manifest are sent as such."""
        kind = LOOKUP_TYPES.get(indicator.type)
        if kind is None:
            raise InputError(
                f"{VENDOR} cannot look up {indicator.type.value} indicators",
            )
        try:
            query = {"type": kind, "value": indicator.value, **options.parameters()}
            body, _ = self.http.get_json(LOOKUP_PATH, query)
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        if not isinstance(body, dict) or not isinstance(body.get("results", []), list):
            raise ApiError(
                f"{VENDOR} answered with an unexpected shape @ {LOOKUP_PATH}",
            )
        if body.get("results"):
            yield body

    def status(self) -> str:
        """What the vendor says of the key (a rejected key is an error)."""
        body, _ = self.http.get_json(STATUS_PATH)
        return str(body.get("status", "ok")) if isinstance(body, dict) else "ok"
