"""Who is asking: ``Authorization: Bearer <API key>`` and the role a route needs.

Routes take the user as ``user: CurrentUser`` (any role), ``AnalystUser`` or ``AdminUser``; the
key is read through :data:`API_KEY`, FastAPI's HTTP bearer scheme, so the OpenAPI document
declares it and names it on every route that needs it. A wrong key is a failed credential
check: audited, and throttled per client address (429 with ``Retry-After`` when locked).
"""

from __future__ import annotations

from typing import Annotated, Callable, Optional

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tqops.server.errors import Problem
from tqops.server.host import Host
from tqops.server.throttle import client_address
from tqops.server.users import Role, User

__all__ = [
    "API_KEY",
    "AdminUser",
    "AnalystUser",
    "CurrentUser",
    "Problem",
    "host_of",
    "requires",
]

#: the security scheme of the native API (and Cortex's): an API key of a host user as a bearer
#: token; it answers None without one, so that :func:`requires` answers 401 in its own words
API_KEY = HTTPBearer(
    scheme_name="bearerKey",
    description="An API key of a host user (an admin makes one with: tqops users add NAME "
    "--role analyst), sent as Authorization: Bearer <key>.",
    auto_error=False,
)


def host_of(request: Request) -> Host:
    return request.app.state.host  # type: ignore[no-any-return]


def requires(role: Role) -> Callable[..., User]:
    """A dependency that answers 401 without a valid key and 403 without ``role``."""

    def dependency(
        request: Request,
        credentials: Annotated[Optional[HTTPAuthorizationCredentials], Security(API_KEY)],
    ) -> User:
        key = credentials.credentials.strip() if credentials else None
        users = host_of(request).users
        user = None
        if key:  # no key at all is no credential check: nothing to throttle or audit
            # a key names no account: the client's address alone is throttled
            user = users.checked(
                lambda: users.by_key(key),
                account=None,
                address=client_address(request),
                where=request.url.path[:100],
                failure="key-failed",
            )
        if user is None:
            raise Problem(
                401,
                "an API key is needed: send Authorization: Bearer <key> (an admin makes one "
                "with: tqops users add NAME --role analyst)",
                {"WWW-Authenticate": "Bearer"},
            )
        if not user.role.allows(role):
            raise Problem(
                403, f"a {user.role.value} may not do this; it needs the {role.value} role"
            )
        request.state.user = user
        return user

    dependency.__name__ = f"requires_{role.value}"
    return dependency


#: the user a valid API key belongs to, whatever the role (viewer and up)
CurrentUser = Annotated[User, Depends(requires(Role.VIEWER))]
#: a user who may add indicators and run jobs (analyst and up)
AnalystUser = Annotated[User, Depends(requires(Role.ANALYST))]
#: a user who may configure operations, install integrations and read the audit log
AdminUser = Annotated[User, Depends(requires(Role.ADMIN))]
