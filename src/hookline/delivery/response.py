"""What a webhook receiver answers, read safely: the errors, the parsed ``Response`` and the
parser callbacks that keep one answer within its caps (see ``hookline.delivery.http1``).
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import httptools

from hookline.core.attempt_headers import RESPONSE_HEADERS_CAP_BYTES
from hookline.delivery.request import RequestError

#: the status line and headers of one answer, interim (1xx) answers included: far above what
#: any receiver sends, and what a connection buffers at most before its body
HEAD_CAP_BYTES = 64 * 1024
HEADER_COUNT_CAP = 100  # headers in one answer


class ProtocolError(RequestError):
    """The server's answer is not valid HTTP/1.x."""


class ClientClosed(RequestError):
    pass


class ConnectError(OSError):
    """No connection could be opened (DNS, refused, unreachable, TLS handshake)."""


class HeadTooLarge(ProtocolError):
    """The status line and headers went past ``HEAD_CAP_BYTES`` or ``HEADER_COUNT_CAP``."""


class ServerDisconnected(ConnectionError):
    """The connection ended before a complete answer arrived."""

    def __init__(self, message: str, *, before_response: bool) -> None:
        super().__init__(message)
        #: not one byte of the answer had arrived (a stale keep-alive connection looks so)
        self.before_response = before_response


class Response(NamedTuple):
    status: int
    #: at most the pool's body cap, decompressed when the server used gzip or deflate
    body: bytes
    retry_after: str | None
    #: the answer's headers as they came, up to ``RESPONSE_HEADERS_CAP_BYTES`` in all
    headers: list[tuple[bytes, bytes]]


# -- responses ------------------------------------------------------------------------------
class ResponseReader:
    """The answers on one connection, as they are parsed: httptools calls the ``on_*`` methods.

    One per connection, with its parser, rather than one per exchange (fewer objects a request).
    The parser holds the reader; the reader sees the parser only while it is being fed
    (``feed``), so the two never form a cycle that only the garbage collector could free.
    ``begin`` resets every field, so nothing of one answer leaks into the next. The body is kept
    up to ``cap`` bytes, inflated first when it is gzip or deflate.
    """

    def __init__(self) -> None:
        self._parser: httptools.HttpResponseParser | None = None
        self.begin(0)

    def feed(self, parser: httptools.HttpResponseParser, data: bytes) -> None:
        self._parser = parser
        try:
            parser.feed_data(data)
        finally:
            self._parser = None

    def begin(self, cap: int) -> None:
        """Ready for the answer to a new request."""
        self._cap = cap
        self._chunks: list[bytes] = []
        self.size = 0
        #: some of the body was dropped: over the cap, or not inflatable
        self.truncated = False
        self._decoder: zlib._Decompress | None = None
        self.complete = False
        self.keep_alive = False
        self.head_too_large = False
        self._new_message()

    @property
    def full(self) -> bool:
        """As much of the body as will be kept is in: no need to wait for the rest."""
        return self.headers_done and self.size >= self._cap

    def response(self) -> Response:
        return Response(self.status, b"".join(self._chunks), self.retry_after, self._headers)

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        if self.complete:
            raise SurplusMessage  # stops the parser: one request gets one answer
        self._new_message()  # after a 1xx interim answer: its headers are not the real answer's

    def _new_message(self) -> None:
        self.status = 0
        self.retry_after: str | None = None
        self._encoding: bytes | None = None
        self.framed = False
        self.headers_done = False
        self._interim = False
        self._header_count = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_room = RESPONSE_HEADERS_CAP_BYTES

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > HEADER_COUNT_CAP:
            self.head_too_large = True
            raise HeadOverCap  # stops the parser
        self._headers_room -= len(name) + len(value)
        if self._headers_room >= 0:
            self._headers.append((name, value))
        name = name.lower()
        if name in (b"content-length", b"transfer-encoding"):
            self.framed = True
        elif name == b"retry-after":
            if self.retry_after is None:
                self.retry_after = value.decode("latin-1")
        elif name == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self.status = self._parser.get_status_code()
        self._interim = self.status < 200
        self.headers_done = not self._interim

    def on_body(self, chunk: bytes) -> None:
        room = self._cap - self.size
        if room <= 0:
            self.truncated = True
            return
        if self._encoding in (b"gzip", b"x-gzip", b"deflate"):
            chunk = self._inflate(chunk, room)
        elif len(chunk) > room:
            self.truncated = True
            chunk = chunk[:room]
        if chunk:
            self._chunks.append(chunk)
            self.size += len(chunk)

    def on_message_complete(self) -> None:
        if self._interim:
            return  # 100 Continue and the like: the real answer follows
        self.complete = True
        # read here: llhttp clears what it is computed from right after this callback
        assert self._parser is not None
        self.keep_alive = self._parser.should_keep_alive()

    def _inflate(self, chunk: bytes, room: int) -> bytes:
        """At most ``room`` bytes of output, however much ``chunk`` would inflate to."""
        if self._decoder is None:
            self._decoder = zlib.decompressobj(_wbits(self._encoding, chunk))
        try:
            out = self._decoder.decompress(chunk, room)
        except zlib.error:
            # the body claims a compression it does not have: keep what inflated, drop the rest
            self._cap = self.size
            self.truncated = True
            return b""
        if self._decoder.unconsumed_tail:
            self.truncated = True
        return out


def _wbits(encoding: bytes | None, first: bytes) -> int:
    if encoding == b"deflate" and first and first[0] & 0x0F != 8:
        return -zlib.MAX_WBITS  # raw deflate, without the zlib header some servers leave out
    return zlib.MAX_WBITS | 32  # zlib or gzip header, detected


class SurplusMessage(Exception):
    """Raised inside the parser when a second answer begins."""


class HeadOverCap(Exception):
    """Raised inside the parser at one header too many."""


def head_too_large() -> HeadTooLarge:
    return HeadTooLarge(
        f"response headers too large (over {HEAD_CAP_BYTES} bytes or {HEADER_COUNT_CAP} headers)"
    )
