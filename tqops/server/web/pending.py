"""Uploads waiting for an admin's answer: an upgrade to confirm, or a refused version to force.

A browser cannot send a file again by itself, so the file stays here, in memory, for the admin
who sent it, until they confirm or cancel, or for half an hour; only a few are kept.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Optional

import attrs
from fastapi import Request

__all__ = ["PendingUpload", "PendingUploads", "pending_uploads"]

KEEP_SECONDS = 1800
KEEP_AT_MOST = 4


@attrs.frozen
class PendingUpload:
    token: str
    user_id: int
    filename: str
    data: bytes = attrs.field(repr=False)
    at: float


class PendingUploads:
    """The uploads waiting for an answer, each under a random token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, PendingUpload] = {}

    def keep(self, user_id: int, filename: str, data: bytes) -> PendingUpload:
        upload = PendingUpload(secrets.token_urlsafe(16), user_id, filename, data, time.time())
        with self._lock:
            self._expire()
            while len(self._waiting) >= KEEP_AT_MOST:
                oldest = min(self._waiting.values(), key=lambda u: u.at)
                del self._waiting[oldest.token]
            self._waiting[upload.token] = upload
        return upload

    def take(self, token: str, user_id: int) -> Optional[PendingUpload]:
        """The upload kept under ``token`` for this user, no longer kept (None if gone)."""
        with self._lock:
            self._expire()
            found = self._waiting.get(token)
            if found is None or found.user_id != user_id:
                return None
            return self._waiting.pop(token)

    def _expire(self) -> None:
        limit = time.time() - KEEP_SECONDS
        for token in [t for t, u in self._waiting.items() if u.at < limit]:
            del self._waiting[token]


def pending_uploads(request: Request) -> PendingUploads:
    """The application's waiting uploads (made on first use; the console's routes that use
    them run on the event loop, one at a time)."""
    found = getattr(request.app.state, "console_uploads", None)
    if found is None:
        found = request.app.state.console_uploads = PendingUploads()
    return found  # type: ignore[no-any-return]
