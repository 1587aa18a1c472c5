"""How a client presents its credential: a bearer token or a custom header.

Both keep the credential out of their repr, so a logged client or session never shows it.
"""

from __future__ import annotations

import requests
from requests.auth import AuthBase

__all__ = ["BearerAuth", "HeaderAuth"]


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth('********')"


class HeaderAuth(AuthBase):
    """A credential in a custom header (Tego's ``license``)."""

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self._value
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({self.header!r}, '********')"
