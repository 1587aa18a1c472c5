"""What every vendor client shares: one :class:`HttpClient` built from the manifest.

The host, TLS, proxy, timeout and pacing come from the fields that play those roles, and the
credential from the manifest's ``auth`` entry; a vendor client only adds its calls, through
:meth:`VendorClient.get` and :meth:`VendorClient.post` (or ``self.http`` for the response
itself), never a Session of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from requests.auth import AuthBase, HTTPBasicAuth

from tqops.config.values import MASK, Config
from tqops.errors import ConfigError, ManifestError
from tqops.http import BearerAuth, HeaderAuth, HttpClient, HttpSettings
from tqops.manifest.document import Manifest
from tqops.manifest.fields import AuthSpec

__all__ = ["BasicAuth", "VendorClient", "auth_spec", "http_client_for"]


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic, with a repr that shows the user only."""

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '{MASK}')"


def auth_spec(manifest: Manifest, config: Optional[Config] = None) -> AuthSpec:
    """The manifest's authentication entry: the first whose ``when`` holds for ``config`` (the
    first of all without one); a :class:`ManifestError` when it has none."""
    if not manifest.auth:
        raise ManifestError(f"manifest {manifest.name!r} declares no auth (how to send the key)")
    if config is None:
        return manifest.auth[0]
    for spec in manifest.auth:
        if spec.when.holds(config):
            return spec
    variant = manifest.variant_field
    chosen = f" with {variant.label} {config.variant}" if variant is not None else ""
    raise ConfigError(f"{manifest.label} declares no way to send a credential{chosen}")


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
    spec = auth_spec(config.manifest, config)
    return HttpSettings.from_config(
        config, proxy=proxy, pool_size=pool_size, credential_field=" and ".join(spec.fields)
    )


def http_client_for(config: Config, settings: HttpSettings) -> HttpClient:
    """An authenticated, pooled HTTP client to the configured vendor host."""
    spec = auth_spec(config.manifest, config)
    return HttpClient(
        settings,
        _auth(spec, config),
        vendor=config.manifest.label,
        credential=" and ".join(name.replace("_", " ") for name in spec.fields),
        secrets=config.secrets(),
    )


class VendorClient:
    """Base of a vendor's client: the shared HTTP client, its calls, its repr and its close.

    :meth:`get` and :meth:`post` send through :attr:`http`, so every call is paced, retried,
    capped, kept to the vendor's host, logged and scrubbed of secrets. A POST is retried on a
    transient failure only when it may be sent twice: a vendor whose POST calls are look-ups
    (they change nothing) sets :attr:`POST_IS_IDEMPOTENT`; one call can say otherwise with
    ``idempotent=``.

    ``variant`` is the configuration's value of the field with role ``variant``: which of the
    vendor's API generations to speak (None when the manifest has no such field). A client
    that speaks several lists them in :attr:`VARIANTS`, checked against the manifest's choices
    when the operation is defined.
    """

    #: the variant keys this client speaks (empty: it has no variants)
    VARIANTS: frozenset[str] = frozenset()
    #: whether this vendor's POST calls are look-ups that may be sent twice (then retried
    #: like a GET on a 429, a 5xx or a failed read)
    POST_IS_IDEMPOTENT: bool = False

    def __init__(self, http: HttpClient, variant: Optional[str] = None) -> None:
        self.http = http
        self.variant = variant

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http.settings.base_url!r})"

    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        """GET a path on the vendor's host; its JSON answer parsed (None when empty)."""
        return self.http.get_json(path, params)[0]

    def post(
        self,
        path: str,
        *,
        data: Optional[Mapping[str, Any]] = None,
        json: Any = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotent: Optional[bool] = None,
    ) -> Any:
        """POST a form (``data``) or a JSON body (``json``) to a path on the vendor's host;
        its JSON answer parsed (None when empty). ``idempotent`` defaults to
        :attr:`POST_IS_IDEMPOTENT`."""
        again = self.POST_IS_IDEMPOTENT if idempotent is None else idempotent
        document, _ = self.http.post_json(
            path, data=data, json=json, params=params, headers=headers, idempotent=again
        )
        return document

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
