"""Hookline's HTTP client against receivers that answer with too much: what it costs.

The differential test (test_http_differential.py) checks that outcomes match a reference;
these check what only Hookline's client promises: the error it records, that the connection
is dropped, and that nothing read is left for the garbage collector to free.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from hookline.delivery.http1 import _Connection
from hookline.delivery.response import HEAD_CAP_BYTES, ResponseReader
from hookline.delivery.sender import Sender

from .test_http_differential import (
    BLOCK,
    BODY,
    CAP_BYTES,
    HEADERS,
    LOOPBACK,
    Script,
    _read_request,
    answer,
    scripted,
)

TIMEOUT_S = 5.0


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    sender = Sender(
        timeout_s=TIMEOUT_S,
        body_cap_bytes=CAP_BYTES,
        allowed_networks=LOOPBACK,
        max_connections=4,
    )
    await sender.start()
    yield sender
    await sender.close()


def answer_then_watch(answer: bytes, closed: asyncio.Event, block: bytes = BLOCK) -> Script:
    """Answer, then keep sending ``block`` until the client hangs up, which sets ``closed``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        try:
            while True:
                writer.write(block)
                await writer.drain()
        except ConnectionError:
            closed.set()

    return script


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Endless: ",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 200,
    ],
    ids=["one endless header", "too many headers"],
)
async def test_a_head_too_large_fails_the_attempt_and_drops_the_connection(
    sender: Sender, head: bytes
) -> None:
    closed = asyncio.Event()
    async with scripted(answer_then_watch(head, closed)) as port:
        result = await sender.post(f"http://127.0.0.1:{port}/h", BODY, HEADERS)
        await asyncio.wait_for(closed.wait(), TIMEOUT_S)
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("HeadTooLarge: response headers too large")


@pytest.mark.parametrize("piece", [1000, HEAD_CAP_BYTES * 2], ids=["in pieces", "at once"])
@pytest.mark.parametrize("over", [0, 1], ids=["at the cap", "one byte over"])
async def test_a_head_at_the_cap_is_read_and_one_byte_more_is_not(
    sender: Sender, piece: int, over: int
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
    head += b"p" * (HEAD_CAP_BYTES + over - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == HEAD_CAP_BYTES + over
    async with scripted(_in_pieces(head + b"ok", piece)) as port:
        result = await sender.post(f"http://127.0.0.1:{port}/h", BODY, HEADERS)
    if over:
        assert result.error is not None
        assert "response headers too large" in result.error
    else:
        assert (result.status, result.body, result.error) == (200, "ok", None)


def _in_pieces(data: bytes, piece: int) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        for i in range(0, len(data), piece):  # as a slow receiver would send it
            writer.write(data[i : i + piece])
            await writer.drain()
        await reader.read()

    return script


async def test_an_endless_body_ends_once_the_cap_is_read_and_the_connection_closes(
    sender: Sender,
) -> None:
    closed = asyncio.Event()
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    block = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
    async with scripted(answer_then_watch(chunked, closed, block)) as port:
        result = await sender.post(f"http://127.0.0.1:{port}/h", BODY, HEADERS)
        await asyncio.wait_for(closed.wait(), TIMEOUT_S)
    # an answer, not "timed out": the attempt ended once the cap was read, not at its deadline
    assert (result.status, result.body, result.error) == (200, "x" * CAP_BYTES, None)


@pytest.mark.parametrize(
    "oversized",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * (2 * HEAD_CAP_BYTES),
        b"HTTP/1.1 200 OK\r\n" + (b"X-Many: " + b"m" * 300 + b"\r\n") * 200,
    ],
    ids=["one big header", "too many headers"],
)
async def test_oversized_answers_are_freed_by_reference_counting_alone(
    sender: Sender, oversized: bytes
) -> None:
    """With the collector off, what each oversized answer made the client read is freed."""
    url_of = "http://127.0.0.1:{}/h".format
    attempts = 20
    async with scripted(answer(oversized, then_close=True)) as port:
        await sender.post(url_of(port), BODY, HEADERS)  # warm up: first-use allocations
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            errors = {
                (await sender.post(url_of(port), BODY, HEADERS)).error for _ in range(attempts)
            }
            await sender.close()
            # the last connection is closed in a callback soon after: wait for it
            alive = await _connections_alive_after(10.0)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            gc.enable()
    assert alive == 0
    # each attempt read at least HEAD_CAP_BYTES; kept, they would add up to many times this
    assert grown < 4 * HEAD_CAP_BYTES
    assert len(errors) == 1
    assert "response headers too large" in str(errors.pop())


async def _connections_alive_after(limit_s: float) -> int:
    """How many of the client's connection objects are alive, once there are none or
    ``limit_s`` passed (counted without holding on to them)."""
    give_up = time.monotonic() + limit_s
    while True:
        alive = sum(isinstance(o, _Connection | ResponseReader) for o in gc.get_objects())
        if not alive or time.monotonic() > give_up:
            return alive
        await asyncio.sleep(0.01)
