"""TegoClient: the Tego Threat Feed API over one pooled session.

The License Key goes in the ``license`` header. Look-ups are
``GET /api/Main/search?type={ip|domain|hash|url}&value=...`` (ASSUMED: Tego publishes no API
reference; each assumption is one constant here). It knows nothing of indicators beyond
turning a selected one into a look-up type and value, and skips what Tego cannot look up
(:class:`~tqops.PolicySkip`) before anything is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from tqops import ApiError, Indicator, IndicatorType, InputError, PolicySkip, VendorClient

#: ASSUMED: the look-up by value
SEARCH_PATH = "/api/Main/search"
#: ASSUMED: the connection test (the feed's first page, the only call known to check the key)
TEST_PATH = "/api/Main/get/1"

#: platform type -> Tego look-up type (a Hostname is searched as a domain); url is ASSUMED
LOOKUP_TYPES: Mapping[IndicatorType, str] = {
    IndicatorType.IP_ADDRESS: "ip",
    IndicatorType.FQDN: "domain",
    IndicatorType.HOSTNAME: "domain",
    IndicatorType.URL: "url",
    IndicatorType.MD5: "hash",
    IndicatorType.SHA1: "hash",
    IndicatorType.SHA256: "hash",
}


def check_public_ipv4(value: str) -> str:
    """Tego holds public IPv4 addresses only: a malformed address is an :class:`InputError`;
    an IPv6, private or reserved one a :class:`PolicySkip` (policy: nothing is sent)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InputError(f"IP Address {value[:80]!r} is not a valid IPv4 address") from None
    if address.version != 4:
        raise PolicySkip(f"IP Address {value!r} is IPv6; Tego looks up public IPv4 addresses only")
    for flag, what in (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(address, flag):
            raise PolicySkip(
                f"IP Address {value!r} is {what} address; Tego looks up public IPv4 addresses "
                "only, so nothing was sent"
            )
    if not address.is_global:
        raise PolicySkip(
            f"IP Address {value!r} is not a public address; Tego looks up public IPv4 "
            "addresses only, so nothing was sent"
        )
    return value


class TegoClient(VendorClient):
    """The Tego Threat Feed API (the License Key goes in the ``license`` header, as the
    manifest's ``auth`` says)."""

    @staticmethod
    def build_query(indicator: Indicator) -> dict[str, str]:
        """Tego's look-up for a selected (already type-checked) indicator; nothing is sent."""
        lookup = LOOKUP_TYPES.get(indicator.type)
        if lookup is None:
            raise PolicySkip(f"Tego cannot look up {indicator.type.value} indicators")
        value = indicator.value
        if lookup == "ip":
            value = check_public_ipv4(value)
        return {"type": lookup, "value": value}

    def lookup(self, indicator: Indicator) -> Iterator[Any]:
        """The records Tego holds for the indicator: nothing for [], an empty body or 404."""
        params = self.build_query(indicator)
        try:
            body, _ = self.http.get_json(SEARCH_PATH, params)
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        if body is None or body == []:
            return
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
            raise ApiError(
                f"Tego answered with an unexpected shape @ {SEARCH_PATH}: expected a JSON "
                "array of records"
            )
        # A record answers the look-up it was asked for: where Tego leaves out its type or
        # the field of that type, they are the look-up's own. The mapping cannot say this with
        # a fixed type: one action looks up four kinds (ip, domain, url, hash), each record
        # says its own, and a Hostname look-up answers FQDN records.
        for record in body:
            if not record.get("type"):
                record["type"] = params["type"]
            if record["type"] == params["type"] and not record.get(params["type"]):
                record[params["type"]] = params["value"]
        yield body

    def check_license(self) -> int:
        """Fetch the feed's first page with the license; the number of records seen."""
        body, _ = self.http.get_json(TEST_PATH)
        if body is None:
            return 0
        if not isinstance(body, list):
            raise ApiError(f"Tego answered with an unexpected shape @ {TEST_PATH}")
        return len(body)
