"""How to reach one vendor (:class:`HttpSettings`), and which configuration field plays which
role, so that every hint names the field the admin actually sees."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Optional, Union
from urllib.parse import urlsplit

import attrs
import requests

from tqops.config.values import Config
from tqops.errors import ConfigError

__all__ = ["ROLES", "HttpSettings"]

#: the roles a configuration field can play for the HTTP layer (keys of ``HttpSettings.fields``)
ROLES = ("host", "credential", "verify_tls", "ca_file", "proxy", "timeout", "rate_limit")


def _netloc(url: str) -> str:
    """``[user:password@]host[:port]`` of a URL, found without parsing it (it may be
    malformed)."""
    return url.split("://", 1)[-1].split("/", 1)[0]


def _mask_proxy(url: str) -> str:
    """The proxy URL with any ``user:password@`` masked, fit for messages and reprs."""
    netloc = _netloc(url)
    if "@" in netloc:  # masked without parsing: a malformed URL may still carry a password
        return url.replace(netloc, "***@" + netloc.rpartition("@")[2], 1)
    return url


def _check_proxy(url: str, where: str = "--proxy") -> str:
    """The proxy URL, normalised; a :class:`ConfigError` unless it is an http(s) proxy URL.

    ``where`` names where it came from (``--proxy``, ``HTTPS_PROXY``); the URL itself is
    never shown when it is malformed (it may hold a password that cannot be told apart)."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when malformed)
    except ValueError:
        raise ConfigError(
            f"the proxy URL is malformed @ {where}; expected http://[user:password@]host:port "
            "(an IPv6 host in brackets)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"proxy {_mask_proxy(url)!r} is not an http:// or https:// proxy URL @ {where}"
        )
    return parts.geturl()


def _check_ca_file(path: str, field: str) -> str:
    """A CA file must hold PEM certificates that TLS can load: anything else is a
    configuration error now, not a failed handshake for every input later."""
    try:
        # a bare client context: create_default_context() would first load the system's CA
        # store (about 50 ms), which this check does not need
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError):
        raise ConfigError(
            f"{field} is not a PEM file of CA certificates @ $.config.{field}; expected "
            "-----BEGIN CERTIFICATE----- blocks"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{field} cannot be read ({exc.strerror or type(exc).__name__}) @ $.config.{field}"
        ) from None
    return path


def _secret_parameters(config: Config) -> frozenset[str]:
    """The query parameters of options declared secret (password options), never logged."""
    return frozenset(
        option.parameter
        for action in config.manifest.actions
        for option in action.options
        if option.secret and option.parameter
    )


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
    #: query parameters whose values are never logged (options declared secret)
    secret_parameters: frozenset[str] = frozenset()

    def field(self, role: str) -> str:
        """The name of the configuration field playing ``role``; the role itself if unmapped."""
        return self.fields.get(role, role)

    @property
    def proxy_has_credentials(self) -> bool:
        """Whether the proxy URL carries a user (and password) for the proxy."""
        return any("@" in _netloc(url) for url in self.proxies.values())

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
            verify = _check_ca_file(str(config.by_role("ca_file")), fields.get("ca_file", ""))
        proxies: dict[str, str] = {}
        if config.by_role("proxy"):
            if proxy:
                if not requests.utils.should_bypass_proxies(base_url, no_proxy=None):
                    checked = _check_proxy(proxy)
                    proxies = {"https": checked, "http": checked}
            else:
                found = requests.utils.get_environ_proxies(base_url, no_proxy=None)
                proxies = {k: v for k, v in found.items() if k in ("https", "http", "all")}
                for scheme, value in proxies.items():
                    _check_proxy(value, f"{scheme.upper()}_PROXY")
        return cls(
            base_url=base_url,
            verify=verify,
            timeout=float(config.by_role("timeout") or 30.0),
            proxies=proxies,
            pool_size=max(1, pool_size),
            max_requests_per_second=config.by_role("rate_limit") or None,
            fields=fields,
            secret_parameters=_secret_parameters(config),
        )
