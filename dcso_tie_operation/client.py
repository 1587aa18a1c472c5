"""TieClient: DCSO TIE's three API generations over one pooled session.

Which one it speaks is the configuration's variant (the manifest's ``api_version`` field, role
``variant``); the manifest also says how each authenticates and in which parameter the value
goes. Per generation (:data:`GENERATIONS`):

- ``v1``, the guide's API: ``/api/v1/iocs-with-context``, records in ``iocs``, the next page
  from ``Link: rel=next``, else ``has_more`` with the offset.
- ``v2``, DCSO's 2023 TI engine: ``/tie/v1/iocs``, the v1 parameter family and paging.
- ``v3``: ``/tie/v3/iocs``, records in ``results``, the next page asked for with the response's
  ``next`` cursor while ``hasMore``; hashes are sent without their ``md5:`` prefix.

It returns parsed JSON and knows nothing of indicators beyond turning a selected one into
TIE's value and ``data_type``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Optional
from urllib.parse import urljoin

import attrs

from tqops import (
    ApiError,
    Indicator,
    IndicatorType,
    InputError,
    Notice,
    Options,
    PolicySkip,
    VendorClient,
    describe_json,
)

#: IOCs per page (DCSO's clients use up to 1000; the guide's echo shows 50) [assumed]
PAGE_SIZE = 500
#: pages read per indicator before stopping with a warning [assumed]
MAX_PAGES = 20

#: platform type -> TIE data_type (v1, v2); None: search without a data_type (ASN) [assumed]
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
#: TIE v1 and v2 store hashes with their algorithm as a prefix
HASH_PREFIXES: Mapping[IndicatorType, str] = {
    IndicatorType.MD5: "md5:",
    IndicatorType.SHA1: "sha1:",
    IndicatorType.SHA256: "sha256:",
}


@attrs.frozen
class Generation:
    """What differs between TIE's API generations, besides auth and the value's parameter
    (both in the manifest)."""

    path: str
    #: the envelope key of the record list
    records: str
    #: the v1 query family: hash prefixes, ``exact``, ``data_type`` and ``%`` wildcards
    v1_family: bool
    #: how the next page is found: ``links`` (Link rel=next, else has_more + offset) or
    #: ``cursor`` (``next`` while ``hasMore``)
    paging: str


GENERATIONS: Mapping[str, Generation] = {
    "v1": Generation("/api/v1/iocs-with-context", "iocs", True, "links"),
    "v2": Generation("/tie/v1/iocs", "iocs", True, "links"),
    "v3": Generation("/tie/v3/iocs", "results", False, "cursor"),
}
#: the generation of a client given no variant (the guide's API)
DEFAULT_GENERATION = "v1"
#: the v1 API's value parameter, for options checked without a configuration
V1_VALUE_PARAMETER = "value"
#: the v1 path, kept for callers of the 1.0 client
SEARCH_PATH = GENERATIONS[DEFAULT_GENERATION].path


def generation(variant: Optional[str]) -> Generation:
    """The generation of a variant key (None: the default one)."""
    return GENERATIONS[variant or DEFAULT_GENERATION]


class TieClient(VendorClient):
    """The DCSO TIE API, in the generation of the configuration's variant."""

    VARIANTS = frozenset(GENERATIONS)

    @property
    def generation(self) -> Generation:
        return generation(self.variant)

    @staticmethod
    def build_query(
        indicator: Indicator, options: Options, variant: Optional[str] = None
    ) -> dict[str, str]:
        """TIE's query for a selected indicator and checked options (nothing sent yet)."""
        speaks = generation(variant or options.variant)
        if indicator.type not in DATA_TYPES:
            raise PolicySkip(f"DCSO TIE cannot search {indicator.type.value} indicators")
        value = indicator.value
        if speaks.v1_family:
            value = HASH_PREFIXES.get(indicator.type, "") + value
            if "%" in indicator.value and indicator.type is not IndicatorType.URL:
                raise InputError(
                    f"{indicator.type.value} {indicator.value[:80]!r} contains '%', TIE's "
                    "wildcard; use the Wildcard Prefix or Wildcard Suffix options instead"
                )
        if not options.value_parameter:
            options = attrs.evolve(options, value_parameter=V1_VALUE_PARAMETER)
        query = options.query(value)
        params = dict(list(query.items())[:1])  # the value first, as DCSO's clients send it
        if speaks.v1_family:
            params["exact"] = "false"
            data_type = DATA_TYPES[indicator.type]
            if data_type:
                params["data_type"] = data_type
        params.update(query)
        params["limit"] = str(PAGE_SIZE)
        return params

    def _page(self, target: str, params: Optional[dict[str, str]]) -> tuple[dict[str, Any], Any]:
        """One page, checked to hold the generation's record list."""
        speaks = self.generation
        body, response = self.http.get_json(target, params)
        if not isinstance(body, dict) or not isinstance(body.get(speaks.records), list):
            raise ApiError(
                f"DCSO TIE answered with an unexpected shape @ {speaks.path}: expected an "
                f"object with {_article(speaks.records)} {speaks.records!r} list, got "
                f"{describe_json(body)}"
            )
        return body, response

    def search_iocs(self, indicator: Indicator, options: Options) -> Iterator[Any]:
        """Every page of IOCs matching the indicator (parsed JSON), then notices if capped."""
        speaks = self.generation
        base = self.build_query(indicator, options, self.variant)
        target, params = speaks.path, dict(base)
        seen: set[str] = set()
        offset = 0
        for _page in range(MAX_PAGES):
            body, response = self._page(target, params)
            yield body
            records = body[speaks.records]
            if speaks.paging == "cursor":
                cursor = body.get("next")
                if body.get("hasMore") is not True or cursor in (None, ""):
                    return
                target, params = speaks.path, {**base, "next": str(cursor)}
            else:
                next_link = response.links.get("next", {}).get("url")
                if next_link:
                    here = self.http.settings.base_url + speaks.path
                    target, params = urljoin(here, next_link), None
                elif body.get("has_more") is True and records:
                    offset += len(records)
                    target, params = speaks.path, {**base, "offset": str(offset)}
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
        """One-result query: proves reachability, TLS and the credential. Returns IOCs seen."""
        body, _ = self._page(self.generation.path, {"limit": "1"})
        return len(body[self.generation.records])


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
