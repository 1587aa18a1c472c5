"""ThreatQ's plugin API, as threatqsdk's ``Threatq`` client, Kibana's ThreatQ connector and
XSOAR's ThreatQ integration call it: OAuth tokens for the host's own users, each installed
operation a plugin whose actions run on indicators of the host's store.

- ``POST /api/token``: the password grant (``email``/``password``, with ``grant_type`` and
  ``client_id`` in the query or the body, JSON or form), the client-credentials grant (HTTP
  Basic ``user name:API key``) and the refresh-token grant; answers ``access_token``,
  ``refresh_token``, ``token_type``, ``expires_in``. Only SHA-256 hashes of tokens are stored.
- ``GET /api/plugins`` (``with=action.objectType``, ``limit``, ``offset``),
  ``GET /api/plugins/{id}``, ``POST /api/plugins/{id}/execute`` ``{"action", "id", "type",
  "parameters"?}`` answering ``{"data": {"data": [...], "verdict", "status", ...}}``: the
  indicators found, in the consume payload ``Indicator.to_threatq()`` renders, each with the
  ``status`` and ``score`` (0-10) the input's verdict gives it (:func:`judged`), and the
  verdict itself (level, score 0-100, reasons).
- the indicators, their types and statuses, queries, feeds and uploads:
  :mod:`tqops.server.api.threatq_indicators`.

Errors are ``{"errors": ["<one line>"]}``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from typing import Annotated, Any, Callable, Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tqops.dates import parse_datetime
from tqops.model import Attribute, Indicator, Source
from tqops.server.api.common import (
    ActionRef,
    actions,
    job_results,
    parsed_json,
    protocol_route,
    wait_for_job,
)
from tqops.server.api.oauth import read_token_request, token_grant, token_hash
from tqops.server.auth import Problem, host_of
from tqops.server.host import Host
from tqops.server.store.indicators import STATUS_OF_LEVEL as STORED_STATUS_OF_LEVEL
from tqops.server.throttle import client_address
from tqops.server.users import Role, User

__all__ = ["STATUS_OF_LEVEL", "Reader", "Runner", "judged", "render_error", "router"]


def render_error(status: int, message: str, headers: Optional[dict[str, str]]) -> JSONResponse:
    """ThreatQ's error answer: ``{"errors": ["<one line>"]}``."""
    return JSONResponse({"errors": [message]}, status_code=status, headers=headers)


router = APIRouter(
    prefix="/api",
    tags=["threatq"],
    include_in_schema=False,
    route_class=protocol_route(render_error),
)
ACCESS_TTL = 3600
REFRESH_TTL = 14 * 86400
#: how long an execute call waits for its job before answering 504 (the job goes on)
EXECUTE_WAIT = 120.0
_OBJECT_TYPE = {"object_type_id": 1, "object_type": "Indicator"}


def _signed_in(role: Role) -> Callable[[Request], User]:
    """A dependency: the user an access token of ``POST /api/token`` belongs to (401
    without one, 403 without ``role``)."""

    def dependency(request: Request) -> User:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        row = None
        if scheme.lower() == "bearer" and token and len(token) <= 200:
            row = host_of(request).store.session("tq_access", token_hash(token))
        if row is None:
            raise Problem(
                401,
                "an access token is needed: POST /api/token, then send Authorization: Bearer "
                "<access_token>",
                {"WWW-Authenticate": "Bearer"},
            )
        user = User.of_row(row)
        if not user.role.allows(role):
            raise Problem(403, f"a {user.role.value} may not do this; it needs {role.value}")
        return user

    return dependency


#: the user of an access token, whatever the role; and one who may run plugins and consume
Reader = Annotated[User, Depends(_signed_in(Role.VIEWER))]
Runner = Annotated[User, Depends(_signed_in(Role.ANALYST))]


# -- tokens -----------------------------------------------------------------------------------


@router.post("/token")
async def token(request: Request) -> dict[str, Any]:
    host = host_of(request)
    given = await read_token_request(request)
    address = client_address(request)
    user, grant = await asyncio.to_thread(token_grant, host, given, request.headers, address)
    if user is None:
        raise Problem(401, "the credentials were not accepted", {"WWW-Authenticate": "Bearer"})
    return await asyncio.to_thread(_issue, host, user, grant)


def _issue(host: Host, user: User, grant: str) -> dict[str, Any]:
    """A new access and refresh token for ``user``, bound to the credential generations of the
    check that found ``user``; the store keeps their hashes only."""
    access, refresh = "tqa_" + secrets.token_urlsafe(32), "tqr_" + secrets.token_urlsafe(32)
    now = time.time()
    bound = user.generations
    host.store.add_session(
        "tq_access", token_hash(access), user.id, now + ACCESS_TTL, generations=bound
    )
    host.store.add_session(
        "tq_refresh", token_hash(refresh), user.id, now + REFRESH_TTL, generations=bound
    )
    host.store.audit(user.name, "threatq-token", grant)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL,
    }


# -- plugins ----------------------------------------------------------------------------------


def _plugins(host: Host) -> dict[int, list[ActionRef]]:
    """Each operation, a plugin: its id and its actions."""
    found: dict[int, list[ActionRef]] = {}
    for ref in actions(host):
        found.setdefault(ref.plugin_id, []).append(ref)
    return found


def _plugin(refs: list[ActionRef], with_: set[str]) -> dict[str, Any]:
    first = refs[0]
    plugin: dict[str, Any] = {
        "id": first.plugin_id,
        "name": first.operation,
        "display_name": first.label,
        "version": first.manifest.version,
        "enabled": bool(first.settings["enabled"]),
    }
    if with_ & {"action", "actions"}:
        plugin["action"] = [
            {
                "name": ref.action,
                "display_name": ref.spec.label,
                "description": ref.description,
                "indicator_types": list(ref.types),
                **(
                    {"object_type": [_OBJECT_TYPE]} if with_ & {"objecttype", "object_type"} else {}
                ),
            }
            for ref in refs
        ]
    return plugin


def _with(text: Optional[str]) -> set[str]:
    """``with=action.objectType`` or ``with=action,objectType``: the relations asked for."""
    return {part.strip().lower() for part in (text or "").replace(".", ",").split(",") if part}


def _find_plugin(host: Host, plugin_id: str) -> list[ActionRef]:
    for number, refs in _plugins(host).items():
        if plugin_id in (str(number), refs[0].operation):
            return refs
    raise Problem(404, f"no plugin {plugin_id[:60]}")


@router.get("/plugins")
def list_plugins(
    request: Request,
    user: Reader,
    with_: Optional[str] = Query(None, alias="with"),
    limit: int = Query(20, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    plugins = [_plugin(refs, _with(with_)) for refs in _plugins(host_of(request)).values()]
    page = plugins[offset : offset + limit]
    return {"total": len(plugins), "offset": offset, "limit": limit, "data": page}


@router.get("/plugins/{plugin_id}")
def get_plugin(
    plugin_id: str,
    request: Request,
    user: Reader,
    with_: Optional[str] = Query(None, alias="with"),
) -> dict[str, Any]:
    return {"data": _plugin(_find_plugin(host_of(request), plugin_id), _with(with_))}


@router.post("/plugins/{plugin_id}/execute")
async def execute(plugin_id: str, request: Request, user: Runner) -> dict[str, Any]:
    """Run a plugin's action on an indicator of the store and answer with what it found (an
    input policy kept from the vendor: status ``skipped``, nothing found and its ``reason``)."""
    host = host_of(request)
    refs = _find_plugin(host, plugin_id)
    body = await _json(request)
    if not isinstance(body, dict):
        raise Problem(400, 'expected {"action", "id", "type", "parameters"?}')
    ref = next((r for r in refs if r.action == body.get("action")), None)
    if ref is None:
        names = ", ".join(r.action for r in refs)
        raise Problem(
            404, f"plugin {refs[0].operation} has no action {body.get('action')!r}: {names}"
        )
    if str(body.get("type", "Indicator")).strip().lower() not in ("indicator", "indicators"):
        raise Problem(400, "the plugin's actions run on objects of type Indicator")
    if not str(body.get("id", "")).strip().isdigit():
        raise Problem(400, "id is the number of an indicator of the host's store")
    indicator_id = int(str(body["id"]).strip())
    options = body.get("parameters") or {}
    if not isinstance(options, dict):
        raise Problem(400, "parameters is a JSON object of the action's options")
    view = await asyncio.to_thread(  # 409: an operation disabled or not configured
        lambda: host.create_job(
            ref.operation, ref.action, options, [indicator_id], None, user, refuse_blocked=True
        )
    )
    view = await wait_for_job(host, view["id"], EXECUTE_WAIT)
    if view["status"] in ("queued", "running"):
        raise Problem(
            504, f"job {view['id']} is still running; read it at /api/v1/jobs/{view['id']}"
        )
    if view["status"] != "done":
        raise Problem(502, view["error"] or f"job {view['id']} was {view['status']}")
    (result,) = job_results(host, view["id"])
    if result["status"] == "error":
        raise Problem(422, result["error"])
    verdict = result.get("verdict")
    found = [_consume_payload(i, ref.label, verdict) for i in result.get("indicators", [])]
    data = {"data": found, "status": result["status"], "warnings": result.get("warnings", [])}
    data["verdict"] = verdict
    if result["status"] == "skipped":  # policy, not an error: nothing found, and why
        data["reason"] = result.get("reason")
    return {"data": {**data, "job_id": view["id"]}}


#: ThreatQ's indicator status for each verdict level of an exact match (see :func:`judged`):
#: the store's, which a job's verdict gives the stored indicator it judged
STATUS_OF_LEVEL: Mapping[str, str] = STORED_STATUS_OF_LEVEL
#: what a found indicator the verdict does not judge gets (a related match, or a result
#: stored before verdicts were given)
UNJUDGED: tuple[str, Optional[int]] = ("Review", None)


def judged(found: Mapping[str, Any], verdict: Any) -> tuple[str, Optional[int]]:
    """ThreatQ's status and score (0-10, or None) for a found indicator.

    Only an exact match (the searched indicator itself) takes the input's verdict; a related
    match (a look-alike, a substring or wildcard hit) was not judged, so it is ``Review`` with
    no score, whatever the input's verdict. For an exact match:

    - ``malicious`` -> ``Active``: the status ThreatQ's exports and detection integrations
      deploy, which is what an admin expects of a vendor's confident hit.
    - ``suspicious``, ``benign`` -> ``Review``: an analyst decides. A vendor's low risk is not
      an allow-list entry: ``Whitelisted`` keeps an indicator out of every export and lets
      ThreatQ's whitelist refuse it later, a policy an admin sets, not an enrichment; nor is
      it ``Active``, which would deploy what the vendor calls harmless. The score tells the
      two apart.
    - the score is the verdict's 0-100 score on ThreatQ's 0-10 scale (rounded half up); None
      when the verdict has none, so ThreatQ's own scoring decides.
    """
    if found.get("match") != "exact" or not isinstance(verdict, Mapping):
        return UNJUDGED
    status = STATUS_OF_LEVEL.get(str(verdict.get("level")), UNJUDGED[0])
    score = verdict.get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return status, None
    return status, min(10, max(0, int(score / 10 + 0.5)))


def _consume_payload(found: Mapping[str, Any], label: str, verdict: Any) -> dict[str, Any]:
    """A result's indicator as ThreatQ's consume payload (``Indicator.to_threatq()``), with
    the status and score the input's verdict gives it (:func:`judged`)."""
    attributes = [
        Attribute(a["name"], a["value"], _when(a.get("published_at")))
        for a in found.get("attributes", [])
    ]
    status, score = judged(found, verdict)
    indicator = Indicator(
        value=found["value"],
        type=found["type"],
        status=status,
        published_at=_when(found.get("published_at")),
        attributes=attributes,
        sources=[Source(label)],
    )
    return {**indicator.to_threatq(), "score": score}


def _when(text: Any) -> Any:
    return parse_datetime(text) if text else None


async def _json(request: Request) -> Any:
    return parsed_json(await request.body() or b"null")
