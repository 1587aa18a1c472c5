"""Integrations uploaded to the host: checking an integration file (:mod:`.wheel`), keeping
and importing it under the data directory (:mod:`.files`), and installing, upgrading and
removing it on the host (:mod:`.installer`)."""

from __future__ import annotations

from tqops.server.integrations.files import InstalledIntegration, Integrations
from tqops.server.integrations.installer import (
    Decision,
    Installer,
    upgrade_findings,
    version_decision,
)
from tqops.server.integrations.wheel import CheckedWheel, IntegrationError, Limits, check_wheel

__all__ = [
    "CheckedWheel",
    "Decision",
    "InstalledIntegration",
    "Installer",
    "IntegrationError",
    "Integrations",
    "Limits",
    "check_wheel",
    "upgrade_findings",
    "version_decision",
]
