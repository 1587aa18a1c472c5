"""What the modules of Cortex's API share: the router, whose errors are Cortex's (``{"type",
"message"}``, with the status cortex4py maps to its exceptions), request bodies, and the fields
elastic4play gives every object it answers."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tqops.server.api.common import parsed_json, protocol_route
from tqops.server.auth import Problem

__all__ = ["ORGANIZATION", "entity", "read_body", "router"]

#: the one organization of the host, as Cortex names the organization of its users and jobs
ORGANIZATION = "tqops"
_KINDS = {400: "BadRequest", 401: "AuthenticationError", 403: "AuthorizationError"}
_KINDS.update({404: "NotFoundError", 413: "BadRequest", 422: "BadRequest"})
#: a rate limit reached: 429 and RateLimitExceeded, as Cortex answers it (its ErrorHandler)
_KINDS[429] = "RateLimitExceeded"


def _render(status: int, message: str, headers: Optional[dict[str, str]]) -> JSONResponse:
    kind = _KINDS.get(status, "InternalError")
    return JSONResponse({"type": kind, "message": message}, status_code=status, headers=headers)


#: every route of Cortex's API (each module of it adds its own), its errors in Cortex's words
router = APIRouter(
    prefix="/api", tags=["cortex"], include_in_schema=False, route_class=protocol_route(_render)
)


def entity(
    kind: str, ident: str, created_at: Any, created_by: str, updated_at: Any = None
) -> dict[str, Any]:
    """The fields elastic4play writes on every object (``models/JsonFormat.scala``)."""
    return {
        "id": ident,
        "_id": ident,
        "_type": kind,
        "_routing": ident,
        "_parent": None,
        "_version": 1,
        "createdAt": created_at,
        "createdBy": created_by,
        "updatedAt": updated_at or created_at,
        "updatedBy": created_by,
    }


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    body = parsed_json(raw)
    if not isinstance(body, dict):
        raise Problem(400, "the body is a JSON object")
    return body
