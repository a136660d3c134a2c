"""The SSRF guard: resolve a host and keep only the addresses deliveries may connect to.

The HTTP client connects only to an address returned here, so a DNS answer cannot change between
the check and the connection. IP literals skip DNS but are checked all the same.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from hookline.core.addresses import IPAddress, IPNetwork, host_address, may_connect

log = logging.getLogger("hookline.worker")

#: ``resolve(host, port)``: the IP addresses of ``host``, as strings, best first
Resolve = Callable[[str, int], Awaitable[list[str]]]

DNS_CACHE_S = 60.0  # a vetted answer is reused this long (as aiohttp's ttl_dns_cache did)
DNS_CACHE_ENTRIES = 10_000  # past this many hosts the cache starts over, bounding its memory


#: what an attempt's log says of a host it may not reach, whatever the reason: an agent that
#: reads its delivery log must not learn which internal names resolve (the reason is logged
#: at debug level, which the API never shows)
NOT_ALLOWED = "destination not allowed"


class BlockedAddress(Exception):
    """The host does not resolve, or every address of it is outside what deliveries may
    reach; the message is always ``NOT_ALLOWED``."""

    def __init__(self) -> None:
        super().__init__(NOT_ALLOWED)


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo`` in the loop's thread pool)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # one entry per address: getaddrinfo repeats an address for every protocol it knows
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedResolver:
    """Resolves through ``resolve`` and returns only addresses ``may_connect`` accepts."""

    def __init__(self, allowed: Sequence[IPNetwork], resolve: Resolve | None = None) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolve or system_resolve
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def addresses(self, host: str, port: int) -> list[str]:
        """Vetted addresses of ``host``, canonical strings; raises ``BlockedAddress`` if none."""
        literal = host_address(host)  # the decimal and hex forms too, as creation reads them
        if literal is not None:
            if not may_connect(literal, self._allowed):
                log.debug("refused %s: not a public address", host)
                raise BlockedAddress
            return [str(literal)]
        key = (host, port)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        # an answer that is not an IP address (a broken resolver) is refused like a private one
        try:
            resolved = await self._resolve(host, port)
        except OSError as exc:  # socket.gaierror: no such name, or no answer
            log.debug("refused %s: does not resolve (%s)", host, exc)
            raise BlockedAddress from exc
        answers = [_ip_literal(a) for a in resolved]
        vetted = [str(ip) for ip in answers if ip is not None and may_connect(ip, self._allowed)]
        if not vetted:
            log.debug("refused %s: resolves only to non-public addresses", host)
            raise BlockedAddress
        if len(self._cache) >= DNS_CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = (now + DNS_CACHE_S, vetted)
        return vetted


def _ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address (brackets allowed), or None when it is a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
