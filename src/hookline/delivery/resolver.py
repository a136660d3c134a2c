"""An aiohttp resolver that only returns addresses deliveries may connect to.

The vetted address is the one aiohttp connects to, so a DNS answer cannot change between
the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from hookline.core.addresses import IPNetwork, may_connect


class BlockedAddress(OSError):
    """Every address of a host is outside what deliveries may reach."""


class GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Sequence[IPNetwork], inner: AbstractResolver | None = None) -> None:
        self._allowed = tuple(allowed)
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        ok = [r for r in results if may_connect(ipaddress.ip_address(r["host"]), self._allowed)]
        if not ok:
            raise BlockedAddress(f"{host} resolves only to non-public addresses; refused")
        return ok

    async def close(self) -> None:
        await self._inner.close()


def check_literal(host: str, allowed: Sequence[IPNetwork]) -> None:
    """aiohttp skips the resolver for IP literals, so those are checked here."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    if not may_connect(ip, allowed):
        raise BlockedAddress(f"{host} is not a public address; refused")
