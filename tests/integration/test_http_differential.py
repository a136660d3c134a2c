"""Hookline's HTTP client against a plain h11 reference client, on the same scripted servers.

Each server below answers one way (well, badly, or with hostility); both clients post to it
with the same deadline and caps, and must agree on the outcome: success or not, the status,
the body kept (up to the cap), and the class of error. Both must also stay within the
deadline (plus a margin) and within a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hookline.core.addresses import IPNetwork
from hookline.core.outcome import SendResult
from hookline.delivery.sender import Sender

from .h11_reference import Outcome, ReferenceClient

LOOPBACK: list[IPNetwork] = [ipaddress.ip_network("127.0.0.0/8")]
CAP_BYTES = 1000
DEADLINE_S = 0.8
MARGIN_S = 0.5  # the deadline check's tick, and a loaded machine
#: what one attempt may allocate at its peak, the scripted server's writes included: the head
#: cap, a socket read or two, the body cap; an unbounded client goes far past it
MEMORY_BOUND_BYTES = 3 * 1024 * 1024
BODY = b'{"type": "message.sent"}'
HEADERS = {"Content-Type": "application/json"}
BLOCK = b"x" * 65536  # what endless answers repeat

#: writes an answer to a request already read; the connection closes when it returns
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bool:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    length = 0
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return True


def _head(status: int | str, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status} Whatever", *headers]) + "\r\n\r\n").encode()


def answer(data: bytes, *, then_close: bool = False) -> Script:
    """Answer each request on the connection with ``data``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader):
            writer.write(data)
            await writer.drain()
            if then_close:
                return

    return script


def endless(first: bytes, block: bytes = BLOCK, pause_s: float = 0) -> Script:
    """``first``, then ``block`` again and again until the client goes away."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(first)
        while True:
            writer.write(block)
            await writer.drain()
            if pause_s:
                await asyncio.sleep(pause_s)

    return script


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.Event().wait()


async def big_header_then_wait(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
    for _ in range(16):  # 1 MiB
        writer.write(BLOCK)
        await writer.drain()
    writer.write(b"\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    await asyncio.Event().wait()


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (*chunks, b""))


def _headers(count: int) -> list[str]:
    return ["Content-Length: 2", *(f"X-H{i}: v" for i in range(count - 1))]


SCRIPTS: dict[str, Script] = {
    "200 with a body": answer(_head(200, "Content-Length: 4") + b"fine"),
    "200 without a body": answer(_head(200, "Content-Length: 0")),
    "500 with a body": answer(_head(500, "Content-Length: 4") + b"oops"),
    "500 without a body": answer(_head(500, "Content-Length: 0")),
    "chunked body": answer(
        _head(200, "Transfer-Encoding: chunked") + _chunked(b"fi", b"ne", b" indeed")
    ),
    "body until close": answer(_head(200) + b"no length", then_close=True),
    "100 headers": answer(_head(200, *_headers(100)) + b"ok"),
    "101 headers": answer(_head(200, *_headers(101)) + b"ok"),
    "a 1 MiB header": big_header_then_wait,
    "status line that never ends": endless(b"HTTP/1.1 200 "),
    "headers that never end, fast": endless(b"HTTP/1.1 200 OK\r\nX-Endless: "),
    "headers that never end, 1 byte at a time": endless(
        b"HTTP/1.1 200 OK\r\nX-Slow: ", block=b"x", pause_s=0.002
    ),
    "body larger than the cap": answer(
        _head(200, f"Content-Length: {CAP_BYTES * 5}") + b"0123456789" * (CAP_BYTES // 2)
    ),
    "endless chunked body": endless(
        _head(200, "Transfer-Encoding: chunked"), block=b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
    ),
    "endless body without length": endless(_head(200)),
    "truncated body": answer(_head(200, "Content-Length: 100") + b"only ten b", then_close=True),
    "malformed status line": answer(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
    "not HTTP": answer(b"<html><body>nope</body></html>\r\n\r\n", then_close=True),
    "closes immediately": close_at_once,
    "never answers": never_answer,
}


@contextlib.asynccontextmanager
async def scripted(script: Script, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(serve, host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _hookline_outcome(result: SendResult) -> Outcome:
    if result.error is None:
        assert result.body is not None
        body = result.body.encode()
        return Outcome(status=result.status, body=body, error=None)
    error = result.error
    kinds = [
        ("timed out", "timeout"),
        ("response headers too large", "too_large"),
        ("ProtocolError", "protocol"),
        ("ServerDisconnected", "disconnected"),
        ("connection failed", "connect"),
    ]
    kind = next((k for text, k in kinds if text in error), f"unexpected: {error}")
    return Outcome(status=None, body=None, error=kind)


async def _measured(run: Awaitable[Outcome]) -> tuple[Outcome, float, int]:
    """The outcome, its wall time, and the most memory allocated meanwhile."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.monotonic()
    outcome = await run
    return outcome, time.monotonic() - started, tracemalloc.get_traced_memory()[1] - base


async def _hookline(sender: Sender, url: str) -> Outcome:
    return _hookline_outcome(await sender.post(url, BODY, HEADERS))


@contextlib.asynccontextmanager
async def clients(
    resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
) -> AsyncIterator[tuple[Sender, ReferenceClient]]:
    sender = Sender(
        timeout_s=DEADLINE_S,
        body_cap_bytes=CAP_BYTES,
        allowed_networks=LOOPBACK,
        max_connections=4,
        resolve=resolve,
    )
    await sender.start()
    reference = ReferenceClient(body_cap_bytes=CAP_BYTES)
    tracemalloc.start()
    try:
        yield sender, reference
    finally:
        tracemalloc.stop()
        await sender.close()
        await reference.close()


@pytest.mark.parametrize("name", list(SCRIPTS))
async def test_both_clients_agree(name: str) -> None:
    async with scripted(SCRIPTS[name]) as port, clients() as (sender, reference):
        ours, our_s, our_bytes = await _measured(_hookline(sender, f"http://127.0.0.1:{port}/h"))
        ref, ref_s, ref_bytes = await _measured(
            reference.post(["127.0.0.1"], port, "/h", BODY, HEADERS, timeout_s=DEADLINE_S)
        )
    assert ours == ref
    assert our_s < DEADLINE_S + MARGIN_S
    assert ref_s < DEADLINE_S + MARGIN_S
    assert our_bytes < MEMORY_BOUND_BYTES
    assert ref_bytes < MEMORY_BOUND_BYTES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("200 with a body", Outcome(status=200, body=b"fine", error=None)),
        ("chunked body", Outcome(status=200, body=b"fine indeed", error=None)),
        ("101 headers", Outcome(status=None, body=None, error="too_large")),
        ("a 1 MiB header", Outcome(status=None, body=None, error="too_large")),
        ("status line that never ends", Outcome(status=None, body=None, error="too_large")),
        ("headers that never end, 1 byte at a time", Outcome(status=None, body=None, error="timeout")),  # noqa: E501
        ("endless chunked body", Outcome(status=200, body=b"x" * CAP_BYTES, error=None)),
        ("truncated body", Outcome(status=None, body=None, error="disconnected")),
        ("not HTTP", Outcome(status=None, body=None, error="protocol")),
    ],
)  # fmt: skip
async def test_the_reference_reads_them_as_intended(name: str, expected: Outcome) -> None:
    """The reference is right where it matters (so agreeing with it means something)."""
    async with scripted(SCRIPTS[name]) as port, clients() as (_, reference):
        outcome = await reference.post(
            ["127.0.0.1"], port, "/h", BODY, HEADERS, timeout_s=DEADLINE_S
        )
    assert outcome == expected


async def test_both_reuse_a_kept_alive_connection() -> None:
    connections = 0
    script = answer(_head(200, "Content-Length: 2") + b"ok")

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await script(reader, writer)

    async with scripted(counting) as port, clients() as (sender, reference):
        ours = [await _hookline(sender, f"http://127.0.0.1:{port}/h") for _ in range(3)]
        assert connections == 1
        refs = [
            await reference.post(["127.0.0.1"], port, "/h", BODY, HEADERS, timeout_s=DEADLINE_S)
            for _ in range(3)
        ]
        assert connections == 2
    assert ours == refs == [Outcome(status=200, body=b"ok", error=None)] * 3


def _unanswering_listener(host: str) -> tuple[socket.socket, list[socket.socket]]:
    """A listener on ``host`` that never accepts, its backlog filled: a connection attempt to
    it gets no answer at all, like one to a routable address where nothing runs."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(0)
    fillers: list[socket.socket] = []
    while True:
        filler = socket.socket()
        filler.settimeout(0.2)
        try:
            filler.connect(listener.getsockname())
        except TimeoutError:
            filler.close()
            return listener, fillers
        fillers.append(filler)
        assert len(fillers) < 10, "the backlog does not fill"


async def test_both_go_on_to_the_next_address_when_the_first_never_answers() -> None:
    listener, fillers = _unanswering_listener("127.0.0.2")
    port = listener.getsockname()[1]

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    try:
        async with (
            scripted(SCRIPTS["200 with a body"], "127.0.0.1", port),
            clients(resolve) as (sender, reference),
        ):
            ours, our_s, _ = await _measured(_hookline(sender, f"http://hooks.example:{port}/h"))
            ref, ref_s, _ = await _measured(
                reference.post(
                    ["127.0.0.2", "127.0.0.1"], port, "/h", BODY, HEADERS, timeout_s=DEADLINE_S
                )
            )
    finally:
        for s in (listener, *fillers):
            s.close()
    assert ours == ref == Outcome(status=200, body=b"fine", error=None)
    # the dead address was waited for (half the deadline), and the live one still answered
    # within the attempt's deadline: had the first taken it all, the outcome would be a timeout
    assert our_s > DEADLINE_S / 2 - 0.1
    assert ref_s > DEADLINE_S / 2 - 0.1
