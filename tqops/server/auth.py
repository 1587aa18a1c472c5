"""Who is asking: ``Authorization: Bearer <API key>`` and the role a route needs."""

from __future__ import annotations

from typing import Callable, Optional

from fastapi import Request

from tqops.server.errors import Problem
from tqops.server.host import Host
from tqops.server.users import Role, User

__all__ = ["Problem", "host_of", "requires"]


def host_of(request: Request) -> Host:
    return request.app.state.host  # type: ignore[no-any-return]


def bearer_key(request: Request) -> Optional[str]:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


def requires(role: Role) -> Callable[[Request], User]:
    """A dependency that answers 401 without a valid key and 403 without ``role``."""

    def dependency(request: Request) -> User:
        user = host_of(request).users.by_key(bearer_key(request))
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
