"""An operation as the host shows it: the runtime's read model of it (fields, actions and
options as they stand for the stored configuration) with the host's own settings of it.

The REST API gives :meth:`HostedOperation.to_dict`; the console draws the same object.
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from tqops.service import OperationView, passthrough

__all__ = ["BrokenOperation", "HostedOperation"]


@attrs.frozen
class HostedOperation:
    """An installed operation on this host."""

    view: OperationView
    #: ``uploaded`` or ``installed with tqops``
    source: str
    installed_at: Optional[str]
    enabled: bool
    max_tlp: str
    cache_ttl: int
    misp_allowed: bool
    #: whether the stored configuration resolves (a run can start)
    configured: bool
    #: vendor look-ups a UTC day (0: no quota), and how many today used
    daily_quota: int = 0
    quota_used: int = 0

    name = passthrough("view", "name")
    label = passthrough("view", "label")
    version = passthrough("view", "version")
    vendor = passthrough("view", "vendor")
    config = passthrough("view", "config")
    actions = passthrough("view", "actions")

    def to_dict(self) -> dict[str, Any]:
        """The operation as the REST API gives it."""
        return {
            "name": self.name,
            "label": self.label,
            "version": self.version,
            "vendor": self.vendor,
            "source": self.source,
            "installed_at": self.installed_at,
            "enabled": self.enabled,
            "max_tlp": self.max_tlp,
            "cache_ttl": self.cache_ttl,
            "misp_allowed": self.misp_allowed,
            "daily_quota": self.daily_quota,
            "quota_used_today": self.quota_used,
            "configured": self.configured,
            "actions": [action.to_dict() for action in self.actions],
            "config": [field.to_dict() for field in self.config],
        }


@attrs.frozen
class BrokenOperation:
    """An operation that failed to load, and why."""

    name: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "error": self.error}
