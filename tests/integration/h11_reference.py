"""A plain reference HTTP/1.1 client on h11 and asyncio streams, for the differential test.

It does what Hookline's client promises, the slow and obvious way: one deadline over all of
an attempt, a share of it per address, the same caps on the head and the body, keep-alive
connections reused when both sides finished cleanly. Outcomes are reduced to what the two
clients must agree on (``Outcome``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import h11

from hookline.delivery.response import HEAD_CAP_BYTES, HEADER_COUNT_CAP

READ_BYTES = 64 * 1024


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """``error`` is a class: timeout, too_large, protocol, disconnected, connect (or None)."""

    status: int | None
    body: bytes | None
    error: str | None


class _Failed(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection

    def close(self) -> None:
        self.writer.transport.abort()


@dataclass
class ReferenceClient:
    body_cap_bytes: int
    #: per (host, port): one idle keep-alive connection
    idle: dict[tuple[str, int], _Conn] = field(default_factory=dict)
    opened: int = 0

    async def post(
        self,
        addresses: list[str],
        port: int,
        path: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout_s: float,
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        conn: _Conn | None = None
        try:
            async with asyncio.timeout_at(deadline):
                conn = self.idle.pop((addresses[0], port), None)
                if conn is None:
                    conn = await self._connect(addresses, port, deadline)
                status, kept, reusable = await self._exchange(conn, path, body, headers)
        except TimeoutError:
            outcome = Outcome(status=None, body=None, error="timeout")
        except _Failed as exc:
            outcome = Outcome(status=None, body=None, error=exc.kind)
        else:
            if reusable:
                self.idle[(addresses[0], port)] = conn
                conn = None
            outcome = Outcome(status=status, body=kept, error=None)
        if conn is not None:
            conn.close()
        return outcome

    async def close(self) -> None:
        for conn in self.idle.values():
            conn.close()
        self.idle.clear()

    async def _connect(self, addresses: list[str], port: int, deadline: float) -> _Conn:
        loop = asyncio.get_running_loop()
        for i, address in enumerate(addresses):
            last = i == len(addresses) - 1
            share_s = (deadline - loop.time()) / (len(addresses) - i)
            try:
                async with asyncio.timeout(None if last else share_s):
                    reader, writer = await asyncio.open_connection(address, port)
            except TimeoutError:
                if last:
                    raise
                continue
            except OSError:
                continue
            self.opened += 1
            return _Conn(
                reader, writer, h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_CAP_BYTES)
            )
        raise _Failed("connect")

    async def _exchange(
        self, conn: _Conn, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, bool]:
        host, port = conn.writer.get_extra_info("peername")[:2]
        wire = [("Host", f"{host}:{port}"), ("Content-Length", str(len(body)))]
        wire += list(headers.items())
        out = conn.h11.send(h11.Request(method="POST", target=path, headers=wire))
        out += conn.h11.send(h11.Data(data=body)) + conn.h11.send(h11.EndOfMessage())
        conn.writer.write(out)
        status: int | None = None
        kept = bytearray()
        eof = False
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if "buffer too long" in str(exc):
                    raise _Failed("too_large") from None
                raise _Failed("disconnected" if eof else "protocol") from None
            if event is h11.NEED_DATA:
                try:
                    data = await conn.reader.read(READ_BYTES)
                except ConnectionError:
                    raise _Failed("disconnected") from None
                eof = not data
                conn.h11.receive_data(data)
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                if len(event.headers) > HEADER_COUNT_CAP:
                    raise _Failed("too_large")
                status = event.status_code
                if self.body_cap_bytes == 0:
                    return status, b"", False
            elif isinstance(event, h11.Data):
                assert status is not None
                kept += event.data[: self.body_cap_bytes - len(kept)]
                if len(kept) >= self.body_cap_bytes:
                    return status, bytes(kept), False  # the rest is not read: closed
            elif isinstance(event, h11.EndOfMessage):
                assert status is not None
                reusable = conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE
                if reusable:
                    with contextlib.suppress(h11.LocalProtocolError):
                        conn.h11.start_next_cycle()
                return status, bytes(kept), reusable
            elif isinstance(event, h11.ConnectionClosed):
                raise _Failed("disconnected")
