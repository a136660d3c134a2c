"""Bounds on a request's head (request line and headers), before any of the app runs.

uvicorn's httptools protocol takes a request head of any size and any duration: a huge header
is buffered and parsed on the event loop, and a client that trickles a byte now and then holds
its connection for ever. ``HeadLimitedProtocol`` is that protocol with three bounds:

- the head's bytes: past ``MAX_HEAD_BYTES`` the request is answered 431 and the connection
  closed, without reading the rest;
- the number of headers: past ``MAX_HEADERS``, 431 too;
- its duration: a head not complete within the header timeout closes the connection (the first
  request's head counts from the connection's opening, a later one's from its first byte; the
  idle time between keep-alive requests stays uvicorn's).

Requests' bodies and answers pass as before; the work per chunk read is a flag test once the
head is complete, and the timeout check is one timer per connection that re-arms itself
rather than a timer per request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

#: the request line and headers together, in bytes: far above what browsers and HTTP libraries
#: send, small enough to parse at once
MAX_HEAD_BYTES = 65_536
#: headers per request
MAX_HEADERS = 100
DEFAULT_HEADER_TIMEOUT_S = 10.0

_431_BODY = json.dumps(
    {
        "detail": "request header fields too large",
        "errors": [
            {
                "field": "headers",
                "message": f"at most {MAX_HEADERS} headers and {MAX_HEAD_BYTES} bytes "
                "of request line and headers",
            }
        ],
    }
).encode()
_431_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_431_BODY)).encode() + b"\r\n"
    b"connection: close\r\n"
    b"\r\n" + _431_BODY
)


class _TooManyHeaders(Exception):
    """Raised in the parser's callback to stop parsing; uvicorn answers the error."""


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (see the module docstring).

    The timeout is a class attribute so that a configured subclass can be handed to
    ``uvicorn.Config(http=...)``, which builds one protocol per connection itself."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S

    @classmethod
    def configured(cls, *, header_timeout_s: float) -> type[HeadLimitedProtocol]:
        return type(cls.__name__, (cls,), {"header_timeout_s": header_timeout_s})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # reading a head: from the connection's opening, and again after each request's end
        self._reading_head = True
        self._head_bytes = 0
        #: requests read to their end on this connection
        self._requests = 0
        #: loop time the current head began; None once it is complete, or between requests
        self._head_since: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._check_head_time)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._head_since is None:
                self._head_since = self.loop.time()
            room = MAX_HEAD_BYTES - self._head_bytes
            self._head_bytes += len(data)
            if len(data) > room:
                self._past_the_limit(data, room)
                return
        HttpToolsProtocol.data_received(self, data)

    def _past_the_limit(self, data: bytes, room: int) -> None:
        """The head may end within the room and the rest be its body (or the next request):
        parse up to the limit, and go on only if that head was complete by then."""
        requests = self._requests
        if room > 0:
            HttpToolsProtocol.data_received(self, data[:room])
            if self.transport.is_closing():
                return
        if self._reading_head and self._requests == requests:
            self._refuse()
            return
        HttpToolsProtocol.data_received(self, data[room:])

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_since = None
        if len(self.headers) > MAX_HEADERS:
            self._refused = True
            raise _TooManyHeaders
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # what follows on this connection is the next request's head (what follows within the
        # same read goes uncounted: at most one read more)
        self._requests += 1
        self._reading_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._refused:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        """Answer 431 and close: the rest of the request is not read."""
        self._refused = True
        self._reading_head = False
        self._head_since = None
        self.transport.write(_431_RESPONSE)
        self.transport.close()

    def _check_head_time(self) -> None:
        self._head_timer = None
        transport = self.transport
        # after a protocol switch (a WebSocket upgrade) the connection is no longer ours
        if transport.is_closing() or transport.get_protocol() is not self:
            return
        now = self.loop.time()
        since = self._head_since
        if since is not None and now - since >= self.header_timeout_s:
            self.logger.debug("closing a connection whose request head took too long")
            transport.close()
            return
        delay = self.header_timeout_s if since is None else since + self.header_timeout_s - now
        self._head_timer = self.loop.call_later(delay, self._check_head_time)
