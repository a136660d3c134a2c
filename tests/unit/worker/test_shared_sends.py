"""A direct send to a subscription with its own limits takes one of them in the database
several processes share, as a worker's attempt does (services/send_limits.shared_slot); the
in-memory storage stands in for it, told it is shared."""

from __future__ import annotations

import pytest

from hookline.core.errors import TooManyRequests
from hookline.core.models import Subscription
from hookline.services.send_limits import shared_slot
from hookline.storage.memory import MemoryStorage

from .kit import START_MS, Clock

TIMEOUT_S = 10


def _sub(**limits: float) -> Subscription:
    return Subscription(
        id="sub_1",
        organization_id="org_1",
        url="https://hooks.example.com/a",
        event_types=("message.delivered",),
        **limits,  # type: ignore[arg-type]
    )


def _shared() -> MemoryStorage:
    storage = MemoryStorage()
    storage.several_workers = True  # as PostgreSQL's
    return storage


async def _worker_takes(storage: MemoryStorage, sub: Subscription, wanted: int) -> int:
    grant = await storage.take_limits(
        sub.id,
        "worker_1",
        wanted=wanted,
        released=0 if wanted else 1,
        max_in_flight=sub.max_in_flight,
        rate_per_s=sub.rate_limit_per_second,
        now_ms=START_MS,
        hold_ms=15_000,
    )
    return grant.granted


async def test_a_send_and_a_workers_attempt_share_one_cap() -> None:
    storage, clock, sub = _shared(), Clock(), _sub(max_in_flight=1)
    assert await _worker_takes(storage, sub, 1) == 1
    with pytest.raises(TooManyRequests) as refused:
        async with shared_slot(storage, clock, sub, TIMEOUT_S):
            pytest.fail("sent beside the worker's attempt")
    assert "every worker" in refused.value.message
    assert refused.value.retry_after_s == TIMEOUT_S
    await _worker_takes(storage, sub, 0)  # its attempt ended: the slot goes back

    async with shared_slot(storage, clock, sub, TIMEOUT_S):
        assert await _worker_takes(storage, sub, 1) == 0  # the send holds it now
    assert await _worker_takes(storage, sub, 1) == 1  # and gave it back


async def test_a_send_takes_a_turn_of_the_rate() -> None:
    storage, clock, sub = _shared(), Clock(), _sub(rate_limit_per_second=1.0)
    async with shared_slot(storage, clock, sub, TIMEOUT_S):
        pass
    with pytest.raises(TooManyRequests) as refused:
        async with shared_slot(storage, clock, sub, TIMEOUT_S):
            pytest.fail("sent past the rate")
    assert "rate limit" in refused.value.message
    assert refused.value.retry_after_s == 1
    clock.advance(1_000)
    async with shared_slot(storage, clock, sub, TIMEOUT_S):
        pass


async def test_nothing_is_asked_of_a_database_one_process_works_or_without_limits() -> None:
    clock = Clock()
    alone = MemoryStorage()
    one = _sub(max_in_flight=1)
    async with shared_slot(alone, clock, one, TIMEOUT_S), shared_slot(alone, clock, one, TIMEOUT_S):
        pass  # two at once: the process's own count bounds it (SendLimits.slot)
    shared = _shared()
    async with shared_slot(shared, clock, _sub(), TIMEOUT_S):
        assert await _worker_takes(shared, _sub(max_in_flight=1), 1) == 1
