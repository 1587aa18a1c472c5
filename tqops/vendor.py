"""What every vendor client shares: one :class:`HttpClient` built from the manifest.

The host, TLS, proxy, timeout and pacing come from the fields that play those roles, and the
credential from the manifest's ``auth`` entry; a vendor client only adds its calls.
"""

from __future__ import annotations

from typing import Any, Optional

from requests.auth import AuthBase, HTTPBasicAuth

from .config import MASK, Config
from .errors import ConfigError, ManifestError
from .fields import AuthSpec
from .http import BearerAuth, HeaderAuth, HttpClient, HttpSettings
from .manifest import Manifest

__all__ = ["BasicAuth", "VendorClient", "auth_spec", "http_client_for"]


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic, with a repr that shows the user only."""

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '{MASK}')"


def auth_spec(manifest: Manifest) -> AuthSpec:
    """The manifest's authentication entry; a :class:`ManifestError` when it has none."""
    if not manifest.auth:
        raise ManifestError(f"manifest {manifest.name!r} declares no auth (how to send the key)")
    return manifest.auth[0]


def _auth(spec: AuthSpec, config: Config) -> AuthBase:
    secret = config.get(spec.secret)
    if not secret:
        raise ConfigError(f"{config.manifest.label} needs the {spec.secret} field")
    value = secret.reveal()
    if spec.scheme == "bearer":
        return BearerAuth(value)
    if spec.scheme == "header":
        return HeaderAuth(str(spec.header), value)
    user = config.get(str(spec.user)) or ""
    return BasicAuth(str(user), value)


def settings_for(config: Config, proxy: Optional[str] = None, pool_size: int = 8) -> HttpSettings:
    """The HTTP settings the configuration's role fields give."""
    spec = auth_spec(config.manifest)
    return HttpSettings.from_config(
        config, proxy=proxy, pool_size=pool_size, credential_field=spec.secret
    )


def http_client_for(config: Config, settings: HttpSettings) -> HttpClient:
    """An authenticated, pooled HTTP client to the configured vendor host."""
    spec = auth_spec(config.manifest)
    return HttpClient(
        settings,
        _auth(spec, config),
        vendor=config.manifest.label,
        credential=spec.secret.replace("_", " "),
        secrets=config.secrets(),
    )


class VendorClient:
    """Base of a vendor's client: the shared HTTP client, its repr and its close."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http.settings.base_url!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
