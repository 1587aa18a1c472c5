"""TieClient: DCSO TIE's ``/api/v1/iocs-with-context`` over one pooled session.

It builds the query exactly as DCSO's public clients do, follows ``Link: rel=next`` (else
``has_more`` with the offset) up to a page cap, and returns parsed JSON. It knows nothing of
indicators beyond turning a selected one into TIE's value and ``data_type``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional
from urllib.parse import urljoin

from tqops import ApiError, Indicator, IndicatorType, InputError, Notice, Options, VendorClient

SEARCH_PATH = "/api/v1/iocs-with-context"
#: IOCs per page (DCSO's clients use up to 1000; the guide's echo shows 50) [assumed]
PAGE_SIZE = 500
#: pages read per indicator before stopping with a warning [assumed]
MAX_PAGES = 20

#: platform type -> TIE data_type; None: search without a data_type (ASN) [assumed]
DATA_TYPES: Mapping[IndicatorType, Optional[str]] = {
    IndicatorType.FQDN: "DomainName",
    IndicatorType.IP_ADDRESS: "IPv4",
    IndicatorType.IPV6_ADDRESS: "IPv6",
    IndicatorType.URL: "URLVerbatim",
    IndicatorType.EMAIL_ADDRESS: "EMail",
    IndicatorType.FILENAME: "FileName",
    IndicatorType.MD5: "ExactHash",
    IndicatorType.SHA1: "ExactHash",
    IndicatorType.SHA256: "ExactHash",
    IndicatorType.ASN: None,
}
#: TIE stores hashes with their algorithm as a prefix
HASH_PREFIXES: Mapping[IndicatorType, str] = {
    IndicatorType.MD5: "md5:",
    IndicatorType.SHA1: "sha1:",
    IndicatorType.SHA256: "sha256:",
}


class TieClient(VendorClient):
    """The DCSO TIE API."""

    @staticmethod
    def build_query(indicator: Indicator, options: Options) -> dict[str, str]:
        """TIE's query for a selected indicator and checked options (nothing sent yet)."""
        if indicator.type not in DATA_TYPES:
            raise InputError(f"DCSO TIE cannot search {indicator.type.value} indicators")
        value = HASH_PREFIXES.get(indicator.type, "") + indicator.value
        if "%" in indicator.value and indicator.type is not IndicatorType.URL:
            raise InputError(
                f"{indicator.type.value} {indicator.value[:80]!r} contains '%', TIE's wildcard; "
                "use the Wildcard Prefix or Wildcard Suffix options instead"
            )
        params = {"value": options.wrap_value(value), "exact": "false"}
        data_type = DATA_TYPES[indicator.type]
        if data_type:
            params["data_type"] = data_type
        params.update(options.parameters())
        params["limit"] = str(PAGE_SIZE)
        return params

    def search_iocs(self, indicator: Indicator, options: Options) -> Iterator[Any]:
        """Every page of IOCs matching the indicator (parsed JSON), then notices if capped."""
        params: Optional[dict[str, str]] = self.build_query(indicator, options)
        target = SEARCH_PATH
        seen: set[str] = set()
        offset = 0
        for _page in range(MAX_PAGES):
            body, response = self.http.get_json(target, params)
            if not isinstance(body, dict) or not isinstance(body.get("iocs"), list):
                raise ApiError(
                    f"DCSO TIE answered with an unexpected shape @ {SEARCH_PATH}: expected an "
                    "object with an 'iocs' list"
                )
            yield body
            iocs = body["iocs"]
            next_link = response.links.get("next", {}).get("url")
            if next_link:
                target, params = urljoin(self.http.settings.base_url + SEARCH_PATH, next_link), None
            elif body.get("has_more") is True and iocs:
                offset += len(iocs)
                base = self.build_query(indicator, options)
                target, params = SEARCH_PATH, {**base, "offset": str(offset)}
            else:
                return
            key = target + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
            if key in seen:
                yield Notice("DCSO TIE repeated a page; paging stopped there")
                return
            seen.add(key)
        yield Notice(
            f"stopped after {MAX_PAGES} pages ({MAX_PAGES * PAGE_SIZE} IOCs at most); "
            "narrow the search with options to see the rest"
        )

    def sample(self) -> int:
        """One-result search: proves reachability, TLS and the token. Returns IOCs seen."""
        body, _ = self.http.get_json(SEARCH_PATH, {"limit": "1"})
        if not isinstance(body, dict) or not isinstance(body.get("iocs"), list):
            raise ApiError(f"DCSO TIE answered with an unexpected shape @ {SEARCH_PATH}")
        return len(body["iocs"])
