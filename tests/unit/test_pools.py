"""A worker's pools: which kind a lane is, what each kind may hold (no I/O)."""

from __future__ import annotations

import pytest

from hookline.delivery.pools import PROBE_CAP, Pools, classify, lane_cap, sizes

WORKER = sizes(256, 10_000)


def test_a_worker_of_256_keeps_a_quarter_for_slow_endpoints_and_half_for_unproven_ones() -> None:
    assert (WORKER.total, WORKER.probe, WORKER.slow, WORKER.per_slow_lane) == (256, 128, 64, 4)
    assert WORKER.slow_after_ms == 1000


def test_a_short_timeout_marks_slow_at_half_of_it() -> None:
    assert sizes(256, 1_000).slow_after_ms == 500


@pytest.mark.parametrize("max_in_flight", [1, 2, 3, 4, 7])
def test_a_tiny_worker_still_has_a_slot_in_each_pool(max_in_flight: int) -> None:
    s = sizes(max_in_flight, 10_000)
    assert s.probe >= 1 and s.slow >= 1 and s.per_slow_lane >= 1
    assert s.probe <= max_in_flight and s.slow <= max_in_flight


@pytest.mark.parametrize(
    ("average_ms", "last_ms", "kind"),
    [
        (None, None, "probe"),  # nothing known yet
        (5.0, 5.0, "fast"),
        (999.0, 999.0, "fast"),
        (404.0, 2_000.0, "slow"),  # one timeout after fast answers is enough
        (1_200.0, 5.0, "slow"),  # a fast answer does not undo a slow average at once
        (800.0, 5.0, "fast"),  # the average came down: back in the fast pool
    ],
)
def test_classify(average_ms: float | None, last_ms: float | None, kind: str) -> None:
    assert classify(average_ms, last_ms, WORKER.slow_after_ms) == kind


def test_lane_caps() -> None:
    assert lane_cap("fast", 16, WORKER) == 16
    assert lane_cap("fast", 1_000, WORKER) == 256  # never more than the worker's own cap
    assert lane_cap("probe", 16, WORKER) == PROBE_CAP
    assert lane_cap("probe", 1, WORKER) == 1
    assert lane_cap("slow", 16, WORKER) == 4
    assert lane_cap("slow", 2, WORKER) == 2


def test_slow_lanes_cannot_take_the_fast_lanes_room() -> None:
    pools = Pools(WORKER)
    taken = 0
    while pools.room("slow"):
        pools.take("slow")
        taken += 1
    assert taken == 64
    while pools.room("probe"):
        pools.take("probe")
    assert pools.busy["probe"] == 128
    # whatever the slow and unproven endpoints hold, a quarter of the worker is left
    assert pools.room("fast") == 64
    for _ in range(64):
        pools.take("fast")
    assert pools.room("fast") == pools.room("slow") == pools.room("probe") == 0
    pools.give("slow")
    assert pools.room("fast") == 1 and pools.room("slow") == 1 and pools.room("probe") == 0


def test_fast_lanes_may_fill_the_worker_and_then_slow_ones_wait() -> None:
    pools = Pools(WORKER)
    for _ in range(256):
        pools.take("fast")
    assert pools.room("slow") == 0 and pools.room("probe") == 0
    pools.give("fast")
    assert pools.room("slow") == 1


def test_fifty_hanging_endpoints_hold_at_most_the_slow_pool() -> None:
    """The isolation case of issue 21: fifty endpoints that never answer, each capped at 16."""
    pools = Pools(WORKER)
    held = 0
    for _ in range(50):
        cap = lane_cap("slow", 16, WORKER)
        for _ in range(cap):
            if pools.room("slow"):
                pools.take("slow")
                held += 1
    assert held == 64
    assert pools.room("fast") == 256 - 64
