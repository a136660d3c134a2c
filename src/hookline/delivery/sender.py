"""The HTTP sender: one attempt through the pooled HTTP/1.1 client, bounded in time and body.

Network trouble is a result, never an exception: the dispatcher records whatever happened.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping, Sequence

from hookline.core.addresses import IPNetwork
from hookline.core.outcome import SendResult
from hookline.delivery.http1 import ConnectError, ConnectionPool
from hookline.delivery.request import RequestError
from hookline.delivery.resolver import BlockedAddress, GuardedResolver, Resolve


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
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float | None = None
    ) -> SendResult:
        """One attempt. Never raises for network trouble: that is a result too."""
        assert self._pool is not None, "Sender.start() first"
        started = time.monotonic()
        limit_s = self._timeout_s if timeout_s is None else timeout_s
        try:
            response = await self._pool.post(url, body, headers, timeout_s=limit_s)
        except BlockedAddress as exc:
            return _failed(str(exc), started)
        except TimeoutError:
            return _failed(f"timed out after {limit_s:g} s", started)
        except ConnectError as exc:
            return _failed(f"connection failed: {exc}", started)
        except (RequestError, OSError) as exc:
            return _failed(f"{type(exc).__name__}: {exc}", started)
        return SendResult(
            status=response.status,
            body=response.body.decode("utf-8", errors="replace"),
            error=None,
            duration_ms=_elapsed_ms(started),
            retry_after=response.retry_after,
        )


def _failed(error: str, started: float) -> SendResult:
    return SendResult(status=None, body=None, error=error, duration_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
