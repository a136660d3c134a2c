"""Destination URLs refused when they are made: addresses no delivery could reach.

The real guard is at connect time (``delivery.resolver``): it checks every address a name
resolves to, each time, and connects only to one it vetted. This check only spares a user a
subscription that would fail every attempt for days: an IP literal outside the public
internet, or a name whose every address is, is refused at creation and update, unless
``HOOKLINE_ALLOWED_NETWORKS`` allows it. A name that does not resolve (yet) is accepted:
the connect-time guard refuses it for as long as it does not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from hookline.core.addresses import IPAddress, IPNetwork, host_address, may_connect
from hookline.core.errors import ValidationFailed

#: ``resolve(host, port)``: the host's IP addresses, as strings
Resolve = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT_S = 2.0  # a slow resolver must not hold a create or update longer than this


async def loop_resolve(host: str, port: int) -> list[str]:
    """The system resolver, through the loop's ``getaddrinfo`` (off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DestinationCheck:
    """Refuses URLs that can only point outside what deliveries may reach."""

    def __init__(
        self,
        allowed: Sequence[IPNetwork],
        *,
        resolve: Resolve | None = None,
        timeout_s: float = RESOLVE_TIMEOUT_S,
    ) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolve or loop_resolve
        self._timeout_s = timeout_s

    async def check(self, url: str, field: str) -> None:
        """Raise ``ValidationFailed`` naming ``field`` if ``url`` (already validated as a
        URL) points only at non-public addresses."""
        parts = urlsplit(url)
        host = parts.hostname
        if host is None:
            return
        literal = host_address(host)
        if literal is not None:
            if not may_connect(literal, self._allowed):
                raise ValidationFailed(field, _REFUSED)
            return
        if _is_localhost(host):  # loopback by definition (RFC 6761), whatever DNS says
            if not any(may_connect(a, self._allowed) for a in _LOOPBACK):
                raise ValidationFailed(field, _REFUSED)
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            answers = await asyncio.wait_for(self._resolve(host, port), self._timeout_s)
        except (OSError, TimeoutError, UnicodeError):
            return  # no answer now: the connect-time guard decides at each attempt
        addresses = [a for a in (_address(x) for x in answers) if a is not None]
        if addresses and not any(may_connect(a, self._allowed) for a in addresses):
            raise ValidationFailed(field, _REFUSED)


_REFUSED = (
    "must point to a public address: this host is loopback, private or otherwise not "
    "reachable by deliveries (an operator may allow a network with HOOKLINE_ALLOWED_NETWORKS)"
)


_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


def _is_localhost(host: str) -> bool:
    name = host.lower().removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
