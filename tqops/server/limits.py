"""What bounds a caller's work on the host: the inputs of one job, the jobs one user has open,
the MISP queries in flight, how long a listener waits for a request's headers and body and
for the next request of an idle connection, the connections it serves at once, and how long
ended jobs are kept.

Each is an environment variable of ``tqops serve`` (see :data:`SETTINGS`; the retention also
``--retention-days``), documented in the README's settings table; a value that is not a whole
number in its range is a one-line error when the host starts. A caller over a limit gets a
one-line error naming the limit and the variable that sets it, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import attrs

from tqops.server.settings import whole_settings

__all__ = ["SETTINGS", "HostLimits"]

#: environment variable -> (HostLimits field, default, lowest, highest): documented in the
#: README's settings table
SETTINGS: dict[str, tuple[str, int, int, int]] = {
    "TQOPS_MAX_JOB_INPUTS": ("job_inputs", 10_000, 1, 1_000_000),
    "TQOPS_MAX_OPEN_JOBS": ("open_jobs", 20, 1, 100_000),
    "TQOPS_MISP_MAX_QUERIES": ("misp_queries", 16, 1, 10_000),
    "TQOPS_HEADER_TIMEOUT": ("header_timeout", 10, 1, 3600),
    "TQOPS_BODY_TIMEOUT": ("body_timeout", 120, 1, 86_400),
    "TQOPS_IDLE_TIMEOUT": ("idle_timeout", 5, 1, 3600),
    "TQOPS_MAX_CONNECTIONS": ("connections", 1000, 1, 1_000_000),
    "TQOPS_RETENTION_DAYS": ("retention_days", 90, 0, 36_500),
}


@attrs.frozen
class HostLimits:
    """The host's limits (see the module's docstring)."""

    #: distinct (type, value) inputs one job takes
    job_inputs: int = 10_000
    #: jobs one user may have queued or running at once
    open_jobs: int = 20
    #: MISP queries the modules listener answers at once
    misp_queries: int = 16
    #: seconds a connection has to send a request's line and headers
    header_timeout: int = 10
    #: seconds a request has to send its body, once its headers are in
    body_timeout: int = 120
    #: seconds an idle keep-alive connection is kept open
    idle_timeout: int = 5
    #: connections (and requests in flight) a listener serves at once; more get 503
    connections: int = 1000
    #: days an ended job and its results are kept (0: for ever)
    retention_days: int = 90

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None) -> HostLimits:
        """The limits the environment sets (each variable unset: its default)."""
        return cls(**whole_settings(SETTINGS, environ))

    def variable(self, field: str) -> str:
        """The environment variable that sets ``field`` (what a refusal names)."""
        return next(name for name, spec in SETTINGS.items() if spec[0] == field)
