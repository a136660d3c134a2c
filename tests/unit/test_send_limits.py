"""Bounds on test sends, replays and incoming calls: per key, per organization, per process."""

from __future__ import annotations

import contextlib

import pytest

from hookline.core.errors import TooManyRequests
from hookline.services.send_limits import SendLimits, bounds


def test_bounds_of_a_worker_of_256() -> None:
    b = bounds(256, 10.0)
    assert (b.total, b.per_caller, b.retry_after_s) == (64, 16, 10)
    assert bounds(256, 2.5).retry_after_s == 3  # rounded up: by then the slot is free
    assert bounds(1, 0.1) == bounds(1, 1.0)  # never zero


def test_a_subscription_gets_its_cap_and_the_excess_is_refused_at_once() -> None:
    limits = SendLimits(bounds(256, 10.0))
    with contextlib.ExitStack() as held:
        for _ in range(4):
            held.enter_context(limits.slot("org_a", "sub:1", 4, what="this subscription"))
        with pytest.raises(TooManyRequests) as refused:
            held.enter_context(limits.slot("org_a", "sub:1", 4, what="this subscription"))
        assert "4 sends to this subscription" in refused.value.message
        assert refused.value.retry_after_s == 10
        # another subscription of the same organization still may
        with limits.slot("org_a", "sub:2", 4, what="this subscription"):
            assert limits.in_flight == 5
    assert limits.in_flight == 0
    with limits.slot("org_a", "sub:1", 4, what="this subscription"):
        pass  # freed when the block ended


def test_one_caller_cannot_take_the_whole_process() -> None:
    limits = SendLimits(bounds(256, 10.0))
    with contextlib.ExitStack() as held:
        for i in range(16):
            held.enter_context(limits.slot("org_a", f"sub:{i}", 16, what="it"))
        with pytest.raises(TooManyRequests, match="of this caller"):
            limits.slot("org_a", "sub:99", 16, what="it").__enter__()
        # the other tenants keep the rest
        for i in range(48):
            held.enter_context(limits.slot(f"org_{i}", f"sub:x{i}", 16, what="it"))
        with pytest.raises(TooManyRequests, match="this server"):
            limits.slot("org_new", "sub:y", 16, what="it").__enter__()


def test_a_failing_send_frees_its_place() -> None:
    limits = SendLimits(bounds(4, 1.0))
    with pytest.raises(RuntimeError), limits.slot("org_a", "k", 1, what="it"):
        raise RuntimeError("the send failed")
    assert limits.in_flight == 0
    with limits.slot("org_a", "k", 1, what="it"):
        assert limits.in_flight == 1


class Worker:
    """A worker's attempts under way per subscription, and the sends it heard end."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.ended: list[str] = []

    def attempts_of(self, subscription_id: str) -> int:
        return self.attempts.get(subscription_id, 0)

    def send_ended(self, subscription_id: str) -> None:
        self.ended.append(subscription_id)


def test_a_subscriptions_sends_and_its_deliveries_share_its_cap() -> None:
    limits = SendLimits(bounds(256, 10.0))
    worker = Worker()
    limits.share_with(worker)
    worker.attempts["s1"] = 3  # three deliveries under way
    with limits.slot("org_a", "subscription:s1", 4, what="it", subscription_id="s1"):
        assert limits.to_subscription == {"s1": 1}  # what the worker's lanes count
        with pytest.raises(TooManyRequests, match="4 sends to it"):
            limits.slot("org_a", "subscription:s1", 4, what="it", subscription_id="s1").__enter__()
    assert limits.to_subscription == {}
    assert worker.ended == ["s1"]  # the worker may start one more
    # without a worker (an API-only process), only the sends count
    limits.share_with(None)
    with limits.slot("org_a", "subscription:s1", 1, what="it", subscription_id="s1"):
        pass
