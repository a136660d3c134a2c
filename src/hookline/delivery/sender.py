"""The HTTP sender: one pooled aiohttp session, no redirects, bounded time and body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from hookline.core.addresses import IPNetwork
from hookline.core.outcome import SendResult
from hookline.delivery.resolver import BlockedAddress, GuardedResolver, check_literal

KEEPALIVE_S = 30  # idle pooled connections are closed after this


class Sender:
    """POSTs bodies. The resolver is pluggable; by default it is the SSRF guard."""

    def __init__(
        self,
        *,
        timeout_s: float,
        body_cap_bytes: int,
        allowed_networks: Sequence[IPNetwork],
        max_connections: int,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cap = body_cap_bytes
        self._allowed = tuple(allowed_networks)
        self._max_connections = max_connections
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            resolver=self._resolver or GuardedResolver(self._allowed),
            keepalive_timeout=KEEPALIVE_S,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Accept-Encoding",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float | None = None
    ) -> SendResult:
        """One attempt. Never raises for network trouble: that is a result too."""
        assert self._session is not None, "Sender.start() first"
        started = time.monotonic()
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        try:
            check_literal(urlsplit(url).hostname or "", self._allowed)
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False, timeout=timeout
            ) as resp:
                raw = await _read_capped(resp.content, self._cap)
                return SendResult(
                    status=resp.status,
                    body=raw.decode("utf-8", errors="replace"),
                    error=None,
                    duration_ms=_elapsed_ms(started),
                    retry_after=resp.headers.get("Retry-After"),
                )
        except BlockedAddress as exc:
            return SendResult(
                status=None, body=None, error=str(exc), duration_ms=_elapsed_ms(started)
            )
        except TimeoutError:
            return SendResult(
                status=None,
                body=None,
                error=f"timed out after {timeout.total:g} s",
                duration_ms=_elapsed_ms(started),
            )
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            msg = str(cause) if isinstance(cause, BlockedAddress) else f"connection failed: {exc}"
            return SendResult(status=None, body=None, error=msg, duration_ms=_elapsed_ms(started))
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            return SendResult(
                status=None,
                body=None,
                error=f"{type(exc).__name__}: {exc}",
                duration_ms=_elapsed_ms(started),
            )


async def _read_capped(stream: aiohttp.StreamReader, cap: int) -> bytes:
    """Up to ``cap`` bytes of the answer: one read may return less than is there."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await stream.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
