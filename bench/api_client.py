"""A small aiohttp client of Hookline's API, and the events the harness publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp

from bench.hookline_proc import ADMIN_KEY

#: one distinct event type per subscription when each event must reach exactly one of them
TYPES = (
    "message.received",
    "message.sent",
    "message.forwarded",
    "message.delivered",
    "message.bounced",
    "message.failed",
    "message.read",
    "message.opened",
    "message.clicked",
    "text.received",
)


def event_data(n: int) -> dict[str, Any]:
    """The payload of every benchmark event (about 200 bytes of JSON once enveloped)."""
    return {
        "message_id": f"msg_{n:09d}",
        "mailbox": "bench@example.com",
        "recipient": "ada@example.com",
        "subject": "Your order has shipped",
        "size_bytes": 2048,
    }


def event(event_id: str, event_type: str, n: int) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "data": event_data(n)}


RETRIES = 3  # a publish is sent again at most this often after a connection reset


class ApiError(RuntimeError):
    pass


class Api:
    """Hookline's API with the admin key, over one pooled session."""

    def __init__(self, base: str, connections: int = 64) -> None:
        self.base = base + "/api/v1"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            headers={"X-API-Key": ADMIN_KEY},
            timeout=aiohttp.ClientTimeout(total=300),
        )
        #: publishes sent again after a connection reset (see ``_post``)
        self.retries = 0

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._session.close()

    async def _post(self, path: str, body: Any, want: int, *, idempotent: bool = False) -> Any:
        for attempt in range(RETRIES + 1):
            try:
                async with self._session.post(self.base + path, json=body) as resp:
                    payload = await resp.json(content_type=None)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                # a kept-alive connection the server closed as we reused it; publishing the
                # same event ids again is idempotent, so the request can be sent again
                if not idempotent or attempt == RETRIES:
                    raise
                self.retries += 1
                continue
            if resp.status != want:
                raise ApiError(f"POST {path} answered {resp.status}: {str(payload)[:300]}")
            return payload
        raise AssertionError("unreachable")

    async def create_subscription(self, url: str, event_types: Sequence[str]) -> dict[str, Any]:
        sub: dict[str, Any] = await self._post(
            "/webhooks/subscriptions", {"url": url, "event_types": list(event_types)}, 201
        )
        return sub

    async def create_subscriptions(
        self, specs: Sequence[tuple[str, Sequence[str]]], concurrency: int = 8
    ) -> list[dict[str, Any]]:
        """Many subscriptions, ``concurrency`` requests at a time, in the order given."""
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str, types: Sequence[str]) -> dict[str, Any]:
            async with gate:
                return await self.create_subscription(url, types)

        return list(await asyncio.gather(*(one(u, t) for u, t in specs)))

    async def publish(self, ev: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self._post("/events", ev, 202, idempotent=True)
        return out

    async def publish_batch(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"events": list(events)}
        out: dict[str, Any] = await self._post("/events/batch", body, 202, idempotent=True)
        published: list[dict[str, Any]] = out["events"]
        return published
