"""Secrets at rest: each secret field of a stored configuration is encrypted with Fernet
(AES-128-CBC with HMAC-SHA256) under the host's key, and decrypted only to run.

The key is ``TQOPS_SECRET_KEY`` (a Fernet key) when set, else a key file made in the data
directory with mode 0600 on first start. Losing the key loses the stored secrets, nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from tqops.errors import ConfigError

__all__ = ["KEY_FILE", "SEALED", "Vault"]

KEY_FILE = "secret.key"
#: how a sealed value is stored in a configuration's JSON: {"sealed": "<Fernet token>"}
SEALED = "sealed"


class Vault:
    """Seals and opens the secret values of stored configurations."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "TQOPS_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None

    def __repr__(self) -> str:
        return "Vault('********')"

    @classmethod
    def for_data_dir(cls, data: Path) -> Vault:
        """The vault of a data directory: ``TQOPS_SECRET_KEY``, else its key file."""
        given = os.environ.get("TQOPS_SECRET_KEY")
        if given:
            return cls(given.strip().encode())
        path = Path(data) / KEY_FILE
        if not path.exists():
            key = Fernet.generate_key()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
        os.chmod(path, 0o600)
        return cls(path.read_bytes().strip())

    def seal(self, values: Mapping[str, Any], secret_fields: tuple[str, ...]) -> dict[str, Any]:
        """``values`` with each secret field's value encrypted."""
        sealed = dict(values)
        for name in secret_fields:
            if sealed.get(name) is not None:
                token = self._fernet.encrypt(str(sealed[name]).encode("utf-8"))
                sealed[name] = {SEALED: token.decode("ascii")}
        return sealed

    def open(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The values with every sealed one decrypted (only for a run or a check)."""
        opened = {}
        for name, value in stored.items():
            if isinstance(value, Mapping) and SEALED in value:
                try:
                    value = self._fernet.decrypt(str(value[SEALED]).encode()).decode("utf-8")
                except InvalidToken:
                    raise ConfigError(
                        f"the stored secret of field {name!r} cannot be decrypted with this "
                        "host's key (was TQOPS_SECRET_KEY or the key file changed?); enter it "
                        "again"
                    ) from None
            opened[name] = value
        return opened
