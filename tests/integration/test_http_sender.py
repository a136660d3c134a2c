"""The sender and its HTTP/1.1 client against real servers on loopback.

Most servers here are raw ``asyncio.start_server`` handlers, so a test controls every byte and
can count connections; the answers are scripted per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import socket
import ssl
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import certificates
import pytest
from certificates import SelfSigned

from hookline.core.addresses import IPNetwork
from hookline.core.outcome import SendResult
from hookline.delivery.http1 import ConnectionPool
from hookline.delivery.resolver import GuardedResolver
from hookline.delivery.sender import Sender

LOOPBACK: list[IPNetwork] = [ipaddress.ip_network("127.0.0.0/8")]
BODY = b'{"type": "message.sent", "id": "evt_1"}'
HEADERS = {"Content-Type": "application/json", "webhook-id": "msg_1"}
CAP_BYTES = 1000
TIMEOUT_S = 5.0


# -- a scriptable server --------------------------------------------------------------------
@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # names in lower case
    body: bytes


#: answers one request; returns False to close the connection afterwards
Answer = Callable[[Request, asyncio.StreamWriter, "Server"], Awaitable[bool | None]]


@dataclass
class Server:
    """Reads HTTP/1.1 requests and lets ``answer`` write the response bytes."""

    answer: Answer
    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    connections: int = 0  # ever accepted
    open_now: int = 0
    peak_open: int = 0
    #: per connection, in order: how many requests it carried
    per_connection: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _none_open: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_until_closed(self, timeout_s: float = 2.0) -> None:
        """Until every connection has been closed (the test then checks ``open_now``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_open.wait(), timeout_s)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open_now += 1
        self._none_open.clear()
        self.peak_open = max(self.peak_open, self.open_now)
        index = len(self.per_connection)
        self.per_connection.append(0)
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                self.per_connection[index] += 1
                if await self.answer(request, writer, self) is False:
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): ending quietly keeps asyncio from logging the cancelled handler
        finally:
            self.open_now -= 1
            if not self.open_now:
                self._none_open.set()
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self._tasks.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = first.split(" ")
    headers = {}
    for line in lines:
        if line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method=method, target=target, version=version, headers=headers, body=body)


def response(
    status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = (), version: str = "1.1"
) -> bytes:
    lines = [f"HTTP/{version} {status} Whatever", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer_with(
    status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = (), delay_s: float = 0
) -> Answer:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        writer.write(response(status, body, headers))
        await writer.drain()

    return answer


@contextlib.asynccontextmanager
async def serving(
    answer: Answer, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server = Server(answer, ssl_context)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def sending(**options: Any) -> AsyncIterator[Sender]:
    settings: dict[str, Any] = {
        "timeout_s": TIMEOUT_S,
        "body_cap_bytes": CAP_BYTES,
        "allowed_networks": LOOPBACK,
        "max_connections": 10,
    }
    settings.update(options)
    sender = Sender(**settings)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


async def post(sender: Sender, url: str, timeout_s: float | None = None) -> SendResult:
    return await sender.post(url, BODY, HEADERS, timeout_s=timeout_s)


# -- statuses, bodies, the request itself -------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b"fine"), (204, b""), (404, b"no such hook"), (500, b"oops"), (503, b"later")],
)
async def test_status_and_body_are_returned(status: int, body: bytes) -> None:
    async with serving(answer_with(status, body)) as server, sending() as sender:
        result = await post(sender, server.url())
    assert (result.status, result.body, result.error) == (status, body.decode(), None)
    assert result.duration_ms >= 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_returned_not_followed(status: int) -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(response(status, headers=[("Location", server.url("/elsewhere"))]))

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.status == status
    assert [r.target for r in server.requests] == ["/hook"]


async def test_retry_after_is_captured() -> None:
    answer = answer_with(429, headers=[("Retry-After", "120")])
    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert (result.status, result.retry_after) == (429, "120")


async def test_the_request_on_the_wire() -> None:
    async with serving(answer_with(200)) as server, sending() as sender:
        await post(sender, server.url("/in/hook?a=1&b=two"))
    [request] = server.requests
    assert (request.method, request.target) == ("POST", "/in/hook?a=1&b=two")
    assert request.version == "HTTP/1.1"
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["content-length"] == str(len(BODY))
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_1"
    assert request.body == BODY


async def test_interim_100_continue_is_skipped() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(response(201, b"made"))

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert (result.status, result.body) == (201, "made")


async def test_chunked_body_is_decoded_and_the_connection_kept() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"hello ", b"chunked ", b"world"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    async with serving(answer) as server, sending() as sender:
        first = await post(sender, server.url())
        second = await post(sender, server.url())
    assert first.body == second.body == "hello chunked world"
    assert server.connections == 1


async def test_body_until_close_without_length() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        return False

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert (result.status, result.body) == (200, "all of it")


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
    ],
)
async def test_compressed_body_is_decoded(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    text = b'{"accepted": true, "note": "' + b"x" * 300 + b'"}'
    answer = answer_with(200, compress(text), headers=[("Content-Encoding", encoding)])
    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.body == text.decode()


async def test_compressed_body_is_bounded_by_the_cap() -> None:
    bomb = gzip.compress(b"A" * 5_000_000)  # ~5 KB that inflate to 5 MB
    answer = answer_with(200, bomb, headers=[("Content-Encoding", "gzip")])
    async with serving(answer) as server, sending() as sender:
        first = await post(sender, server.url())
        second = await post(sender, server.url())
    assert first.body == second.body == "A" * CAP_BYTES
    assert server.connections == 2  # a body over the cap leaves the connection unusable


async def test_body_over_the_cap_is_truncated_and_the_connection_dropped() -> None:
    big = b"0123456789" * 1000
    async with serving(answer_with(200, big)) as server, sending() as sender:
        first = await post(sender, server.url())
        second = await post(sender, server.url())
    assert first.body == second.body == big[:CAP_BYTES].decode()
    assert server.connections == 2


async def test_body_claiming_a_compression_it_lacks_keeps_the_status() -> None:
    answer = answer_with(200, b"plain text", headers=[("Content-Encoding", "gzip")])
    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert (result.status, result.body, result.error) == (200, "", None)


async def test_answer_arriving_in_pieces_with_no_body_kept() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        for piece in (b"HTTP/1.1 202 Accepted\r\nContent-", b"Length: 4\r\n\r\n", b"done"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)

    async with serving(answer) as server, sending(body_cap_bytes=0) as sender:
        results = [await post(sender, server.url()) for _ in range(2)]
    assert [(r.status, r.body) for r in results] == [(202, ""), (202, "")]


async def test_body_is_stored_as_text_even_when_not_utf8() -> None:
    async with serving(answer_with(200, b"caf\xe9")) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.body == "caf\ufffd"


# -- connections: keep-alive, the cap, closing ----------------------------------------------
async def test_sequential_posts_share_one_connection() -> None:
    async with serving(answer_with(200, b"ok")) as server, sending() as sender:
        results = [await post(sender, server.url()) for _ in range(20)]
    assert {r.status for r in results} == {200}
    assert server.connections == 1
    assert server.per_connection == [20]


async def test_pool_never_opens_more_than_max_connections() -> None:
    slow = answer_with(200, delay_s=0.05)
    async with serving(slow) as server, sending(max_connections=2) as sender:
        results = await asyncio.gather(*(post(sender, server.url()) for _ in range(10)))
    assert {r.status for r in results} == {200}
    assert server.connections == 2
    assert server.peak_open == 2
    assert len(server.requests) == 10


async def test_waiting_for_a_free_connection_counts_against_the_timeout() -> None:
    async with (
        serving(answer_with(200, delay_s=0.5)) as server,
        sending(max_connections=1) as sender,
    ):
        slow = asyncio.create_task(post(sender, server.url()))
        await asyncio.sleep(0.05)
        waiting = await post(sender, server.url(), timeout_s=0.2)
        assert (await slow).status == 200
    assert waiting.error == "timed out after 0.2 s"
    assert server.connections == 1


@pytest.mark.parametrize(
    "reply",
    [
        response(200, b"bye", headers=[("Connection", "close")]),
        response(200, b"bye", version="1.0"),
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_connection_the_server_will_close_is_not_reused(reply: bytes) -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(reply)  # and keeps the socket open: the client must not reuse it anyway

    async with serving(answer) as server, sending() as sender:
        results = [await post(sender, server.url()) for _ in range(3)]
    assert [r.body for r in results] == ["bye"] * 3
    assert server.connections == 3


async def test_http_1_0_keep_alive_is_reused() -> None:
    reply = response(200, b"ok", headers=[("Connection", "keep-alive")], version="1.0")

    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(reply)

    async with serving(answer) as server, sending() as sender:
        for _ in range(3):
            assert (await post(sender, server.url())).status == 200
    assert server.connections == 1


async def test_bytes_after_the_answer_spoil_the_connection() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(response(200, b"ok") + b"HTTP/1.1 200 OK\r\n\r\nsurprise")

    async with serving(answer) as server, sending() as sender:
        results = [await post(sender, server.url()) for _ in range(2)]
    assert [r.body for r in results] == ["ok", "ok"]
    assert server.connections == 2


async def test_idle_connections_close_after_keepalive() -> None:
    async with serving(answer_with(200)) as server:
        pool = ConnectionPool(
            lookup=GuardedResolver(LOOPBACK).addresses,
            max_connections=4,
            body_cap_bytes=CAP_BYTES,
            ssl_context=ssl.create_default_context(),
            keepalive_s=0.1,
        )
        try:
            response_ = await pool.post(server.url(), BODY, HEADERS, timeout_s=TIMEOUT_S)
            assert response_.status == 200
            assert server.open_now == 1
            await server.wait_until_closed()
            assert server.open_now == 0
            await pool.post(server.url(), BODY, HEADERS, timeout_s=TIMEOUT_S)
        finally:
            await pool.close()
    assert server.connections == 2


async def test_close_closes_every_connection() -> None:
    async with serving(answer_with(200)) as server:
        async with sending() as sender:
            await asyncio.gather(*(post(sender, server.url()) for _ in range(3)))
            assert server.open_now >= 1
        await server.wait_until_closed()
        assert server.open_now == 0


# -- failures -------------------------------------------------------------------------------
async def test_server_that_never_answers_times_out() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        return None  # reads on, and so sees the client hang up

    async with serving(answer) as server, sending() as sender:
        started = time.monotonic()
        result = await post(sender, server.url(), timeout_s=0.3)
        elapsed_s = time.monotonic() - started
        await server.wait_until_closed()
        assert server.open_now == 0  # the client closed it
    # the call's own 0.3 s (the message names the timeout that ended it), and not sooner
    assert (result.status, result.error) == (None, "timed out after 0.3 s")
    assert elapsed_s >= 0.3


async def test_server_that_drops_an_idle_connection() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        writer.write(response(200, b"ok"))
        await writer.drain()
        await asyncio.sleep(0.05)  # an idle timeout much shorter than the client's
        return False

    async with serving(answer) as server, sending() as sender:
        first = await post(sender, server.url())
        await asyncio.sleep(0.2)
        second = await post(sender, server.url())
    assert (first.status, second.status) == (200, 200)
    assert server.connections == 2


@pytest.mark.parametrize(
    "first_reply",
    # a 204 has no length at all: nothing of it may make the dropped exchange look answered
    [response(200, b"ok"), b"HTTP/1.1 204 No Content\r\n\r\n"],
    ids=["200", "204"],
)
async def test_stale_connection_is_retried_once_on_a_fresh_one(first_reply: bytes) -> None:
    """The server closes a kept-alive connection just as the next request arrives on it."""

    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        if len(server.per_connection) == 1:
            if server.per_connection[0] == 2:
                return False  # the second request on the first connection: dropped unanswered
            writer.write(first_reply)
            return True
        writer.write(response(201, b"again"))
        return True

    async with serving(answer) as server, sending() as sender:
        first = await post(sender, server.url())
        second = await post(sender, server.url())
    assert first.status in (200, 204)
    assert (second.status, second.body) == (201, "again")
    assert server.per_connection == [2, 1]


async def test_fresh_connection_dropped_before_answering_is_an_error() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        return False

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("ServerDisconnected: the server closed the connection")
    assert server.connections == 1  # not retried: a new connection is not stale


async def test_answer_cut_short_is_an_error() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        return False

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.status is None
    assert result.error is not None
    assert "before the answer was complete" in result.error


async def test_garbage_answer_is_a_protocol_error() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        writer.write(b"SMTP READY\r\n\r\n")

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("ProtocolError: invalid response")


async def test_refused_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        async with sending() as sender:
            result = await post(sender, f"http://127.0.0.1:{port}/hook")
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("connection failed: ")


async def test_unresolvable_host_reads_as_a_refused_one() -> None:
    """The log must not tell an agent which internal names resolve: a name that does not
    resolve and one that resolves to a private address read the same."""

    async def resolve(host: str, port: int) -> list[str]:
        if host == "nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["10.1.2.3"]

    async with sending(resolve=resolve, allowed_networks=[]) as sender:
        unresolved = await post(sender, "http://nowhere.invalid/hook")
        private = await post(sender, "http://internal.corp/hook")
    assert unresolved.error == private.error == "destination not allowed"
    assert (unresolved.status, private.status) == (None, None)


# -- the SSRF guard -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "destination not allowed"),
        ("localhost", "destination not allowed"),
        ("[::ffff:127.0.0.1]", "destination not allowed"),
    ],
)
async def test_loopback_is_refused_unless_allowed(host: str, expected: str) -> None:
    async with serving(answer_with(200)) as server:
        async with sending(allowed_networks=[]) as sender:
            refused = await post(sender, server.url(host=host))
        async with sending(allowed_networks=LOOPBACK) as sender:
            allowed = await post(sender, server.url(host="127.0.0.1" if "::" in host else host))
    assert (refused.status, refused.error) == (None, expected)
    assert allowed.status == 200
    assert len(server.requests) == 1  # only the allowed one arrived


async def test_the_vetted_address_is_the_one_connected_to() -> None:
    seen: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return ["10.1.2.3", "127.0.0.1"]  # private but not allowed, then allowed loopback

    async with serving(answer_with(200)) as server, sending(resolve=resolve) as sender:
        results = [await post(sender, server.url(host="hooks.example")) for _ in range(2)]
    assert {r.status for r in results} == {200}
    assert server.requests[0].headers["host"] == f"hooks.example:{server.port}"
    assert seen == [("hooks.example", server.port)]  # one lookup: then the pooled connection


async def test_a_resolver_answering_only_private_addresses_is_refused() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.1.2.3", "169.254.169.254", "not an address"]

    async with sending(resolve=resolve) as sender:
        result = await post(sender, "http://hooks.example/hook")
    assert result.error == "destination not allowed"


# -- requests refused before anything is sent ----------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"X-Note": "a\r\nX-Evil: 1"},
        {"X-Note": "a\nb"},
        {"X-Note": "a\rb"},
        {"X-Note": "a\0b"},
        {"X-Evil\r\nX-Other": "1"},
        {"Content-Length": "0"},
        {"Host": "elsewhere.example"},
    ],
)
async def test_unsafe_headers_are_refused(headers: dict[str, str]) -> None:
    async with serving(answer_with(200)) as server, sending() as sender:
        result = await sender.post(server.url(), BODY, headers)
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("InvalidHeader: ")
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a\r\nX-Evil: 1",
        "http://127.0.0.1:{port}/a\nb",
        "http://127.0.0.1:{port}/a\0b",
        "ftp://127.0.0.1:{port}/hook",
        "http:///hook",
    ],
)
async def test_unsafe_or_unsupported_urls_are_refused(url: str) -> None:
    async with serving(answer_with(200)) as server, sending() as sender:
        result = await post(sender, url.format(port=server.port))
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("InvalidURL: ")
    assert server.requests == []


# -- TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    return certificates.self_signed(tmp_path_factory.mktemp("tls"))


def _server_tls(paths: SelfSigned, sni_seen: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(paths.cert, paths.key)

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    context.sni_callback = record_sni
    return context


async def test_https_with_a_trusted_self_signed_certificate(self_signed: SelfSigned) -> None:
    sni: list[str | None] = []
    trusting = ssl.create_default_context(cafile=self_signed.cert)
    tls = _server_tls(self_signed, sni)
    async with (
        serving(answer_with(200, b"secure"), tls) as server,
        sending(ssl_context=trusting) as sender,
    ):
        url = server.url(scheme="https", host="localhost")
        results = [await post(sender, url) for _ in range(3)]
    assert [(r.status, r.body) for r in results] == [(200, "secure")] * 3
    assert sni == ["localhost"]  # the name went in SNI, and one connection served all three
    assert server.connections == 1


async def test_https_is_refused_with_the_default_trust_store(self_signed: SelfSigned) -> None:
    tls = _server_tls(self_signed, [])
    async with serving(answer_with(200), tls) as server, sending() as sender:
        result = await post(sender, server.url(scheme="https", host="localhost"))
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("connection failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server.requests == []


async def test_https_checks_the_name_not_the_address(self_signed: SelfSigned) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # the right server, under a name its certificate does not carry

    trusting = ssl.create_default_context(cafile=self_signed.cert)
    tls = _server_tls(self_signed, [])
    async with (
        serving(answer_with(200), tls) as server,
        sending(ssl_context=trusting, resolve=resolve) as sender,
    ):
        result = await post(sender, server.url(scheme="https", host="hooks.example"))
    assert result.error is not None
    assert result.error.startswith("connection failed: ")
    assert "certificate is not valid for 'hooks.example'" in result.error
    assert server.requests == []


# -- attempts written at once, without a task (the dispatcher's usual road) ---------------------
async def at_once(sender: Sender, url: str) -> tuple[asyncio.Future[Any] | None, float]:
    started = time.monotonic()
    return sender.post_at_once(url, BODY, HEADERS), started


async def test_at_once_needs_an_idle_connection_and_then_writes_before_returning() -> None:
    async with serving(answer_with(202, b"taken")) as server, sending() as sender:
        answer, _ = await at_once(sender, server.url())
        assert answer is None, "no connection yet: post() opens one"
        assert (await post(sender, server.url())).status == 202
        answer, started = await at_once(sender, server.url("/other?x=1"))
        assert answer is not None
        assert not answer.done()
        await asyncio.wait([answer], timeout=5)
        result = sender.result(answer, started)
        # the same connection, and the same request on the wire as post() writes
        again = await post(sender, server.url())
    assert result is not None
    assert (result.status, result.body, result.error) == (202, "taken", None)
    assert again.status == 202
    assert server.per_connection == [3]
    assert server.requests[1].target == "/other?x=1"
    assert server.requests[1].body == BODY
    assert server.requests[1].headers["webhook-id"] == "msg_1"
    assert server.requests[1].headers["content-length"] == str(len(BODY))


async def test_at_once_on_a_connection_the_server_dropped_sends_nothing_and_says_so() -> None:
    """The stale case of ``post``: the server closes a kept-alive connection as the request
    arrives; at once, the answer says the request went nowhere (result None), so the caller
    sends it again with ``post``, on a new connection."""

    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> bool:
        if len(server.per_connection) == 1 and server.per_connection[0] == 2:
            return False
        writer.write(response(200, b"ok"))
        return True

    async with serving(answer) as server, sending() as sender:
        assert (await post(sender, server.url())).status == 200
        pending, started = await at_once(sender, server.url())
        assert pending is not None
        await asyncio.wait([pending], timeout=5)
        assert sender.result(pending, started) is None
        again = await post(sender, server.url())
    assert again.status == 200
    assert server.per_connection == [2, 1]


async def test_at_once_times_out_and_closes_the_connection() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        if server.per_connection[0] == 1:
            writer.write(response(200))
        # the second request is never answered

    async with serving(answer) as server, sending(timeout_s=0.3) as sender:
        assert (await post(sender, server.url())).status == 200
        pending, started = await at_once(sender, server.url())
        assert pending is not None
        await asyncio.wait([pending], timeout=TIMEOUT_S)
        assert pending.done(), "it timed out on its own"
        result = sender.result(pending, started)
        await server.wait_until_closed()
        assert server.open_now == 0
    assert result is not None
    assert (result.status, result.error) == (None, "timed out after 0.3 s")
    assert 300 <= result.duration_ms < TIMEOUT_S * 1000


async def test_cancelling_an_answer_at_once_closes_its_connection() -> None:
    async with serving(answer_with(200, delay_s=0.5)) as server, sending() as sender:
        assert (await post(sender, server.url())).status == 200
        pending, _ = await at_once(sender, server.url())
        assert pending is not None
        pending.cancel()
        await server.wait_until_closed()
        assert server.open_now == 0
        # nothing is idle now: the next attempt opens a new connection
        assert sender.post_at_once(server.url(), BODY, HEADERS) is None
        assert (await post(sender, server.url())).status == 200
    assert server.connections == 2


async def test_at_once_refuses_what_post_would_refuse() -> None:
    async with serving(answer_with(200)) as server, sending() as sender:
        assert (await post(sender, server.url())).status == 200
        bad = {"Host": "elsewhere"}
        assert sender.post_at_once(server.url(), BODY, bad) is None
        refused = await sender.post(server.url(), BODY, bad)
        # the idle connection it looked at is idle still, and carries the next attempt
        pending = sender.post_at_once(server.url(), BODY, HEADERS)
        assert pending is not None
        await asyncio.wait([pending], timeout=5)
    assert refused.error is not None
    assert refused.error.startswith("InvalidHeader")
    assert server.per_connection == [2]


async def test_an_attempt_begun_earlier_keeps_its_deadline() -> None:
    """``post(started=...)``: the time since the attempt began counts against its timeout
    (a stale connection's second try), and its duration runs from then."""

    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        return None  # never answers

    async with serving(answer) as server, sending(timeout_s=3.0) as sender:
        began = time.monotonic() - 2.8
        result = await sender.post(server.url(), BODY, HEADERS, started=began)
        waited_s = time.monotonic() - began
        spent = await sender.post(server.url(), BODY, HEADERS, started=time.monotonic() - 4.0)
    assert (result.status, result.error) == (None, "timed out after 3 s")
    # what was left of the 3 s, not 3 s more (which would make it 5.8)
    assert 3.0 <= waited_s < 5.0, "the second try had only what was left of the timeout"
    assert result.duration_ms >= 3000
    assert (spent.status, spent.error) == (None, "timed out after 3 s")
    assert len(server.requests) == 1, "nothing is sent once the deadline has passed"
