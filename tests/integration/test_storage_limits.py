"""Storage contract: subscriptions' limits shared by every worker (``take_limits``).

Each "holder" stands for one worker process; the clock is the ``now_ms`` argument.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hookline.core import ids
from hookline.core.ratelimit import burst
from hookline.storage.base import Storage
from hookline.storage.records import LimitGrant

from .conftest import NOW_MS

#: the in-memory storage implements these roles (conftest.py)
pytestmark = pytest.mark.memory

HOLD_MS = 10_000


async def _take(
    storage: Storage,
    sub_id: str,
    holder: str,
    *,
    wanted: int = 1,
    released: int = 0,
    cap: int | None = None,
    rate: float | None = None,
    at: int = NOW_MS,
    hold_ms: int = HOLD_MS,
) -> LimitGrant:
    return await storage.take_limits(
        sub_id,
        holder,
        wanted=wanted,
        released=released,
        max_in_flight=cap,
        rate_per_s=rate,
        now_ms=at,
        hold_ms=hold_ms,
    )


async def test_the_cap_holds_over_every_holder(storage: Storage) -> None:
    sub, a, b = ids.new_uuid(), "worker-a", "worker-b"
    first = await _take(storage, sub, a, wanted=3, cap=2)
    assert (first.granted, first.full, first.rate_wait_ms, first.held) == (2, True, None, 2)
    assert (await _take(storage, sub, b, cap=2)) == LimitGrant(granted=0, full=True)
    # a gives one back (alone): b may take it, and no more
    assert (await _take(storage, sub, a, wanted=0, released=1, cap=2)).held == 1
    assert (await _take(storage, sub, b, wanted=2, cap=2)) == LimitGrant(
        granted=1, full=True, held=1
    )
    # giving back and taking in one request: a's slot goes to a again
    assert (await _take(storage, sub, a, released=1, cap=2)) == LimitGrant(granted=1, held=1)
    assert (await _take(storage, sub, b, cap=2)).granted == 0
    # another subscription's cap is its own
    assert (await _take(storage, ids.new_uuid(), b, wanted=2, cap=2)).granted == 2


async def test_giving_back_more_than_held_frees_no_one_elses_slots(storage: Storage) -> None:
    sub = ids.new_uuid()
    assert (await _take(storage, sub, "a", wanted=0, released=5, cap=2)).granted == 0
    assert (await _take(storage, sub, "b", wanted=2, cap=2)).granted == 2
    assert (await _take(storage, sub, "a", wanted=0, released=5, cap=2)).granted == 0
    assert (await _take(storage, sub, "c", cap=2)).granted == 0


async def test_a_dead_holders_slots_come_back_when_its_hold_expires(storage: Storage) -> None:
    sub = ids.new_uuid()
    assert (await _take(storage, sub, "dead", wanted=2, cap=2, hold_ms=1000)).granted == 2
    assert (await _take(storage, sub, "live", cap=2, at=NOW_MS + 999)).granted == 0
    assert (await _take(storage, sub, "live", wanted=2, cap=2, at=NOW_MS + 1000)).granted == 2
    # the dead one's late word changes nothing of what the live one holds now
    late = await _take(storage, sub, "dead", wanted=0, released=2, cap=2, at=NOW_MS + 1001)
    assert late.granted == 0
    assert (await _take(storage, sub, "third", cap=2, at=NOW_MS + 1002)).granted == 0


async def test_taking_more_renews_every_slot_of_the_holder(storage: Storage) -> None:
    sub = ids.new_uuid()
    assert (await _take(storage, sub, "a", cap=3, hold_ms=1000)).granted == 1
    assert (await _take(storage, sub, "a", cap=3, hold_ms=1000, at=NOW_MS + 900)).granted == 1
    # past the first hold, within the second: both of a's slots still count
    assert (await _take(storage, sub, "b", wanted=3, cap=3, at=NOW_MS + 1500)).granted == 1


async def test_a_renewal_keeps_the_slots_and_says_how_many(storage: Storage) -> None:
    sub = ids.new_uuid()
    assert (await _take(storage, sub, "a", wanted=2, cap=3, hold_ms=1000)).held == 2
    renewed = await _take(storage, sub, "a", wanted=0, cap=3, hold_ms=1000, at=NOW_MS + 900)
    assert renewed == LimitGrant(granted=0, held=2)
    # past the first hold, within the renewed one: a's two still count
    assert (await _take(storage, sub, "b", wanted=3, cap=3, at=NOW_MS + 1500)).granted == 1
    # once a's hold has expired, a renewal brings nothing back: a is told it holds none
    late = await _take(storage, sub, "a", wanted=0, cap=3, hold_ms=1000, at=NOW_MS + 1900)
    assert late.held == 0
    assert (await _take(storage, sub, "c", wanted=3, cap=3, at=NOW_MS + 1901)).granted == 2


async def test_the_rate_is_shared_by_every_holder(storage: Storage) -> None:
    sub, rate = ids.new_uuid(), 5.0
    first = await _take(storage, sub, "a", wanted=10, rate=rate)
    assert first.granted == burst(rate)  # one second's worth after a quiet spell
    assert first.rate_wait_ms == 200 and not first.full
    refused = await _take(storage, sub, "b", rate=rate, at=NOW_MS + 199)
    assert refused.granted == 0 and refused.rate_wait_ms == 1
    assert (await _take(storage, sub, "b", wanted=3, rate=rate, at=NOW_MS + 200)).granted == 1
    assert (await _take(storage, sub, "c", rate=rate, at=NOW_MS + 200)).granted == 0


async def test_in_any_second_at_most_rate_and_burst_start(storage: Storage) -> None:
    """Three holders asking in turn every 10 ms for 3 s: the grants in any one-second window
    are at most the rate plus the burst, and the sustained pace is the rate."""
    sub, rate = ids.new_uuid(), 20.0
    starts: list[int] = []
    for step in range(300):
        at = NOW_MS + step * 10
        grant = await _take(storage, sub, f"w{step % 3}", wanted=4, rate=rate, at=at)
        starts += [at] * grant.granted
    most = max(sum(1 for s in starts if w <= s < w + 1000) for w in starts)
    assert most <= rate + burst(rate)
    later = [s for s in starts if s >= NOW_MS + 1000]
    assert len(later) <= 2 * rate + 1


async def test_both_limits_at_once(storage: Storage) -> None:
    sub = ids.new_uuid()
    assert (await _take(storage, sub, "a", wanted=3, cap=2, rate=1.0)) == LimitGrant(
        granted=1, rate_wait_ms=1000, full=True, held=1
    )
    # the cap would allow one more, the rate not yet; a refused start holds no slot
    assert (await _take(storage, sub, "b", cap=2, rate=1.0, at=NOW_MS + 500)).granted == 0
    assert (await _take(storage, sub, "b", cap=2, rate=1.0, at=NOW_MS + 1000)).granted == 1
    full = await _take(storage, sub, "c", cap=2, rate=1.0, at=NOW_MS + 5000)
    assert full == LimitGrant(granted=0, full=True)


async def test_concurrent_holders_never_exceed_the_cap(storage: Storage) -> None:
    sub = ids.new_uuid()

    async def one(n: int) -> Any:
        return (await _take(storage, sub, f"worker-{n}", wanted=2, cap=3)).granted

    granted = await asyncio.gather(*(one(n) for n in range(12)))
    assert sum(granted) == 3
