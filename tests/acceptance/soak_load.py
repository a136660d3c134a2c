"""A publishing load for the soak test: many publishers, each on its own kept-alive connection,
with idle gaps between bursts, counting every answer and every broken connection."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

EVENT_TYPE = "message.delivered"


@dataclass
class Tally:
    requests: int = 0
    #: events answered 202
    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: requests that got no answer, by what the client saw (a reset, a closed connection, ...)
    broken: Counter[str] = field(default_factory=Counter)
    #: connections each publisher opened (a closed idle one is replaced by a new one)
    connections: int = 0
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass(frozen=True)
class Gaps:
    """How long a publisher rests after a burst: usually a moment, sometimes long enough for a
    server's idle timeout to close the connection just as the client sends on it again."""

    burst_max: int = 50
    short_s: tuple[float, float] = (0.0, 0.3)
    long_s: tuple[float, float] = (4.0, 6.5)
    long_share: float = 0.1


async def publish_load(
    base: str,
    api_key: str,
    *,
    prefix: str,
    publishers: int,
    duration_s: float,
    gaps: Gaps = Gaps(),
    seed: int = 7,
) -> Tally:
    """``publishers`` clients publishing for ``duration_s``; nothing is sent again."""
    tally = Tally()
    deadline = time.monotonic() + duration_s
    started = time.monotonic()

    async def publisher(p: int) -> None:
        rnd = random.Random(seed * 1000 + p)
        # one connection per publisher, kept alive longer than any gap: the client never
        # drops it first, so only the server closes it
        connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=60)
        trace = aiohttp.TraceConfig()

        async def opened(*_: object) -> None:
            tally.connections += 1

        trace.on_connection_create_end.append(opened)
        async with aiohttp.ClientSession(
            base_url=base,
            connector=connector,
            headers={"X-API-Key": api_key},
            timeout=aiohttp.ClientTimeout(total=60),
            trace_configs=[trace],
        ) as session:
            n = 0
            while time.monotonic() < deadline:
                for _ in range(rnd.randint(1, gaps.burst_max)):
                    n += 1
                    await _publish_one(session, tally, f"evt_{prefix}_{p}_{n}", n)
                    if time.monotonic() >= deadline:
                        return
                low, high = gaps.long_s if rnd.random() < gaps.long_share else gaps.short_s
                await asyncio.sleep(min(rnd.uniform(low, high), deadline - time.monotonic()))

    await asyncio.gather(*(publisher(p) for p in range(publishers)))
    tally.seconds = time.monotonic() - started
    return tally


async def _publish_one(session: aiohttp.ClientSession, tally: Tally, event_id: str, n: int) -> None:
    body = {"id": event_id, "type": EVENT_TYPE, "data": {"n": n, "note": "soak " * 20}}
    tally.requests += 1
    try:
        async with session.post("/api/v1/events", json=body) as resp:
            await resp.read()
            tally.statuses[resp.status] += 1
            if resp.status == 202:
                tally.acknowledged.append(event_id)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        cause = exc.__cause__ or exc.__context__
        tally.broken[type(exc).__name__ + (f"/{type(cause).__name__}" if cause else "")] += 1
