"""What a client never shows, and scrubbing it from what a vendor sends back.

A vendor may echo a credential (in an error message, a record, a repeated header). Every
declared secret is scrubbed from error text, debug logs and parsed bodies: the configuration's
password fields, the forms the credential takes on the wire (``Basic dXNlcjpwYXNz`` for HTTP
Basic), and the values a call sends under a parameter declared secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests
from requests.auth import AuthBase

from tqops.config.values import scrub

__all__ = ["declared_values", "may_hold", "scrub", "wire_forms"]


def wire_forms(auth: AuthBase, url: str) -> tuple[str, ...]:
    """The header values ``auth`` adds to a request to ``url``, whole and their last word
    (``Basic <base64>`` and ``<base64>``): what an echo of the credential looks like."""
    probe = requests.Request("GET", url).prepare()
    plain = dict(probe.headers)
    auth(probe)
    forms: list[str] = []
    for name, value in probe.headers.items():
        if plain.get(name) == value:
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        forms += [text, text.rsplit(" ", 1)[-1]]
    return tuple(dict.fromkeys(forms))


def declared_values(hidden: frozenset[str], *parts: Any) -> tuple[str, ...]:
    """The values sent under a name in ``hidden`` (parameters of options declared secret) in
    each of ``parts``: a query's parameters, a form, a JSON object."""
    found: list[str] = []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for name, value in part.items():
            if name not in hidden or value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else (value,)
            found += [str(item) for item in values]
    return tuple(found)


def may_hold(body: bytes, secrets: Sequence[str]) -> bool:
    """Whether a JSON body may decode to text holding a secret. Without an escape (``\\``)
    and in UTF-8 (JSON may also be UTF-16 or 32: NULs in its first bytes), a secret in the
    text is one in the bytes, so most bodies are cleared without being walked."""
    if not secrets:
        return False
    if b"\\" in body or b"\x00" in body[:4]:
        return True
    return any(secret.encode("utf-8") in body for secret in secrets if secret)
