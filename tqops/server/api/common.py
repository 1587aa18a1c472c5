"""What the protocol views (ThreatQ, Cortex, MISP) share, so that none imports another: the
host's actions under the names each protocol gives them, the platform's indicator types beside
Cortex's data types and MISP's attribute types, TLP as numbers, errors answered in each
protocol's own format, and waiting for a job to end."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
import zlib
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import attrs
from fastapi import Request, Response
from fastapi.routing import APIRoute

from tqops.errors import InputError
from tqops.exports.misp_types import MISP_TYPES
from tqops.server.errors import Problem, answer_of
from tqops.server.host import Host
from tqops.server.jobs import FINISHED
from tqops.service import Manifest

__all__ = [
    "CORTEX_LEVELS",
    "CORTEX_TYPES",
    "ActionRef",
    "actions",
    "epoch_ms",
    "find_action",
    "job_results",
    "parsed_json",
    "platform_type",
    "protocol_route",
    "tlp_from_number",
    "tlp_number",
    "wait_for_job",
]

#: a verdict's level as a Cortex taxonomy's level says it
CORTEX_LEVELS: Mapping[str, str] = {
    "malicious": "malicious",
    "suspicious": "suspicious",
    "benign": "safe",
    "unknown": "info",
}

#: the platform's indicator types and the Cortex data types they are (first: what we answer)
CORTEX_TYPES: Mapping[str, tuple[str, ...]] = {
    "IP Address": ("ip",),
    "IPv6 Address": ("ip",),
    "FQDN": ("fqdn", "domain"),
    "Hostname": ("fqdn", "domain"),
    "URL": ("url",),
    "Email Address": ("mail",),
    "MD5": ("hash",),
    "SHA-1": ("hash",),
    "SHA-256": ("hash",),
    "SHA-512": ("hash",),
    "Filename": ("filename",),
    "ASN": ("autonomous-system",),
    "User-agent": ("user-agent",),
    "Registry Key": ("registry",),
    "Email Subject": ("mail-subject",),
}
_HASH_LENGTHS = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}
#: Cortex and TheHive number TLP 0-3 (TheHive 5 adds 4 for RED, making 3 AMBER+STRICT): 3 and
#: 4 are both read as RED, the stricter reading, so no number lets more out than it meant
_TLP_OF_NUMBER = {0: "CLEAR", 1: "GREEN", 2: "AMBER", 3: "RED", 4: "RED"}
_NUMBER_OF_TLP = {"CLEAR": 0, "GREEN": 1, "AMBER": 2, "AMBER+STRICT": 3, "RED": 3}


@attrs.frozen
class ActionRef:
    """One action of an installed operation, as the protocols name and describe it: its
    manifest (``spec`` is the action's entry) and the host's settings of the operation."""

    operation: str
    action: str
    label: str
    types: tuple[str, ...]
    manifest: Manifest = attrs.field(repr=False)
    spec: Any = attrs.field(repr=False)
    settings: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def description(self) -> str:
        return str(self.spec.description or self.manifest.description or "")

    @property
    def analyzer_name(self) -> str:
        """Cortex's name: ``DCSO_TIE_Search``."""
        words = [w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", self.action) if w]
        return "_".join([_identifier(self.label), *words])

    @property
    def analyzer_id(self) -> str:
        """Cortex's definition id: the name and the major and minor version, ``_1_1``."""
        major_minor = self.manifest.version.split(".")[:2]
        return "_".join([self.analyzer_name, *[_identifier(p) for p in major_minor]])

    @property
    def module_name(self) -> str:
        """MISP's module name: ``dcso_tie_search``."""
        return f"{self.operation}_{self.action}".lower()

    @property
    def plugin_id(self) -> int:
        """ThreatQ's plugin id: a stable number for the operation (installs do not shift it)."""
        return zlib.crc32(self.operation.encode()) & 0x7FFFFFFF

    def cortex_types(self) -> list[str]:
        return _foreign_types(self.types, CORTEX_TYPES)

    def misp_types(self) -> list[str]:
        return _foreign_types(self.types, MISP_TYPES)


def _identifier(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _foreign_types(types: Sequence[str], table: Mapping[str, tuple[str, ...]]) -> list[str]:
    found: list[str] = []
    for kind in types:
        found += [t for t in table.get(kind, ()) if t not in found]
    return found


def actions(host: Host, *, enabled_only: bool = False) -> list[ActionRef]:
    """Every action of every operation that loaded, in name order."""
    found = []
    for name in sorted(host.registry.operations):
        manifest = host.service.operation(name).manifest
        settings = host.store.settings(name)
        for spec in manifest.actions:
            if settings["enabled"] or not enabled_only:
                types = tuple(t.value for t in spec.indicator_types)
                found.append(
                    ActionRef(name, spec.name, manifest.label, types, manifest, spec, settings)
                )
    return found


def find_action(host: Host, test: Callable[[ActionRef], bool]) -> Optional[ActionRef]:
    return next((ref for ref in actions(host) if test(ref)), None)


def platform_type(
    foreign: str, value: str, table: Mapping[str, tuple[str, ...]], accepted: Sequence[str]
) -> str:
    """The platform type a protocol's type (and its value) is, among those an action takes:
    an address by its version, a hash by its length, otherwise the closest match."""
    candidates = sorted(
        (kind for kind, names in table.items() if foreign in names),
        key=lambda kind: table[kind].index(foreign),
    )
    if {"IP Address", "IPv6 Address"} & set(candidates):
        candidates = [_address_type(value)] if _address_type(value) else candidates
    if set(candidates) & set(_HASH_LENGTHS.values()):
        by_length = _HASH_LENGTHS.get(len(value.strip()))
        candidates = [by_length] if by_length else candidates
    taken = [kind for kind in candidates if kind in accepted]
    if not taken:
        raise InputError(f"this action does not take {foreign!r}; it takes {', '.join(accepted)}")
    return taken[0]


def _address_type(value: str) -> Optional[str]:
    try:
        address = ipaddress.ip_address(value.strip().split("/")[0])
    except ValueError:
        return None
    return "IPv6 Address" if address.version == 6 else "IP Address"


def tlp_from_number(number: Any) -> str:
    """A Cortex or TheHive TLP number as the host's level (AMBER when none is given)."""
    if number is None or number == "":
        return "AMBER"
    try:
        return _TLP_OF_NUMBER[int(number)]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"tlp is a number from 0 to 4, not {str(number)[:20]!r}") from None


def tlp_number(name: str) -> int:
    return _NUMBER_OF_TLP.get(name, 2)


def epoch_ms(stamp: Optional[str]) -> Optional[int]:
    """An ISO 8601 UTC stamp of the store in milliseconds since the epoch (Cortex's dates)."""
    if not stamp:
        return None
    # fromisoformat, not strptime: a listing of thousands of jobs converts three stamps each
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(moment.replace(tzinfo=moment.tzinfo or timezone.utc).timestamp() * 1000)


# -- errors, each protocol in its own format --------------------------------------------------

#: a protocol's error body: (status, one-line message, headers) -> its answer
Render = Callable[[int, str, Optional[dict[str, str]]], Response]


def protocol_route(render: Render) -> type[APIRoute]:
    """A route class whose errors ``render`` answers, whatever the application's own handlers
    say (each protocol's clients read their own error format); the status of each error is
    the host's one mapping (:func:`tqops.server.errors.answer_of`), with 400 for a request
    its route cannot read."""

    class ProtocolRoute(APIRoute):
        #: the protocol's error answer, for what refuses a request before its route runs
        #: (a body over the limit, a Host not served: :mod:`tqops.server.app`)
        protocol_error = staticmethod(render)

        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:  # every error, in the protocol's own words
                    answer = answer_of(exc, invalid_status=400)
                    return render(answer.status, answer.message, answer.headers)

            return guarded

    return ProtocolRoute


# -- jobs -------------------------------------------------------------------------------------


async def wait_for_job(host: Host, job_id: int, timeout: float) -> dict[str, Any]:
    """The job's view once it has ended, or as it is when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        view = await asyncio.to_thread(host.job, job_id)
        if view["status"] in FINISHED and not host.jobs.running(job_id):
            return view
        if time.monotonic() >= deadline:
            return view
        await asyncio.sleep(0.05)


def parsed_json(raw: bytes) -> Any:
    """A request body's JSON: 400 when it is not JSON or nests deeper than
    :data:`MAX_JSON_DEPTH`, 422 when it holds an integer over 64 bits (no id, count or offset
    is: the store would refuse it with an error of its own, a 500)."""
    if _deeper_than(raw, MAX_JSON_DEPTH):
        raise Problem(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_int=_int64)
    except _OutOfRange as exc:
        raise Problem(422, f"the number {exc} in the body is over the 64-bit limit") from None
    except (ValueError, RecursionError):
        raise Problem(400, "the body is not JSON") from None


#: how deep a JSON body may nest: the deepest a client sends (a Cortex query) is far less,
#: and a bound keeps a body of brackets from exhausting a recursion later (a 500)
MAX_JSON_DEPTH = 32
_INT64 = range(-(2**63), 2**63)


class _OutOfRange(ValueError):
    pass


def _int64(text: str) -> int:
    # 20 digits and a sign at most: a longer literal is refused before it is converted
    number = int(text) if len(text) <= 20 else None
    if number is None or number not in _INT64:
        raise _OutOfRange(text[:24] + ("..." if len(text) > 24 else ""))
    return number


def _deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests more than ``limit`` lists and objects deep, found
    at C speed (a walk of the parsed document took seconds on a large body): escapes and then
    strings are taken out (outside strings JSON has no backslash or quote), and the innermost
    bracket pairs taken away, one level a round."""
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(plain.split(b'"')[::2])
    nest = outside.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not nest:
            return False
        nest = nest.replace(b"[]", b"").replace(b"{}", b"")
    # left over: deeper still, unless nothing pairs any more (not JSON: its parser says so)
    return bool(nest) and nest.replace(b"[]", b"").replace(b"{}", b"") != nest


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def job_results(host: Host, job_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """A job's results (the ``tqops run --format json`` contract), in input order."""
    _, rows = host.store.results(job_id, None, 0, limit)
    return [json.loads(row["result"]) for row in rows]
