"""A lean HTTP/1.1 client for webhook POSTs: an asyncio protocol, httptools, a keep-alive pool.

aiohttp's ClientSession spends ~115 µs of CPU per POST; a protocol-level client does the same
work in a fraction of that, and sending is Hookline's core job. So this client does only what a
webhook attempt needs: POST, one request at a time per connection (no pipelining), no redirects,
no cookies, no proxies. It connects only to addresses the caller's lookup returned, which is
where the SSRF guard sits (see ``hookline.delivery.resolver``).

A receiver is not trusted to be well behaved, so every answer costs bounded time and memory:

- the whole attempt (connecting to each address, the TLS handshake, writing, the status line,
  the headers, the body) runs under one deadline; a host with several addresses gives each a
  share of what is left, so a dead first address cannot use up the attempt;
- the status line and headers together are capped (``HEAD_CAP_BYTES``, ``HEADER_COUNT_CAP``):
  past either, the attempt fails with "response headers too large" and the connection is
  dropped;
- the body is kept up to the pool's cap and the rest is never buffered: the answer is complete
  as soon as its status is known and the cap is read, and the connection is then closed rather
  than reused (the status decides the attempt; the rest of the body is not worth waiting for).

Nothing here lives in a reference cycle: what a connection read is freed by reference counting
as soon as the connection is dropped, not at the collector's next full pass.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import httptools

from hookline.delivery.request import Origin, RequestError, parse_target, serialize_request
from hookline.delivery.response import (
    HEAD_CAP_BYTES,
    ClientClosed,
    ConnectError,
    ProtocolError,
    Response,
    ResponseReader,
    ServerDisconnected,
    head_too_large,
)

#: ``lookup(host, port)``: the addresses the client may connect to for ``host``, best first
Lookup = Callable[[str, int], Awaitable[list[str]]]

KEEPALIVE_S = 30.0  # idle pooled connections are closed after this
#: how often running exchanges are checked against their deadlines: a timeout fires up to this
#: late. asyncio.timeout() per request costs ~5 µs under uvloop (a bare timer ~3 µs), a quarter
#: of what a whole POST costs here; one periodic check for all of them costs next to nothing
DEADLINE_TICK_S = 0.05


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
        self._reader = ResponseReader()
        self._parser = httptools.HttpResponseParser(self._reader)
        #: the head read so far past its last line end, while the head is incomplete
        self._partial_line = bytearray()
        self._head_bytes = 0  # of the head fed to the parser so far
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
        self._partial_line.clear()
        self._head_bytes = 0
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
            if reader.headers_done:
                reader.feed(self._parser, data)
            elif not self._feed_head(data):
                return
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if reader.head_too_large:
                self._fail(head_too_large())
                return
            if not reader.complete:
                self._fail(ProtocolError(f"invalid response: {exc}"))
                return
            reader.keep_alive = False  # a complete answer followed by more: still the answer
        if reader.complete or reader.full:
            self._finish()

    def _feed_head(self, data: bytes) -> bool:
        """Feed ``data`` while the head is incomplete; False when the exchange failed.

        The parser is given whole lines only, and no further than the cap, but for the first
        bytes of an answer, given as they come when they fit: httptools appends each piece of
        a header it is fed to what it has of that header, so a header trickling in byte by
        byte would cost time quadratic in its length. The part after the last line end waits
        here, in a buffer that grows in place.
        """
        pending = self._partial_line
        if not pending and not self._head_bytes and len(data) <= HEAD_CAP_BYTES:
            lines = data  # the first bytes: the whole head, nearly always
        else:
            pending += data
            if b"\n" not in data:  # no new line end: nothing to feed yet
                return self._head_within_cap()
            cut = pending.rfind(b"\n", 0, HEAD_CAP_BYTES - self._head_bytes) + 1
            if not cut:
                return self._head_within_cap()
            lines = bytes(pending[:cut])
            del pending[:cut]
        self._head_bytes += len(lines)
        self._reader.feed(self._parser, lines)
        if not self._reader.headers_done:
            return self._head_within_cap()
        if pending:  # the head ended in what was fed: the rest is body (or the next answer)
            rest = bytes(pending)
            pending.clear()
            self._reader.feed(self._parser, rest)
        return True

    def _head_within_cap(self) -> bool:
        if self._head_bytes + len(self._partial_line) <= HEAD_CAP_BYTES:
            return True
        self._fail(head_too_large())
        return False

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
                    return await self._open(origin, addresses, deadline)
                await self._wait_for_room(first=woken)
                woken = True

    async def _open(self, origin: Origin, addresses: list[str], deadline: float) -> _Connection:
        """A new connection in the slot the caller took (given back if this fails)."""
        try:
            conn = await self._connect(origin, addresses, deadline)
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

    async def _connect(self, origin: Origin, addresses: list[str], deadline: float) -> _Connection:
        """A connection to the first of ``addresses`` that answers (TLS for https), by
        ``deadline``. Each address but the last gets an equal share of the time left, so an
        address that never answers (a dead host, a full backlog) leaves time for the next;
        the last gets all that remains, and running out there is the attempt's timeout."""
        tls = self._ssl if origin.scheme == "https" else None
        failure = ""
        for left, address in zip(range(len(addresses), 0, -1), addresses, strict=True):
            now = self._loop.time()
            share_s = (deadline - now) / left
            try:
                async with asyncio.timeout_at(None if left == 1 else now + share_s):
                    _, conn = await self._loop.create_connection(
                        functools.partial(_Connection, origin, self._loop),
                        host=address,
                        port=origin.port,
                        ssl=tls,
                        # the name, not the address, is what the certificate must match
                        server_hostname=origin.host if tls else None,
                    )
            except TimeoutError:
                if left == 1:
                    raise
                failure = f"{address} did not answer within {share_s:.3g} s"
                continue
            except OSError as exc:
                failure = str(exc)
                continue
            self._all.add(conn)
            return conn
        raise ConnectError(f"cannot connect to {origin.host}:{origin.port}: {failure}")
