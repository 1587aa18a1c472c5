"""What the conformance checks probe an operation with: a configuration that passes, with a
planted secret to look for where it must never be, and a loopback port that counts the
connections made to it (a refused input must make none)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from tqops.manifest.fields import ConfigField
from tqops.operations.operation import Operation

__all__ = ["PLANTED", "Listener", "config_for"]

#: the secret value every check configures, then looks for where it must never be
PLANTED = "tq-conformance-secret-5e1d9c"


def _value_for(field: ConfigField, host: str) -> Any:
    """A valid value for a required field with no default, by its type and role."""
    if field.role == "host":
        return host
    if field.secret:
        return PLANTED
    if field.type == "select":
        return field.choices[0]
    if field.type == "checkbox":
        return False
    if field.type == "number":
        return field.minimum if field.minimum is not None else 1
    return "conformance"


def config_for(operation: Operation, host: str = "127.0.0.1:9") -> dict[str, Any]:
    """Raw configuration values that pass: every required field without a default given a
    value by its type and role (the host field ``host``, every secret :data:`PLANTED`)."""
    raw: dict[str, Any] = {}
    for field in operation.manifest.config:
        if field.role == "host" or field.secret or (field.required and field.default is None):
            raw[field.name] = _value_for(field, host)
    return raw


class Listener:
    """A loopback TCP port that counts the connections made to it and answers none."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()
