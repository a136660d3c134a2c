"""The receiver's answer headers as the log keeps them: in the order sent, a repeated name
joined, bounded in all, and those of an interim answer left out (real servers on loopback)."""

from __future__ import annotations

import asyncio
import json

from hookline.core.attempt_headers import RESPONSE_HEADERS_CAP_BYTES

from .test_http_sender import Request, Server, answer_with, post, response, sending, serving


async def test_answer_headers_are_kept_as_json() -> None:
    answer = answer_with(
        503, headers=[("Retry-After", "5"), ("X-Trace", "a"), ("X-Trace", "b"), ("Server", "t")]
    )
    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.headers is not None
    kept = json.loads(result.headers)
    assert kept["Retry-After"] == "5" and kept["X-Trace"] == "a, b" and kept["Server"] == "t"
    assert list(kept) == ["Content-Length", "Retry-After", "X-Trace", "Server"]


async def test_answer_headers_are_capped() -> None:
    # about 21 KiB in 90 headers: within what the client accepts (64 KiB, 100 headers), past
    # what the log keeps
    many = [(f"X-H{i:03d}", "v" * 230) for i in range(90)]
    async with serving(answer_with(200, headers=many)) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.status == 200 and result.headers is not None
    kept = json.loads(result.headers)
    assert 0 < len(kept) < len(many)
    assert sum(len(k) + len(v) for k, v in kept.items()) <= RESPONSE_HEADERS_CAP_BYTES
    assert "X-H000" in kept  # the first ones are the ones kept


async def test_interim_answer_headers_are_not_kept() -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter, server: Server) -> None:
        del request, server
        writer.write(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
        writer.write(response(200, headers=[("X-Final", "yes")]))

    async with serving(answer) as server, sending() as sender:
        result = await post(sender, server.url())
    assert result.headers is not None
    kept = json.loads(result.headers)
    assert kept.get("X-Final") == "yes" and "X-Interim" not in kept
