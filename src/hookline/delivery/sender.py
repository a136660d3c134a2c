"""The HTTP sender: one attempt through the pooled HTTP/1.1 client, bounded in time and body.

Network trouble is a result, never an exception: the dispatcher records whatever happened.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence

from hookline.core.addresses import IPNetwork
from hookline.core.attempt_headers import received_headers
from hookline.core.outcome import SendResult
from hookline.delivery.http1 import ConnectionPool
from hookline.delivery.request import RequestError
from hookline.delivery.resolver import BlockedAddress, GuardedResolver, Resolve
from hookline.delivery.response import ConnectError, Response, ServerDisconnected


class Sender:
    """POSTs bodies to addresses the SSRF guard allows. ``resolve`` replaces DNS (tests)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        body_cap_bytes: int,
        allowed_networks: Sequence[IPNetwork],
        max_connections: int,
        resolve: Resolve | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._cap = body_cap_bytes
        self._max_connections = max_connections
        self._guard = GuardedResolver(allowed_networks, resolve)
        self._ssl_context = ssl_context
        self._pool: ConnectionPool | None = None

    async def start(self) -> None:
        self._pool = ConnectionPool(
            lookup=self._guard.addresses,
            max_connections=self._max_connections,
            body_cap_bytes=self._cap,
            ssl_context=self._ssl_context or ssl.create_default_context(),
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout_s: float | None = None,
        started: float | None = None,
    ) -> SendResult:
        """One attempt. Never raises for network trouble: that is a result too. ``started``
        (``time.monotonic()``): when the attempt began, if before this call; the time since
        counts against its timeout and its duration."""
        assert self._pool is not None, "Sender.start() first"
        started = time.monotonic() if started is None else started
        limit_s = self._timeout_s if timeout_s is None else timeout_s
        left_s = limit_s - (time.monotonic() - started)
        if left_s <= 0:
            return self._failed(TimeoutError(), started, limit_s)
        try:
            response = await self._pool.post(url, body, headers, timeout_s=left_s)
        except (BlockedAddress, RequestError, OSError) as exc:
            return self._failed(exc, started, limit_s)
        return _answered(response, started)

    def post_at_once(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> asyncio.Future[Response] | None:
        """An attempt begun without a task, on a keep-alive connection that is idle (see
        ``ConnectionPool.post_at_once``); None when there is none: then ``post``. Read the
        future, once done, with :meth:`result` (None: the connection had gone stale, the
        request went nowhere, and ``post`` is to send it)."""
        assert self._pool is not None, "Sender.start() first"
        return self._pool.post_at_once(url, body, headers, timeout_s=self._timeout_s)

    def result(self, answer: asyncio.Future[Response], started: float) -> SendResult | None:
        """What a done ``post_at_once`` came to; ``started`` is ``time.monotonic()`` then."""
        exc = answer.exception()
        if exc is None:
            return _answered(answer.result(), started)
        if isinstance(exc, ServerDisconnected) and exc.before_response:
            return None
        if isinstance(exc, BlockedAddress | RequestError | OSError):
            return self._failed(exc, started, self._timeout_s)
        raise exc

    @staticmethod
    def _failed(
        exc: BlockedAddress | RequestError | OSError, started: float, limit_s: float
    ) -> SendResult:
        if isinstance(exc, BlockedAddress):
            return _failed(str(exc), started)
        if isinstance(exc, TimeoutError):
            return _failed(f"timed out after {limit_s:g} s", started)
        if isinstance(exc, ConnectError):
            return _failed(f"connection failed: {exc}", started)
        return _failed(f"{type(exc).__name__}: {exc}", started)


def _answered(response: Response, started: float) -> SendResult:
    return SendResult(
        status=response.status,
        body=response.body.decode("utf-8", errors="replace"),
        error=None,
        duration_ms=_elapsed_ms(started),
        retry_after=response.retry_after,
        headers=received_headers(response.headers),
    )


def _failed(error: str, started: float) -> SendResult:
    return SendResult(status=None, body=None, error=error, duration_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
