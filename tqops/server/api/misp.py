"""MISP's enrichment modules (the misp-modules protocol), on a listener of their own.

Each enabled action is an ``expansion`` (and ``hover``) module named ``<operation>_<action>``;
``POST /query`` takes MISP's two forms and answers in the same one: the legacy form
``{"module", "<misp-type>": value, "config"}`` with ``{"results": [{"types", "values"}]}``, and
the misp_standard form ``{"module", "attribute": {...}, "config"}`` with ``{"results":
{"Attribute": [...], "Object": [...]}}``. Each answer says the verdict: the machine tag
``tqops:verdict="<level>"`` and its score and reasons in words (on the queried attribute and an
annotation in misp_standard, as a tagged text result in the legacy form: see
:mod:`tqops.server.api.misp_results`). An input policy keeps from the vendor (its TLP, its
type) answers the verdict ``unknown`` with the skip's reason in its text, nothing found, and
``"skipped": "<reason>"``, not an error. Errors are
``{"error": ...}``, answered with 200 as misp-modules answers them (MISP shows the text). Wire
format after misp-modules' server (``misp_modules/__main__.py``: ``/modules``, ``/query``,
``/healthcheck``, ``/version``), its misp_standard skeleton, and MISP's
``app/Model/Module.php`` (which sends each module's ``meta.config`` settings as ``config``).

MISP sends modules no credential, so this listener is off unless ``tqops serve --misp-modules``
turns it on, listens on loopback by default, and answers only the Host names it serves: its
address, on loopback the loopback names, and those ``--misp-allowed-hosts`` gives (MISP in
Docker calls its modules ``misp-modules:6666``). A query runs with the configuration it
carries (references to the host's environment or files refused), and with the stored one,
secrets included, only for operations an admin allowed for MISP.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from tqops import __version__
from tqops.config.files import read_regular_file
from tqops.config.values import StoredConfig
from tqops.exports.misp_types import MISP_TYPES
from tqops.server.api.common import (
    ActionRef,
    actions,
    job_results,
    parsed_json,
    platform_type,
    protocol_route,
    wait_for_job,
)
from tqops.server.api.misp_results import legacy_results, standard_results
from tqops.server.app import keep_integrations_current
from tqops.server.errors import Problem, answer_of
from tqops.server.host import Host
from tqops.server.jobs import FINISHED
from tqops.server.users import Role, User
from tqops.tlp import tlp_name

__all__ = ["MISP_USER", "create_app"]

#: who the audit log and the jobs name for a query (MISP sends no credential)
MISP_USER = User(0, "misp-modules", Role.ANALYST)
#: how long a query waits for its job (misp-modules' default); MISP's own client gives up
#: sooner (Enrichment_timeout), and the job's result is then cached for its next try
QUERY_WAIT = 300.0
#: the largest query taken (an attribute and a module's settings are small)
MAX_QUERY = 2**20
_REFERENCE_PREFIXES = ("env:", "file:")
#: the most a CA bundle a MISP query names may hold (bytes)
MAX_CA_FILE = 4_000_000


def _render(status: int, message: str, headers: Optional[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"error": message})  # misp-modules answers its errors with 200


router = APIRouter(tags=["misp"], include_in_schema=False, route_class=protocol_route(_render))


def create_app(host: Host) -> FastAPI:
    """The modules' application (no lifespan: the host's own application starts and stops
    the host). The listener that serves it answers only the Host names it is given
    (``tqops serve --misp-allowed-hosts``, its address, loopback names on loopback), so a web
    page cannot reach it through a rebound DNS name."""
    app = FastAPI(title="tqops MISP modules", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.host = host
    app.state.queries = 0  # in flight: at most the host's limits.misp_queries

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        answer = answer_of(exc)  # a path or method the modules do not have: 404, 405
        return JSONResponse({"error": answer.message}, status_code=answer.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request"}, status_code=400)

    keep_integrations_current(app, host)  # an upload to another host is a module here too
    app.include_router(router)
    return app


def _host(request: Request) -> Host:
    return request.app.state.host  # type: ignore[no-any-return]


def _modules(host: Host) -> dict[str, ActionRef]:
    return {ref.module_name: ref for ref in actions(host, enabled_only=True)}


def _module(ref: ActionRef) -> dict[str, Any]:
    # what is found (a host name with a path as a url), and the legacy form's verdict (text)
    found = [t for types in MISP_TYPES.values() for t in types]
    outputs = list(dict.fromkeys([*found, "url", "text"]))
    return {
        "name": ref.module_name,
        "type": "expansion",
        "mispattributes": {
            "input": ref.misp_types(),
            "output": outputs,
            "format": "misp_standard",
        },
        "meta": {
            "version": ref.manifest.version,
            "author": ref.manifest.vendor or "tqops",
            "description": f"{ref.label}: {ref.spec.label}, through the tqops host",
            "module-type": ["expansion", "hover"],
            "config": [field.name for field in ref.manifest.config],
            "name": f"{ref.label}: {ref.spec.label}",
        },
    }


@router.get("/modules")
def modules(request: Request) -> list[Any]:
    return [_module(ref) for ref in _modules(_host(request)).values()]


class Health(BaseModel):
    status: bool


class Version(BaseModel):
    version: str


@router.get("/healthcheck", response_model=Health)
def healthcheck() -> dict[str, Any]:
    return {"status": True}


@router.get("/version", response_model=Version)
def version() -> dict[str, Any]:
    return {"version": __version__}


@router.post("/query")
async def query(request: Request) -> dict[str, Any]:
    """One query, while fewer than the host's limit are in flight (``TQOPS_MISP_MAX_QUERIES``;
    over it, an error answer at once: MISP shows it, and its next try may be served)."""
    host, state = _host(request), request.app.state
    limit = host.limits.misp_queries
    if state.queries >= limit:  # one event loop: nothing runs between this and the count
        raise Problem(
            503,
            f"{limit} queries are in flight, the most this host answers at once "
            f"({host.limits.variable('misp_queries')}): try again shortly",
        )
    state.queries += 1
    try:
        return await _answer(request, host)
    finally:
        state.queries -= 1


async def _answer(request: Request, host: Host) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":  # a browser cannot send this cross-site without asking
        raise Problem(415, "a query is a JSON body (Content-Type: application/json)")
    body = parsed_json(await _bounded_body(request))
    if not isinstance(body, dict):
        raise Problem(400, "a query is a JSON object")
    ref = _modules(host).get(str(body.get("module")))
    if ref is None:
        raise Problem(404, f"no enabled module named {str(body.get('module'))[:60]!r}")
    attribute = body.get("attribute")
    standard = isinstance(attribute, dict)
    source = attribute if standard else body
    misp_type = str(source.get("type")) if standard else _legacy_type(body, ref.misp_types())
    value = source.get("value") if standard else body.get(misp_type)
    if misp_type not in ref.misp_types() or not isinstance(value, str) or not value.strip():
        raise Problem(400, "Unsupported attribute type.")
    selected = {
        "type": platform_type(misp_type, value, MISP_TYPES, ref.types),
        "value": value,
        "tlp": _tlp(source.get("Tag")) if standard else None,
    }
    config = _carried(ref, body.get("config"))
    # refused when the stored configuration it would run with is incomplete (a carried one
    # is checked as the run checks it)
    given = (ref.operation, ref.action, {}, None, [selected], MISP_USER, config)
    view = await asyncio.to_thread(lambda: host.create_job(*given, refuse_blocked=True))
    source = "its own configuration" if config else "the stored configuration (allowed)"
    client = request.client.host if request.client else "?"
    detail = f"job {view['id']}, {source}, from {client}"
    await asyncio.to_thread(host.store.audit, MISP_USER.name, "misp-query", ref.module_name, detail)
    view = await _wait_while_connected(request, host, view["id"], ref.module_name)
    if view["status"] in ("queued", "running"):
        host.jobs.cancel(view["id"])
        raise Problem(504, "Timeout.")
    if view["status"] != "done":
        raise Problem(502, view["error"] or f"the job was {view['status']}")
    (result,) = job_results(host, view["id"])
    if result["status"] == "error":
        raise Problem(502, result["error"])
    # a skip is policy, not an error: nothing found, and why beside (MISP reads only
    # ``results`` and ``error``, so the key is for a module's other clients and the logs)
    skipped = {"skipped": result.get("reason")} if result["status"] == "skipped" else {}
    if standard:
        return {"results": standard_results(result, ref.label, attribute), **skipped}
    asked = {"type": misp_type, "value": value}
    return {"results": legacy_results(result, ref.label, asked), **skipped}


async def _wait_while_connected(
    request: Request, host: Host, job_id: int, module: str
) -> dict[str, Any]:
    """The job's view once it has ended, or after :data:`QUERY_WAIT` seconds; a caller that
    hangs up first has its job cancelled (the workers send none of its calls not yet sent)
    and the cancel audited: nobody is left to read the answer."""
    deadline = time.monotonic() + QUERY_WAIT
    while True:
        view = await wait_for_job(host, job_id, 0)
        if view["status"] in FINISHED or time.monotonic() >= deadline:
            return view
        if await request.is_disconnected():
            if await asyncio.to_thread(host.jobs.cancel, job_id):
                detail = f"job {job_id}: its caller hung up"
                await asyncio.to_thread(host.store.audit, MISP_USER.name, "cancel", module, detail)
            raise Problem(499, "the caller hung up")
        await asyncio.sleep(0.05)


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_QUERY:
        raise Problem(413, f"a query is at most {MAX_QUERY} bytes")
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_QUERY:
            raise Problem(413, f"a query is at most {MAX_QUERY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _legacy_type(body: Mapping[str, Any], types: Sequence[str]) -> str:
    """The attribute type a legacy query names by its key (MISP adds event_id and
    attribute_uuid beside it)."""
    return next((t for t in types if t in body), "")


def _tlp(tags: Any) -> Optional[str]:
    """The TLP of a MISP attribute's ``tlp:`` tag, if it has one."""
    for tag in tags if isinstance(tags, list) else []:
        name = str(tag.get("name", "")) if isinstance(tag, dict) else ""
        if name.lower().startswith("tlp:"):
            return tlp_name(name[4:])
    return None


def _carried(ref: ActionRef, raw: Any) -> Optional[StoredConfig]:
    """The configuration a query carries (MISP's module settings); None: the stored one,
    when an admin allowed it for MISP. Carried and stored values are never mixed: a stored
    secret is not sent to a host a query names."""
    given = raw if isinstance(raw, dict) else {}
    carried = {
        name: value
        for name, value in given.items()
        if ref.manifest.config_field(str(name)) and value is not None and str(value).strip()
    }
    if not carried:
        if not ref.settings["misp_allowed"]:
            raise Problem(
                403,
                f"{ref.label} needs its configuration in MISP's settings of module "
                f"{ref.module_name} (an admin has not allowed its stored one for MISP)",
            )
        return None
    manifest = ref.manifest
    for name in manifest.secret_fields:
        if str(carried.get(name, "")).strip().startswith(_REFERENCE_PREFIXES):
            raise Problem(400, f"{name} is given by reference; MISP's settings give the value")
    # the caller is no one we know: a path it names gets one answer whatever is there
    # (missing, a directory, unreadable, not certificates), so the listener is no oracle
    # of the host's files; only a usable CA bundle goes on to the run
    for name in sorted(carried):
        field = manifest.config_field(name)
        if _names_a_file(field) and not _usable_ca_file(str(carried[name])):
            raise Problem(400, f"{name} is not a CA bundle this host can use")
    stored = StoredConfig.check(manifest, carried)
    stored.resolve()  # every missing or invalid field listed before anything is sent
    return stored


def _names_a_file(field: Any) -> bool:
    """Whether a configuration field's value is a path on the host (its format ``file``,
    always or for some value of the field it depends on)."""
    if field is None:
        return False
    chosen = field.format_when.cases if field.format_when else ()
    return field.format == "file" or any(fmt == "file" for _, fmt in chosen)


def _usable_ca_file(path: str) -> bool:
    """Whether ``path`` is a regular file of PEM certificates TLS can load (read once,
    bounded: a FIFO or a device is no CA bundle)."""
    try:
        data = read_regular_file(os.path.expanduser(path), MAX_CA_FILE)
        ssl.create_default_context().load_verify_locations(cadata=data.decode("ascii"))
    except (OSError, ValueError, ssl.SSLError):
        return False
    return True
