"""Cortex's users, organization, responders and analyzer definitions, as TheHive and
cortex4py read them (Cortex's ``conf/routes``, ``controllers/UserCtrl.scala``,
``models/User.scala``, ``models/Organization.scala``, ``models/WorkerDefinition.scala``;
TheHive's ``CortexClient.scala``; cortex4py's ``controllers/``).

The host's users are the members of one organization, :data:`ORGANIZATION`: a viewer has
Cortex's ``read`` role, an analyst ``read`` and ``analyze``, an admin ``orgadmin`` too. A user
reads themself (``/api/user/current`` is TheHive's connection check); an admin reads every
user. Nothing here writes, and no key leaves (the host keeps only hashes of them: Cortex's
key routes are not offered). The host
has no responder, so the responder routes answer empty lists (TheHive lists responders with
``POST /api/responder/_search``) and a responder by id is not found.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import Request

from tqops.server.api.common import actions, epoch_ms
from tqops.server.api.cortex_base import ORGANIZATION, entity, read_body, router
from tqops.server.api.cortexquery import matches, page
from tqops.server.auth import AnalystUser, CurrentUser, Problem, host_of
from tqops.server.host import Host
from tqops.server.users import Role, User

__all__: list[str] = []  # its routes are on the router

_ROLES = {
    Role.VIEWER: ["read"],
    Role.ANALYST: ["read", "analyze"],
    Role.ADMIN: ["read", "analyze", "orgadmin"],
}
#: a configuration field's type as a Cortex configuration item's
_ITEM_TYPES = {"number": "number", "checkbox": "boolean"}


# -- users and the organization ---------------------------------------------------------------


def _user(row: dict[str, Any], current: bool = False) -> dict[str, Any]:
    created = epoch_ms(row["created_at"])
    found = entity("user", row["name"], created, "tqops")
    found.update(
        {
            "name": row["name"],
            "roles": _ROLES[Role(row["role"])],
            "status": "Locked" if row["disabled"] else "Ok",
            "organization": ORGANIZATION,
            "hasKey": bool(row.get("keys")),
            "hasPassword": True,  # the host gives every user a password
        }
    )
    if current:
        found["preferences"] = {}
    return found


def _users(host: Host, user: User) -> list[dict[str, Any]]:
    """The users ``user`` may read: every one for an admin, themself for the others."""
    rows = [dict(r) for r in host.store.users()]
    return [_user(r) for r in rows if user.role is Role.ADMIN or r["name"] == user.name]


@router.get("/user/current")
def current_user(request: Request, user: CurrentUser) -> dict[str, Any]:
    found = [r for r in host_of(request).store.users() if r["name"] == user.name]
    if not found:
        raise Problem(404, f"user {user.name} not found")
    return _user(dict(found[0]), current=True)


@router.get("/user")
@router.get("/organization/user")
async def list_users(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    return page(_users(host_of(request), user), range, sort)


@router.post("/user/_search")
@router.post("/organization/user/_search")
async def search_users(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    return await _searched(request, _users(host_of(request), user), range, sort)


@router.get("/organization/{organization_id}/user")
@router.post("/organization/{organization_id}/user/_search")
async def organization_users(
    organization_id: str,
    request: Request,
    user: CurrentUser,
    range: Optional[str] = None,
    sort: Optional[str] = None,
) -> list[Any]:
    _organization_named(organization_id)
    return await _searched(request, _users(host_of(request), user), range, sort)


@router.get("/user/{user_id}")
def get_user(user_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    for found in _users(host_of(request), user):
        if found["id"].lower() == user_id.lower():  # names are case-insensitive in the store
            return found
    raise Problem(404, f"user {user_id[:80]} not found")


def _organization() -> dict[str, Any]:
    found = entity("organization", ORGANIZATION, None, "tqops")
    found.update(
        {
            "name": ORGANIZATION,
            "description": "the users of this tqops host",
            "status": "Active",
        }
    )
    return found


def _organization_named(organization_id: str) -> dict[str, Any]:
    if organization_id != ORGANIZATION:
        raise Problem(404, f"organization {organization_id[:80]} not found")
    return _organization()


@router.get("/organization")
async def list_organizations(
    user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    return page([_organization()], range, sort)


@router.post("/organization/_search")
async def search_organizations(
    request: Request, user: CurrentUser, range: Optional[str] = None, sort: Optional[str] = None
) -> list[Any]:
    return await _searched(request, [_organization()], range, sort)


@router.post("/organization/_stats")
async def organization_stats(request: Request, user: CurrentUser) -> dict[str, Any]:
    """cortex4py's ``organizations.count``: ``{"count": N}`` for the query."""
    query = (await read_body(request)).get("query") or {}
    return {"count": int(matches(query, _organization()))}


@router.get("/organization/{organization_id}")
def get_organization(organization_id: str, user: CurrentUser) -> dict[str, Any]:
    return _organization_named(organization_id)


# -- responders (none) and analyzer definitions ---------------------------------------------


@router.get("/responder")
@router.get("/responder/type/{data_type}")
@router.get("/responderdefinition")
def no_responders(user: CurrentUser) -> list[Any]:
    return []


@router.post("/responder/_search")
async def search_responders(request: Request, user: CurrentUser) -> list[Any]:
    matches((await read_body(request)).get("query") or {}, {})  # a bad query is still a 400
    return []


@router.get("/responder/{responder_id}")
def get_responder(responder_id: str, user: CurrentUser) -> dict[str, Any]:
    raise Problem(404, f"responder {responder_id[:80]} not found: this host has no responder")


@router.post("/responder/{responder_id}/run")
def run_responder(responder_id: str, user: AnalystUser) -> dict[str, Any]:
    raise Problem(404, f"responder {responder_id[:80]} not found: this host has no responder")


@router.get("/analyzerdefinition")
def analyzer_definitions(request: Request, user: CurrentUser) -> list[Any]:
    """Each action of an installed operation, enabled or not, as Cortex's definition of an
    analyzer: its configuration items are the operation's configuration fields (their names,
    types and whether they are required; never a value of a secret one)."""
    found = []
    for ref in actions(host_of(request)):
        items = [
            {
                "name": field.name,
                "description": field.description or field.label,
                "type": _ITEM_TYPES.get(field.type, "string"),
                "multi": False,
                "required": bool(field.required),
                **({} if field.secret else {"defaultValue": field.default}),
            }
            for field in ref.manifest.config
        ]
        found.append(
            {
                "id": ref.analyzer_id,
                "name": ref.analyzer_name,
                "version": ".".join(ref.manifest.version.split(".")[:2]),
                "description": ref.description,
                "dataTypeList": ref.cortex_types(),
                "author": ref.manifest.vendor or "",
                "url": "",
                "license": "",
                "baseConfig": ref.operation,
                "configurationItems": items,
                "dockerImage": None,
                "command": None,
            }
        )
    return found


async def _searched(request: Request, items: list[dict[str, Any]], range_: Any, sort: Any) -> Any:
    body = await read_body(request)
    found = [item for item in items if matches(body.get("query") or {}, item)]
    return page(found, body.get("range") or range_, body.get("sort") or sort)
