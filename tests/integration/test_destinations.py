"""Destination URLs checked when they are made: literals, names, and a resolver's answers.

The resolver stands in for DNS, which is outside Hookline (only loopback is reachable here);
the real system resolver is exercised with ``localhost`` and literals.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from hookline.core.errors import ValidationFailed
from hookline.services.destinations import DestinationCheck

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def answering(*addresses: str) -> DestinationCheck:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return DestinationCheck([], resolve=resolve)


async def test_a_name_with_only_private_addresses_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        await answering("10.0.0.1", "fd00::1", "::ffff:192.168.0.1").check(
            "https://hooks.corp/x", "webhook_url"
        )
    assert caught.value.field == "webhook_url"


async def test_a_name_with_one_public_address_is_accepted() -> None:
    await answering("10.0.0.1", "93.184.216.34").check("https://hooks.example.com/x", "url")


async def test_a_name_that_does_not_resolve_is_accepted() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    await DestinationCheck([], resolve=resolve).check("https://nowhere.invalid/x", "url")


async def test_a_slow_resolver_is_bounded_and_the_name_accepted() -> None:
    asked = asyncio.Event()

    async def resolve(host: str, port: int) -> list[str]:
        asked.set()
        await asyncio.Event().wait()  # never answers
        return []

    check = DestinationCheck([], resolve=resolve, timeout_s=0.2)
    # the check gives up on the resolver (a deadline here, should it not: it never answers)
    await asyncio.wait_for(check.check("https://slow.example.com/x", "url"), 30)
    assert asked.is_set()


async def test_the_system_resolver_finds_localhost_loopback() -> None:
    refusing, allowing = DestinationCheck([]), DestinationCheck(LOOPBACK)
    for url in ("https://localhost:8443/x", "https://127.0.0.1/x", "https://2130706433/x"):
        with pytest.raises(ValidationFailed):
            await refusing.check(url, "url")
        await allowing.check(url, "url")
    with pytest.raises(ValidationFailed):  # ::1 is not inside 127.0.0.0/8
        await allowing.check("https://[::1]/x", "url")
