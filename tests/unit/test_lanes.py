"""A worker's per-subscription lanes: caps, queue depth, rates and lease safety (no I/O)."""

from __future__ import annotations

from typing import Any

from hookline.core.models import ClaimedDelivery, Delivery, Event, Subscription
from hookline.delivery.lanes import FAST_DEPTH, Held, Lane
from hookline.delivery.shared_limits import Shared

NOW = 1_000_000
HORIZON_MS = 15_000
NEEDED_MS = 15_000


def sub(**kw: Any) -> Subscription:
    return Subscription(
        id="sub_1", organization_id="org_1", url="https://x.example.com", event_types=("a",), **kw
    )


def held(n: int, lease_until: int = NOW + 30_000) -> Held:
    event = Event(
        id=f"evt_{n}", organization_id="org_1", type="a", data={}, occurred_at_ms=0, created_at_ms=0
    )
    delivery = Delivery(
        id=f"d_{n}", organization_id="org_1", event_id=event.id, subscription_id="sub_1",
        state="delivering", attempts=0, next_attempt_at_ms=0, first_attempt_at_ms=None,
        last_attempt_at_ms=None, last_status=None, last_error=None, created_at_ms=0,
        updated_at_ms=0,
    )  # fmt: skip
    return Held(
        ClaimedDelivery(delivery=delivery, event=event, subscription=sub(), lease_token="t"),
        lease_until,
    )


def test_cap_bounds_what_starts() -> None:
    lane = Lane(subscription=sub(), cap=2)
    lane.queue.extend(held(i) for i in range(5))
    started = [lane.next_startable(NOW, NEEDED_MS) for _ in range(3)]
    assert [h.claimed.delivery.id for h in started if h] == ["d_0", "d_1"]
    assert started[2] is None and lane.busy == 2 and len(lane.queue) == 3
    lane.attempt_ended(10)
    assert lane.busy == 1
    assert lane.next_startable(NOW, NEEDED_MS) is not None


def test_queue_depth_follows_the_endpoints_speed() -> None:
    lane = Lane(subscription=sub(), cap=4)
    assert lane.queue_limit(HORIZON_MS) == 4, "unknown: one wave"
    lane.busy = 1
    lane.attempt_ended(20)
    assert lane.queue_limit(HORIZON_MS) == 4 * FAST_DEPTH, "fast: several waves"
    for _ in range(30):
        lane.busy = 1
        lane.attempt_ended(3_000)
    assert lane.queue_limit(HORIZON_MS) == 4, "slow again: back to one wave"


def test_a_delivery_whose_lease_would_lapse_is_handed_out_unstarted() -> None:
    lane = Lane(subscription=sub(), cap=4)
    lane.queue.append(held(0, lease_until=NOW + NEEDED_MS - 1))
    lane.queue.append(held(1))
    late = lane.next_startable(NOW, NEEDED_MS)
    assert late is not None and late.lease_until_ms - NOW < NEEDED_MS
    assert lane.busy == 0, "not counted as under way: the caller gives it back"
    fresh = lane.next_startable(NOW, NEEDED_MS)
    assert fresh is not None and fresh.claimed.delivery.id == "d_1" and lane.busy == 1


def test_rate_limited_lane_paces_and_says_until_when() -> None:
    lane = Lane(subscription=sub(rate_limit_per_second=2), cap=10)
    assert lane.queue_limit(HORIZON_MS) == 10
    assert Lane(subscription=sub(rate_limit_per_second=0.1), cap=10).queue_limit(HORIZON_MS) == 1
    lane.queue.extend(held(i) for i in range(4))
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    assert lane.next_startable(NOW, NEEDED_MS) is None
    assert lane.limited_until_ms == NOW + 500
    assert not lane.wants_claims(NOW, HORIZON_MS)
    assert lane.next_startable(NOW + 500, NEEDED_MS) is not None


def test_hot_lanes_take_no_general_claims_and_idle_lanes_are_forgettable() -> None:
    lane = Lane(subscription=sub(), cap=2)
    assert lane.wants_claims(NOW, HORIZON_MS) and lane.is_idle(NOW)
    lane.hot = True
    assert not lane.wants_claims(NOW, HORIZON_MS)
    lane.hot = False
    lane.queue.append(held(0))
    assert not lane.is_idle(NOW)


def test_a_lane_with_a_shared_rate_starts_only_on_the_databases_permits() -> None:
    lane = Lane(subscription=sub(max_in_flight=3, rate_limit_per_second=1000), cap=3)
    lane.shared = Shared(capped=True)
    lane.queue.extend(held(i) for i in range(4))
    assert lane.free_slots(NOW) == 0, "no handoff: it would wait for a permit anyway"
    assert lane.next_startable(NOW, NEEDED_MS) is None, "no permit yet"
    lane.shared.permits = 2
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    assert lane.next_startable(NOW, NEEDED_MS) is None and lane.busy == 2
    assert lane.tat_ms is None, "the rate is the database's, not the lane's"
    lane.attempt_ended(10)
    assert lane.shared.released == 1, "its slot goes back with the next request"
    assert not lane.is_idle(NOW)


def test_a_rate_only_shared_lane_has_no_slots_to_give_back() -> None:
    lane = Lane(subscription=sub(rate_limit_per_second=5), cap=16)
    lane.shared = Shared(permits=1)
    lane.queue.append(held(0))
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    lane.attempt_ended(10)
    assert lane.shared.released == 0 and lane.is_idle(NOW)


def test_a_lane_with_a_shared_cap_alone_keeps_its_slots_while_its_hold_lasts() -> None:
    lane = Lane(subscription=sub(max_in_flight=2), cap=2)
    lane.shared = Shared(capped=True, keeps_slots=True, slots=1, start_until_ms=NOW + 100)
    lane.queue.extend(held(i) for i in range(4))
    assert lane.next_startable(NOW, NEEDED_MS) is not None
    assert lane.next_startable(NOW, NEEDED_MS) is None, "one slot held, one attempt"
    lane.attempt_ended(10)
    assert lane.shared.released == 0, "kept for the next attempt"
    assert lane.next_startable(NOW + 99, NEEDED_MS) is not None
    lane.attempt_ended(10)
    assert lane.next_startable(NOW + 100, NEEDED_MS) is None, "its hold is due for renewal"
    assert not lane.is_idle(NOW + 100), "it still holds a slot to give back"
