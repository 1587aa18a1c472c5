"""The audit log as a person reads it: each entry's action in words ("reset the password of",
not ``reset-password``), an operation, action or field by its manifest's label ("Search DCSO
TIE", "Access Token", not ``dcso_tie.search`` or ``access_token``), and counts said with their
grammar ("an analyst", "1 input"). The store keeps the codes (the REST API answers them, for
scripts); only the page says them in words. A code this module does not know is shown with
its dashes as spaces, never dropped."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable, Optional

import attrs

from tqops.errors import ConfigError, ManifestError
from tqops.server.host import Host

__all__ = ["AuditLine", "audit_lines"]

#: what each action code says (the user comes before it, its target after)
DID = {
    "login": "logged in to",
    "logout": "logged out of",
    "login-failed": "failed to log in to",
    "key-failed": "was refused with an API key that is not valid, at",
    "throttled": "was held back after too many failed attempts, at",
    "credential-in-query": "sent a credential in a URL (refused), to",
    "change-password": "changed the password of",
    "add-user": "added the user",
    "new-key": "made a new API key for",
    "role-user": "changed the role of",
    "disable-user": "disabled the user",
    "enable-user": "enabled the user",
    "remove-user": "removed the user",
    "reset-password": "reset the password of",
    "user-add": "added the user",
    "user-key": "made a new API key for",
    "user-password": "set the password of",
    "user-disable": "disabled the user",
    "user-enable": "enabled the user",
    "user-remove": "removed the user",
    "install": "installed",
    "upgrade": "upgraded",
    "remove": "removed the integration",
    "configure": "configured",
    "configure-refused": "was refused a configuration of",
    "settings": "changed the host's settings of",
    "test-connection": "tested the connection of",
    "add-indicators": "added",
    "delete": "deleted",
    "run": "ran",
    "cancel": "cancelled",
    "resume": "resumed",
    "import-results": "added to the platform what was found by",
    "threatq-token": "was given a ThreatQ token by",
    "misp-query": "queried through MISP",
}
#: the targets that are a place, not a thing
PLACES = {
    "console": "the console",
    "console-password": "the console's change of password",
    "threatq-token": "ThreatQ's login",
}
#: the host's settings of an operation, by name (as the configuration page labels them)
SETTINGS = {
    "enabled": "Enabled",
    "max_tlp": "Highest TLP sent",
    "cache_ttl": "Cache TTL (seconds)",
    "misp_allowed": "MISP may use the stored configuration",
    "daily_quota": "Daily quota (look-ups)",
}
#: who ``cli`` is: the host's own command line
CLI = "the command line (tqops users)"
_FIELDS = re.compile(r"^fields: (.*)$")
_COUNT = re.compile(r"\b1 (input|attribute|indicator|new indicator)s\b")
_ROLE = {"admin": "an admin", "analyst": "an analyst", "viewer": "a viewer"}


@attrs.frozen
class AuditLine:
    """One entry, in words."""

    at: str
    user: str
    did: str
    to: str
    detail: str
    #: the code the store keeps (the REST API answers it)
    code: str


def _labels(host: Host) -> Callable[[str], Optional[Any]]:
    """An operation's manifest by name (None for one not installed: its name is shown)."""
    found: dict[str, Optional[Any]] = {}

    def manifest(name: str) -> Optional[Any]:
        if name not in found:
            try:
                found[name] = host.service.describe(name)
            except (ConfigError, ManifestError, LookupError):  # removed, broken: its name
                found[name] = None
        return found[name]

    return manifest


def _operation(manifest: Callable[[str], Optional[Any]], target: str) -> str:
    """``dcso_tie`` as ``DCSO TIE``; ``dcso_tie.search`` as ``Search DCSO TIE``."""
    name, _, action = target.partition(".")
    found = manifest(name)
    if found is None:
        return target
    if not action:
        return str(found.label)
    try:
        return str(found.action(action).label)
    except (LookupError, ValueError):
        return f"{found.label}: {action}"


def _field_labels(found: Any, names: str) -> str:
    by_name = {f.name: f.label for f in found.config} if found is not None else {}
    return ", ".join(by_name.get(n.strip(), n.strip()) for n in names.split(","))


def _settings(detail: str) -> str:
    try:
        values = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(values, Mapping):
        return detail
    shown = []
    for name, value in values.items():
        if name in ("enabled", "misp_allowed"):
            value = "yes" if value else "no"
        elif name in ("cache_ttl", "daily_quota") and value == 0:
            value = "off" if name == "cache_ttl" else "no limit"
        shown.append(f"{SETTINGS.get(name, name)}: {value}")
    return ", ".join(shown)


def _detail(code: str, detail: str, found: Any) -> str:
    if code == "configure":
        fields = _FIELDS.match(detail)
        if fields:
            return f"fields: {_field_labels(found, fields.group(1))}"
    if code == "settings":
        return _settings(detail)
    if code in ("add-user", "user-add") and detail in _ROLE:
        return f"as {_ROLE[detail]}"
    if code == "role-user" and detail in _ROLE:
        return f"to {_ROLE[detail]}"
    if code == "user-key" and detail in _ROLE:
        return _ROLE[detail]
    if code == "configure-refused" and detail == "secret reference":
        return "a secret given by a reference to a file the host does not allow"
    if code == "add-indicators":
        added = re.fullmatch(r"(\d+) added", detail)
        if added:
            return f"{added.group(1)} new indicator{'' if added.group(1) == '1' else 's'}"
    if code == "test-connection":
        detail = detail.replace("entered values, ", "with the values entered: ")
        detail = {"ok": "it works", "failed": "it failed"}.get(detail, detail)
        detail = detail.replace(": ok", ": it works").replace(": failed", ": it failed")
    return _COUNT.sub(lambda m: f"1 {m.group(1)}", detail)


def audit_lines(host: Host, rows: list[Mapping[str, Any]]) -> list[AuditLine]:
    """The audit log's rows, in words."""
    manifest = _labels(host)
    lines = []
    for row in rows:
        code, target = str(row["action"]), str(row["target"] or "")
        detail = str(row["detail"] or "")
        operational = code in (
            "install", "upgrade", "remove", "configure", "configure-refused", "settings",
            "test-connection", "run", "misp-query",
        )  # fmt: skip
        to = _operation(manifest, target) if operational else PLACES.get(target, target)
        found = manifest(target.partition(".")[0]) if operational else None
        if code == "add-indicators":
            to = ""
        user = str(row["user"] or "")
        lines.append(
            AuditLine(
                at=str(row["at"]),
                user=CLI if user == "cli" else user,
                did=DID.get(code, code.replace("-", " ")),
                to=to,
                detail=_detail(code, detail, found),
                code=code,
            )
        )
    return lines
