"""A lean HTTP/1.1 client for webhook POSTs: an asyncio protocol, httptools, a keep-alive pool.

aiohttp's ClientSession spends ~115 µs of CPU per POST; a protocol-level client does the same
work in a fraction of that, and sending is Hookline's core job. So this client does only what a
webhook attempt needs: POST, one request at a time per connection (no pipelining), no redirects,
no cookies, no proxies. It connects only to addresses the caller's lookup returned, which is
where the SSRF guard sits (see ``hookline.delivery.resolver``).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple, cast

import httptools

from hookline.core.attempt_headers import RESPONSE_HEADERS_CAP_BYTES
from hookline.delivery.request import Origin, RequestError, parse_target, serialize_request

#: ``lookup(host, port)``: the addresses the client may connect to for ``host``, best first
Lookup = Callable[[str, int], Awaitable[list[str]]]

KEEPALIVE_S = 30.0  # idle pooled connections are closed after this
#: how often running exchanges are checked against their deadlines: a timeout fires up to this
#: late. asyncio.timeout() per request costs ~5 µs under uvloop (a bare timer ~3 µs), a quarter
#: of what a whole POST costs here; one periodic check for all of them costs next to nothing
DEADLINE_TICK_S = 0.05


class ProtocolError(RequestError):
    """The server's answer is not valid HTTP/1.x."""


class ClientClosed(RequestError):
    pass


class ConnectError(OSError):
    """No connection could be opened (DNS, refused, unreachable, TLS handshake)."""


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
class _ResponseReader:
    """The answers on one connection, as they are parsed: httptools calls the ``on_*`` methods.

    One per connection, with its parser, rather than one per exchange: the two reference each
    other, and a new pair per request left ~8 objects a request to the garbage collector (~2 µs).
    ``begin`` resets every field, so nothing of one answer leaks into the next. The body is kept
    up to ``cap`` bytes, inflated first when it is gzip or deflate.
    """

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.begin(0)

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
            raise _SurplusMessage  # stops the parser: one request gets one answer
        self._new_message()  # after a 1xx interim answer: its headers are not the real answer's

    def _new_message(self) -> None:
        self.status = 0
        self.retry_after: str | None = None
        self._encoding: bytes | None = None
        self.framed = False
        self.headers_done = False
        self._interim = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_room = RESPONSE_HEADERS_CAP_BYTES

    def on_header(self, name: bytes, value: bytes) -> None:
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
        self.status = self.parser.get_status_code()
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
        self.keep_alive = self.parser.should_keep_alive()

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


class _SurplusMessage(Exception):
    """Raised inside the parser when a second answer begins."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, feeds the bytes that come back to httptools."""

    def __init__(self, origin: Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.idle_since = 0.0  # loop time
        #: has carried an exchange: a failure before any answer may just mean it went stale
        self.used = False
        #: the last answer left the connection clean and the server willing to keep it open
        self.reusable = False
        self.lost = False
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._lost_waiter: asyncio.Future[None] | None = None
        # the exchange in progress
        self._waiter: asyncio.Future[Response] | None = None
        self._reader = _ResponseReader()
        self._got_bytes = False
        self.deadline = 0.0  # loop time

    # -- what the pool calls
    def send(self, request: bytes, cap: int, deadline: float) -> asyncio.Future[Response]:
        """Send ``request``; the future gets the answer (its body cut at ``cap`` bytes).

        A plain function returning the future, not a coroutine: one frame less per request.
        The pool calls ``time_out_if_due`` to end it at ``deadline``.
        """
        # closing: the server's EOF came in while it was idle, connection_lost is yet to run
        if self.lost or self._transport is None or self._transport.is_closing():
            raise ServerDisconnected("the connection was already closed", before_response=True)
        self.used = True
        self.reusable = False
        self.deadline = deadline
        self._reader.begin(cap)
        self._got_bytes = False
        waiter: asyncio.Future[Response] = self._loop.create_future()
        self._waiter = waiter
        self._transport.write(request)
        return waiter

    def time_out_if_due(self, now: float) -> bool:
        """End the exchange with ``TimeoutError`` if its deadline passed; True if it runs on."""
        if self._waiter is None:
            return False
        if now < self.deadline:
            return True
        self._fail(TimeoutError())  # the pool then closes the connection
        return False

    def abort(self) -> None:
        """Close now. Nothing is ever left to flush: the pool closes only idle or failed ones."""
        if self._transport is not None and not self.lost:
            self._transport.abort()

    async def wait_lost(self) -> None:
        if not self.lost:
            self._lost_waiter = self._loop.create_future()
            await self._lost_waiter

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # bytes nobody asked for: what follows can no longer be framed
            self.reusable = False
            self.abort()
            return
        self._got_bytes = True
        reader = self._reader
        try:
            reader.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not reader.complete:
                self._fail(ProtocolError(f"invalid response: {exc}"))
                return
            reader.keep_alive = False  # a complete answer followed by more: still the answer
        if reader.complete or reader.full:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._reader.headers_done and not self._reader.framed:
                # no Content-Length nor chunking: the body ran to the end of the connection
                self._reader.complete = True
                self._finish()
            else:
                self._fail(_disconnected(exc, before_response=not self._got_bytes))
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)

    # -- ending an exchange
    def _finish(self) -> None:
        waiter, reader = self._waiter, self._reader
        assert waiter is not None
        self._waiter = None
        self.reusable = (
            reader.complete and reader.keep_alive and not reader.truncated and not self.lost
        )
        waiter.set_result(reader.response())

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        assert waiter is not None
        self._waiter = None
        self.reusable = False
        if not waiter.done():
            waiter.set_exception(exc)


def _disconnected(exc: Exception | None, *, before_response: bool) -> ServerDisconnected:
    what = "without answering" if before_response else "before the answer was complete"
    detail = f" ({exc})" if exc is not None else ""
    return ServerDisconnected(
        f"the server closed the connection {what}{detail}", before_response=before_response
    )


# -- the pool -------------------------------------------------------------------------------
class ConnectionPool:
    """Keep-alive connections per origin, at most ``max_connections`` open in all.

    Idle connections count towards the cap (it bounds open sockets); when it is reached, the
    oldest idle connection makes room, and only when every connection is busy do callers wait.
    A woken waiter may lose the freed connection to a caller that just arrived; it then waits
    at the front again. Create the pool inside the running event loop.
    """

    def __init__(
        self,
        *,
        lookup: Lookup,
        max_connections: int,
        body_cap_bytes: int,
        ssl_context: ssl.SSLContext,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._lookup = lookup
        self._max = max_connections
        self._cap = body_cap_bytes
        self._ssl = ssl_context
        self._keepalive_s = keepalive_s
        self._count = 0  # connections open or being opened
        self._all: set[_Connection] = set()
        #: per origin, most recently used last
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> Response:
        """One POST, all of it (waiting for a connection, connecting, the answer) in ``timeout_s``.

        Raises ``TimeoutError``, or ``RequestError`` or ``OSError`` subclasses, when no answer.
        """
        target = parse_target(url)
        request = serialize_request(target, body, headers)
        deadline = self._loop.time() + timeout_s
        conn = self._take_idle(target.origin)
        if conn is None:
            conn = await self._checkout(target.origin, deadline, fresh=False)
        reused = conn.used
        try:
            return await self._exchange(conn, request, deadline)
        except ServerDisconnected as exc:
            if not (reused and exc.before_response):
                raise
        # the server had closed this idle connection: the request got no answer at all, so it
        # goes again on a new connection (deliveries are at-least-once anyway)
        conn = await self._checkout(target.origin, deadline, fresh=True)
        return await self._exchange(conn, request, deadline)

    def post_at_once(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> asyncio.Future[Response] | None:
        """``post`` without a task: when a keep-alive connection to the URL's origin is idle,
        the request is written to it before this returns, and the future gets the answer (or
        the exception ``post`` would raise). None when no connection is idle, or the request
        is one ``post`` would refuse: ``post`` is then the way, and says why.

        Under load nearly every request finds an idle connection, and a task with its
        coroutines cost more than the rest of the exchange's Python. What ``post`` does with
        a connection the server closed while it was idle (send again on a new one) is the
        caller's to do here: such a failure comes as ``ServerDisconnected`` with
        ``before_response`` set (the request went nowhere)."""
        if self._closed:
            return None
        try:
            target = parse_target(url)  # cached: a URL seen before costs a look-up
        except RequestError:
            return None
        conn = self._take_idle(target.origin)
        if conn is None:
            return None
        try:
            request = serialize_request(target, body, headers)
        except RequestError:
            self._checkin(conn)  # untouched: idle again
            return None
        try:
            answer = conn.send(request, self._cap, self._loop.time() + timeout_s)
        except ServerDisconnected:
            self._discard(conn)
            return None
        if self._watch is None:
            self._watch = self._loop.call_later(DEADLINE_TICK_S, self._watch_deadlines)
        answer.add_done_callback(functools.partial(self._answered, conn))
        return answer

    def _answered(self, conn: _Connection, _: asyncio.Future[Response]) -> None:
        self._checkin(conn)  # a cancelled answer leaves the connection unusable: it is closed

    async def close(self) -> None:
        """Close every connection, busy ones included; later posts raise ``ClientClosed``."""
        self._closed = True
        for timer in (self._sweeper, self._watch):
            if timer is not None:
                timer.cancel()
        self._sweeper = self._watch = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        self._idle.clear()
        conns = list(self._all)
        for conn in conns:
            self._discard(conn)
        for conn in conns:
            await conn.wait_lost()

    async def _exchange(self, conn: _Connection, request: bytes, deadline: float) -> Response:
        if self._watch is None:
            self._watch = self._loop.call_later(DEADLINE_TICK_S, self._watch_deadlines)
        try:
            return await conn.send(request, self._cap, deadline)
        finally:
            self._checkin(conn)

    def _watch_deadlines(self) -> None:
        self._watch = None
        now = self._loop.time()
        running = False
        for conn in list(self._all):
            running |= conn.time_out_if_due(now)
        if running:
            self._watch = self._loop.call_later(DEADLINE_TICK_S, self._watch_deadlines)

    # -- connections in and out
    async def _checkout(self, origin: Origin, deadline: float, *, fresh: bool) -> _Connection:
        """A connection to ``origin`` by ``deadline``: an idle one unless ``fresh``, else new."""
        if self._closed:
            raise ClientClosed("the HTTP client is closed")
        async with asyncio.timeout_at(deadline):
            # resolved before taking a slot: a refused host fails at once, DNS holds no slot
            addresses = await self._addresses(origin)
            woken = False
            while True:
                conn = None if fresh else self._take_idle(origin)
                if conn is not None:
                    return conn
                if self._take_slot():
                    return await self._open(origin, addresses)
                await self._wait_for_room(first=woken)
                woken = True

    async def _open(self, origin: Origin, addresses: list[str]) -> _Connection:
        """A new connection in the slot the caller took (given back if this fails)."""
        try:
            conn = await self._connect(origin, addresses)
        except BaseException:
            self._count -= 1
            self._wake_one()
            raise
        if self._closed:
            self._checkin(conn)
            raise ClientClosed("the HTTP client is closed")
        return conn

    def _checkin(self, conn: _Connection) -> None:
        if conn.reusable and not self._closed:
            conn.idle_since = self._loop.time()
            idle = self._idle.get(conn.origin)
            if idle is None:
                idle = self._idle[conn.origin] = deque()
            idle.append(conn)
            if self._sweeper is None:
                self._sweeper = self._loop.call_at(conn.idle_since + self._keepalive_s, self._sweep)
        else:
            self._discard(conn)
        if self._waiters:
            self._wake_one()

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.lost:
                return conn
            self._discard(conn)
        return None

    def _discard(self, conn: _Connection) -> None:
        if conn in self._all:
            self._all.remove(conn)
            self._count -= 1
        conn.abort()

    # -- the cap
    def _take_slot(self) -> bool:
        if self._count < self._max:
            self._count += 1
            return True
        oldest = self._oldest_idle()
        if oldest is None:
            return False
        # an idle connection gives up its slot: open sockets stay within the cap
        self._idle[oldest.origin].popleft()
        self._discard(oldest)
        self._count += 1
        return True

    def _oldest_idle(self) -> _Connection | None:
        heads = [idle[0] for idle in self._idle.values() if idle]
        return min(heads, key=lambda c: c.idle_since) if heads else None

    async def _wait_for_room(self, *, first: bool) -> None:
        """Wait until a connection is released. ``first``: woken before, so back at the front."""
        waiter = self._loop.create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._waiters.remove(waiter)
            else:
                self._wake_one()  # it was woken, then cancelled: the wake-up goes to the next
            raise
        if self._closed:
            raise ClientClosed("the HTTP client is closed")

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        """Close connections idle for ``keepalive_s``; come back when the next one will be."""
        self._sweeper = None
        expired_before = self._loop.time() - self._keepalive_s
        next_due: float | None = None
        for origin, idle in list(self._idle.items()):
            while idle and idle[0].idle_since <= expired_before:
                conn = idle.popleft()
                self._discard(conn)
                self._wake_one()
            if not idle:
                del self._idle[origin]
            elif next_due is None or idle[0].idle_since < next_due:
                next_due = idle[0].idle_since
        if next_due is not None:
            self._sweeper = self._loop.call_at(next_due + self._keepalive_s, self._sweep)

    # -- opening
    async def _addresses(self, origin: Origin) -> list[str]:
        try:
            return await self._lookup(origin.host, origin.port)
        except OSError as exc:
            raise ConnectError(f"cannot resolve {origin.host}: {exc.strerror or exc}") from exc

    async def _connect(self, origin: Origin, addresses: list[str]) -> _Connection:
        """A connection to the first of ``addresses`` that answers (TLS for https)."""
        tls = self._ssl if origin.scheme == "https" else None
        failure: OSError | None = None
        for address in addresses:
            try:
                _, conn = await self._loop.create_connection(
                    functools.partial(_Connection, origin, self._loop),
                    host=address,
                    port=origin.port,
                    ssl=tls,
                    # the name, not the address, is what the certificate must match
                    server_hostname=origin.host if tls else None,
                )
            except OSError as exc:
                failure = exc
                continue
            self._all.add(conn)
            return conn
        raise ConnectError(f"cannot connect to {origin.host}:{origin.port}: {failure}") from failure
