"""The HTTP layer: one Session per client, calls of any method, and every status and transport
failure mapped to an error with a hint naming the configuration field to change.

- :mod:`.auth`: how the credential is presented (:class:`BearerAuth`, :class:`HeaderAuth`)
- :mod:`.settings`: how to reach a vendor, and which field plays which role (:class:`HttpSettings`)
- :mod:`.pacing`: client-side pacing (:class:`RateLimiter`) and the retry policy, chosen per
  call by whether it may be sent twice
- :mod:`.failures`: statuses and transport failures as errors (:func:`error_for_status`,
  :func:`transport_error`)
- :mod:`.redaction`: the secrets a client masks, echoed ones included
- :mod:`.client`: :class:`HttpClient` (``request``, ``get``, ``post`` and their ``_json`` forms)
"""

from __future__ import annotations

from tqops.http.auth import BearerAuth, HeaderAuth
from tqops.http.client import HttpClient
from tqops.http.failures import error_for_status, tls_reason, transport_error
from tqops.http.pacing import RateLimiter
from tqops.http.settings import ROLES, HttpSettings

__all__ = [
    "ROLES",
    "BearerAuth",
    "HeaderAuth",
    "HttpClient",
    "HttpSettings",
    "RateLimiter",
    "error_for_status",
    "tls_reason",
    "transport_error",
]
