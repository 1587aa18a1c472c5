"""How to reach one vendor (:class:`HttpSettings`), and which configuration field plays which
role, so that every hint names the field the admin actually sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional, Union
from urllib.parse import urlsplit

import attrs
import requests

from ..config import Config
from ..errors import ConfigError

__all__ = ["ROLES", "HttpSettings"]

#: the roles a configuration field can play for the HTTP layer (keys of ``HttpSettings.fields``)
ROLES = ("host", "credential", "verify_tls", "ca_file", "proxy", "timeout", "rate_limit")


def _mask_proxy(url: str) -> str:
    """The proxy URL with any ``user:password@`` masked, fit for messages and reprs."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        return url.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2])
    return url


def _check_proxy(url: str) -> str:
    """The proxy URL, normalised; a :class:`ConfigError` unless it is an http(s) proxy."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"proxy {_mask_proxy(url)!r} is not an http:// or https:// proxy URL @ --proxy"
        )
    return parts.geturl()


@attrs.frozen
class HttpSettings:
    """How to reach one vendor: base URL, TLS, proxies, timeouts, retries, pool size."""

    base_url: str
    verify: Union[bool, str] = True
    timeout: float = 30.0
    proxies: Mapping[str, str] = attrs.field(
        factory=dict, repr=lambda p: repr({k: _mask_proxy(v) for k, v in p.items()})
    )
    max_tries: int = 5
    backoff: float = 0.5
    max_retry_after: float = 60.0
    pool_size: int = 8
    #: pace calls to at most this many per second (None: no pacing)
    max_requests_per_second: Optional[float] = None
    #: role (one of :data:`ROLES`) -> the name of the manifest's field that plays it
    fields: Mapping[str, str] = attrs.field(factory=dict)

    def field(self, role: str) -> str:
        """The name of the configuration field playing ``role``; the role itself if unmapped."""
        return self.fields.get(role, role)

    @classmethod
    def from_config(
        cls,
        config: Config,
        proxy: Optional[str] = None,
        pool_size: int = 8,
        credential_field: Optional[str] = None,
    ) -> HttpSettings:
        """Settings from the fields that play the HTTP roles in the configuration's manifest
        (``role: host``, ``verify_tls``, ``ca_file``, ``proxy``, ``timeout``,
        ``rate_limit``); the manifest names them, this code never does."""
        manifest = config.manifest
        fields = {
            role: field.name
            for role in ROLES
            if (field := manifest.field_for_role(role)) is not None
        }
        if credential_field:
            fields["credential"] = credential_field
        host = config.by_role("host")
        if not host:
            raise ConfigError(f"{manifest.label} has no host to connect to @ $.config")
        base_url = f"https://{host}"
        verify: Union[bool, str] = bool(config.by_role("verify_tls", True))
        if verify and config.by_role("ca_file"):
            verify = str(config.by_role("ca_file"))
        proxies: dict[str, str] = {}
        if config.by_role("proxy"):
            if proxy:
                if not requests.utils.should_bypass_proxies(base_url, no_proxy=None):
                    checked = _check_proxy(proxy)
                    proxies = {"https": checked, "http": checked}
            else:
                found = requests.utils.get_environ_proxies(base_url, no_proxy=None)
                proxies = {k: v for k, v in found.items() if k in ("https", "http", "all")}
                for value in proxies.values():
                    _check_proxy(value)
        return cls(
            base_url=base_url,
            verify=verify,
            timeout=float(config.by_role("timeout") or 30.0),
            proxies=proxies,
            pool_size=max(1, pool_size),
            max_requests_per_second=config.by_role("rate_limit") or None,
            fields=fields,
        )
