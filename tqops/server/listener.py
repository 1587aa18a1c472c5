"""The HTTP protocol ``tqops serve``'s listeners speak: uvicorn's, with deadlines a client
cannot hold open.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but waits for ever for a
request's line and headers and for its body: a client that sends half a request holds the
connection, and enough of them hold every one the host has. Here each request has
``header_timeout`` seconds from its first byte (or from the connection's start) to finish its
headers, then ``body_timeout`` seconds to send its body; past either, the connection is
closed (with ``408 Request Timeout`` when no answer had begun), and a route still reading the
body is told the client left.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

__all__ = ["guarded_protocol"]

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def guarded_protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (the one it would pick) with the header and body
    deadlines; give it to ``uvicorn.Config(http=...)``."""
    try:
        import httptools  # noqa: F401 - uvicorn's choice when it is installed
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class Guarded(Base):  # type: ignore[misc, valid-type]
        """Both implementations start a request's ``cycle`` when its headers are in, and mark
        its body complete with ``more_body = False``: that is all this reads of them."""

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            self._deadline: Optional[asyncio.TimerHandle] = None
            self._waiting = ""  # "headers" or "body": what the deadline is for
            self._seen: Any = None  # the last request whose headers came in
            super().connection_made(transport)
            self._arm("headers")  # a connection that sends nothing is held no longer

        def data_received(self, data: bytes) -> None:
            between = self.cycle is None or self.cycle.response_complete
            if between and self._deadline is None:  # a new request begins
                self._arm("headers")
            super().data_received(data)
            self._advance()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._advance()  # a pipelined request may have started from the buffer

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _advance(self) -> None:
            cycle = self.cycle
            if cycle is not None and cycle is not self._seen:  # its headers are in
                self._seen = cycle
                self._disarm()
                if cycle.more_body:
                    self._arm("body")
            elif self._waiting == "body" and (cycle is None or not cycle.more_body):
                self._disarm()

        def _arm(self, waiting: str) -> None:
            self._disarm()
            seconds = header_timeout if waiting == "headers" else body_timeout
            self._waiting = waiting
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._waiting = None, ""

        def _expired(self) -> None:
            waiting = self._waiting
            self._deadline, self._waiting = None, ""
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # closed, or handed on (a WebSocket upgrade has its own protocol)
            idle = self.cycle is None or self.cycle.response_complete
            if waiting == "headers" and idle:
                seconds = int(header_timeout)
                body = b'{"error": "the request\'s headers took over %d s"}' % seconds
                self.transport.write(_TIMED_OUT % (len(body), body))
            self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{Base.__name__}"
    return Guarded
