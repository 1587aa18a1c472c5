"""The HTTP layer: one Session per client, and every status and transport failure mapped to an
error with a hint naming the configuration field to change.

- :mod:`.auth`: how the credential is presented (:class:`BearerAuth`, :class:`HeaderAuth`)
- :mod:`.settings`: how to reach a vendor, and which field plays which role (:class:`HttpSettings`)
- :mod:`.pacing`: client-side pacing (:class:`RateLimiter`) and the retry policy
- :mod:`.failures`: statuses and transport failures as errors (:func:`error_for_status`,
  :func:`transport_error`)
- :mod:`.client`: :class:`HttpClient`
"""

from __future__ import annotations

# ``tqops.http.time`` is the clock RateLimiter reads; tests patch it through this name
import time as time

from tqops.http.auth import BearerAuth, HeaderAuth
from tqops.http.client import MAX_BODY_BYTES as MAX_BODY_BYTES
from tqops.http.client import USER_AGENT as USER_AGENT
from tqops.http.client import HttpClient
from tqops.http.failures import _vendor_message as _vendor_message
from tqops.http.failures import error_for_status, tls_reason, transport_error
from tqops.http.pacing import RETRY_STATUSES as RETRY_STATUSES
from tqops.http.pacing import RateLimiter
from tqops.http.pacing import _make_retry as _make_retry
from tqops.http.pacing import _Retry as _Retry
from tqops.http.settings import ROLES, HttpSettings
from tqops.http.settings import _check_proxy as _check_proxy
from tqops.http.settings import _mask_proxy as _mask_proxy

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
