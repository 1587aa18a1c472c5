"""The grants of ThreatQ's token endpoint (``POST /api/token``), over the host's own users.

The forms its clients send: threatqsdk puts ``grant_type=password&client_id=...`` in the query
and ``{"email", "password"}`` in a JSON body; Kibana's connector sends all four in a JSON body;
XSOAR's integration sends them form-encoded. The client-credentials grant sends HTTP Basic
``client_id:client_secret`` (here: a user's name and API key); the refresh-token grant takes a
refresh token once (it is replaced by the new one).

Every grant's credential check is throttled per account (the email or client_id; a refresh
token names none) and client address, and each failure is audited (``login-failed``,
``threatq-token``). The tokens a grant mints keep the user's credential generations read with
the credential: a password change, a new key or disabling the user ends them.

Credentials travel in the body or the ``Authorization`` header only: a password, a client
secret or a token in the query string (which proxies and access logs keep) is refused (400)
and audited, before anything is checked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Optional
from urllib.parse import parse_qsl

from fastapi import Request

from tqops.server.api.common import parsed_json
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host
from tqops.server.users import User

__all__ = ["GRANTS", "read_token_request", "token_grant", "token_hash"]

GRANTS = ("password", "client_credentials", "refresh_token")
MAX_FIELD = 4096
#: the fields that carry a credential: never taken from the query string (``grant_type``,
#: ``client_id`` and ``email`` are not secret: threatqsdk sends the first two there)
SECRET_FIELDS = frozenset(
    {"password", "client_secret", "refresh_token", "access_token", "api_key", "apikey", "key"}
)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def read_token_request(request: Request) -> dict[str, str]:
    """The query's fields, overlaid by the body's (JSON or form-encoded); a credential in the
    query is refused (400) and audited."""
    given = {k: v for k, v in request.query_params.items()}
    leaked = sorted({k.strip().lower() for k in given} & SECRET_FIELDS)
    if leaked:
        who = (given.get("email") or given.get("username") or "-")[:128]
        client = request.client.host if request.client else "unknown"
        detail = f"from {client}: {', '.join(leaked)}"
        await asyncio.to_thread(
            host_of(request).store.audit, who, "credential-in-query", "threatq-token", detail
        )
        raise Problem(
            400,
            f"{leaked[0]} goes in the body or an Authorization header, never in the query "
            "string (it ends up in logs): move it to the body",
        )
    raw = (await request.body()).strip()
    if not raw:
        return given
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or not raw.startswith(b"{"):
        try:
            body: object = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise Problem(400, "the body is neither JSON nor a form") from None
    else:
        body = parsed_json(raw)
    if not isinstance(body, dict):
        raise Problem(400, "the body is a JSON object or a form")
    for key, value in body.items():
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            given[str(key)] = str(value)
    return given


def token_grant(
    host: Host, given: Mapping[str, str], headers: Mapping[str, str], address: str = "unknown"
) -> tuple[Optional[User], str]:
    """(the user the grant's credentials belong to, or None; the grant's name), the check
    throttled and audited for the client at ``address`` (a lock raises a 429 Problem)."""
    users = host.users
    where = "threatq-token"
    grant = given.get("grant_type", "")
    if any(len(value) > MAX_FIELD for value in given.values()):
        raise Problem(400, f"a field of the token request is over {MAX_FIELD} characters")
    if grant == "password":
        name, password = given.get("email") or given.get("username"), given.get("password")
        if not name or not password:
            raise Problem(400, "the password grant needs email and password")
        return users.checked(
            lambda: users.by_password(name, password), account=name, address=address, where=where
        ), grant
    if grant == "client_credentials":
        client_id, secret = _basic(headers) or (
            given.get("client_id", ""),
            given.get("client_secret", ""),
        )
        if not client_id or not secret:
            raise Problem(400, "the client-credentials grant needs HTTP Basic client_id:secret")

        def by_client() -> Optional[User]:
            user = users.by_key(secret)
            if user is None or user.name.casefold() != client_id.casefold():
                return None
            return user

        return users.checked(by_client, account=client_id, address=address, where=where), grant
    if grant == "refresh_token":
        refresh = given.get("refresh_token")
        if not refresh:
            raise Problem(400, "the refresh-token grant needs refresh_token")

        def by_refresh() -> Optional[User]:
            # used once: taken from the store as it is read (the answer carries a new one)
            row = host.store.take_session("tq_refresh", token_hash(refresh))
            return None if row is None else User.of_row(row)

        return users.checked(by_refresh, account=None, address=address, where=where), grant
    raise Problem(400, f"grant_type is one of {', '.join(GRANTS)}, not {grant[:30]!r}")


def _basic(headers: Mapping[str, str]) -> Optional[tuple[str, str]]:
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(400, "the Basic credentials are not base64 of client_id:secret") from None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None
